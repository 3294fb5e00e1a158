package org.vitfit.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.VitClassifier;
import org.vitfit.convert.graph.OnnxGraph;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server never answers NaN: a classifier whose scores are not finite for an image gets a JSON 500 with code
 * {@code non_finite_output} and a message that says what to do, and stays up for the next request.
 */
class NonFiniteAnswerTest {

    @TempDir
    Path dir;

    /**
     * A bare ONNX classifier (with its description in the metadata, as {@code vitfit export} writes it) whose logits
     * are {@code log(mean pixel value) * [1, -1]}: finite for bright images, NaN for dark ones, whose normalised mean
     * is negative. Built with the converter's own graph builder.
     */
    static Path darkIsNaNClassifier(Path file) throws IOException {
        ClassifierDescriptor like;
        try (VitClassifier pets = VitClassifier.load(PetsClassifier.file())) {
            like = pets.descriptor();
        }
        int h = like.imageHeight();
        int w = like.imageWidth();
        OnnxGraph g = new OnnxGraph("dark_is_nan");
        String pixels = g.floatInput(ClassifierDescriptor.INPUT, "N", 3, h, w);
        String mean = g.op("ReduceMean", "mean", Map.of("axes", new long[] {1, 2, 3}, "keepdims", 1L), pixels);
        String column = g.op("Reshape", "column", mean, g.int64Initializer("column_shape", -1, 1));
        String log = g.op("Log", "log", column);
        String logits = g.op("MatMul", "logits", log, g.floatInitializer("weights", new float[] {1f, -1f}, 1, 2));
        g.floatOutput(logits, ClassifierDescriptor.OUTPUT_LOGITS, "N", 2);
        String probabilities = g.op("Softmax", "probabilities", Map.of("axis", 1L), logits);
        g.floatOutput(probabilities, ClassifierDescriptor.OUTPUT_PROBABILITIES, "N", 2);
        ClassifierDescriptor d = new ClassifierDescriptor(ClassifierDescriptor.FORMAT, ClassifierDescriptor.FORMAT_VERSION,
                ClassifierDescriptor.MULTICLASS, List.of("bright", "dim"), null, null, h, w, ClassifierDescriptor.INPUT,
                List.of(ClassifierDescriptor.OUTPUT_LOGITS, ClassifierDescriptor.OUTPUT_PROBABILITIES),
                like.preprocessing(), null, null);
        // The metadata an exported classifier carries, which the loader checks against the description.
        ObjectMapper json = new ObjectMapper();
        Map<String, String> metadata = Map.of(
                ClassifierDescriptor.META_FORMAT, ClassifierDescriptor.FORMAT + "/" + ClassifierDescriptor.FORMAT_VERSION,
                ClassifierDescriptor.META_TASK, d.task(),
                ClassifierDescriptor.META_LABELS, json.writeValueAsString(d.labels()),
                ClassifierDescriptor.META_PREPROCESSING, json.writeValueAsString(d.preprocessing()),
                ClassifierDescriptor.META_CLASSIFIER, d.toJson());
        Files.write(file, g.toModel("test", metadata).toByteArray());
        return file;
    }

    static byte[] png(Color color) throws IOException {
        BufferedImage img = new BufferedImage(64, 48, BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D gr = img.createGraphics();
        gr.setColor(color);
        gr.fillRect(0, 0, 64, 48);
        gr.dispose();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    @Test
    void nonFiniteScoresAreA500WithAMessageNeverANaN() throws Exception {
        try (VitClassifier classifier = VitClassifier.load(darkIsNaNClassifier(dir.resolve("dark-is-nan.onnx")));
             ClassifierServer server = ClassifierServer.start(classifier,
                     ClassifierServer.Options.defaults().withPort(0).withThreads(2))) {
            byte[] dark = png(Color.BLACK);
            try (RawHttp c = new RawHttp(server.port())) {
                RawHttp.Answer a = c.send(RawHttp.postHead("/predict", "image/png", dark.length)).send(dark).read();
                assertEquals(500, a.status(), new String(a.body()));
                assertEquals("non_finite_output", a.code());
                String message = a.json().path("error").path("message").asText();
                assertTrue(message.contains("non-finite score") && message.contains("re-export"), message);
                assertFalse(new String(a.body()).contains("\"score\""), "no scores at all");

                byte[] bright = png(Color.WHITE);
                RawHttp.Answer ok = c.send(RawHttp.postHead("/predict", "image/png", bright.length)).send(bright).read();
                assertEquals(200, ok.status(), "the server goes on: " + new String(ok.body()));
                assertEquals(0.5, ok.json().path("top").get(0).path("score").asDouble(), 1e-6, "log(1) = 0 for both");
            }
        }
    }
}
