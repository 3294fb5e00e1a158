package org.vitfit.classify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The figure export and serve show: test, else validation, else the cross-validation of a head without held-out rows. */
class ClassifierHeadlineTest {

    private static ClassifierDescriptor withMetrics(String json) throws Exception {
        JsonNode metrics = json == null ? null : new ObjectMapper().readTree(json);
        return new ClassifierDescriptor(ClassifierDescriptor.FORMAT, 1, ClassifierDescriptor.MULTICLASS, List.of("a", "b"),
                null, null, 224, 224, "pixel_values", List.of("logits"), null, metrics, null);
    }

    @Test
    void prefersTestThenValidationThenCrossValidation() throws Exception {
        ClassifierDescriptor.Headline h = withMetrics("""
                {"validation": {"accuracy": 0.8, "examples": 10}, "test": {"accuracy": 0.75, "examples": 20}}""")
                .headline();
        assertEquals(new ClassifierDescriptor.Headline("test", "accuracy", 0.75, 20), h);
        h = withMetrics("""
                {"crossValidation": {"microF1": 0.44, "examples": 40}}""").headline();
        assertEquals(new ClassifierDescriptor.Headline("crossValidation", "microF1", 0.44, 40), h);
    }

    @Test
    void noFigureWhenNoneRecordedOrNotFinite() throws Exception {
        assertNull(withMetrics(null).headline());
        assertNull(withMetrics("{\"test\": {\"accuracy\": null}}").headline());
    }
}
