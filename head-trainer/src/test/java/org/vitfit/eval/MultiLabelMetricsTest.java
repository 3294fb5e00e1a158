package org.vitfit.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.LinearHeads;
import org.vitfit.heads.Normalization;
import org.vitfit.heads.Thresholds;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Every multi-label figure of a report against scikit-learn 1.2.1 on fixed scores (metrics.json, written by
 * make_fixtures.py): 60 rows x 6 labels, scores with ties, per-label thresholds, one label that never occurs.
 */
class MultiLabelMetricsTest {

    @Test
    void reportMatchesScikitLearn() throws Exception {
        JsonNode f;
        try (InputStream in = getClass().getResourceAsStream("/sklearn/metrics.json")) {
            f = new ObjectMapper().readTree(in);
        }
        int n = f.get("truth").size();
        int k = f.get("truth").get(0).size();
        List<String> names = new ArrayList<>();
        float[] thresholds = new float[k];
        float[][] weights = new float[k][1];
        for (int j = 0; j < k; j++) {
            names.add("label" + j);
            thresholds[j] = (float) f.get("thresholds").get(j).asDouble();
        }
        // The metrics only need the head's labels and thresholds: the scores are given.
        Head head = LinearHeads.fromWeights(HeadTask.MULTILABEL, names, weights, new float[k], Normalization.none(),
                new Thresholds(Thresholds.Mode.PER_LABEL, thresholds), null, "metric fixture", Map.of());
        List<List<String>> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<String> l = new ArrayList<>();
            for (int j = 0; j < k; j++) {
                if (f.get("truth").get(i).get(j).asInt() == 1) {
                    l.add("label" + j);
                }
            }
            labels.add(l);
        }
        EmbeddingSet set = new EmbeddingSet(new float[n], 1, labels, null, null, null, "fixture");
        float[] scores = new float[n * k];
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            rows[i] = i;
            for (int j = 0; j < k; j++) {
                // the head's own label order decides the columns
                scores[i * k + j] = (float) f.get("scores").get(i).get(names.indexOf(head.labels().get(j))).asDouble();
            }
        }
        MultiLabelReport r = (MultiLabelReport) HeadEvaluator.evaluateScores(head, set, rows, scores, "fixture");
        double tol = 1e-9;
        assertEquals(f.get("microRocAuc").asDouble(), r.microRocAuc(), tol);
        assertEquals(f.get("macroRocAuc").asDouble(), r.macroRocAuc(), tol);
        assertEquals(f.get("meanAveragePrecision").asDouble(), r.meanAveragePrecision(), tol);
        assertEquals(1, r.labelsWithoutPositive());
        assertEquals(f.get("microF1").asDouble(), r.microF1(), tol);
        assertEquals(f.get("macroF1").asDouble(), r.macroF1(), tol);
        assertEquals(f.get("microPrecision").asDouble(), r.microPrecision(), tol);
        assertEquals(f.get("microRecall").asDouble(), r.microRecall(), tol);
        for (LabelStats s : r.perLabel()) {
            int j = names.indexOf(s.label());
            assertEquals(thresholds[j], s.threshold(), 0.0);
            assertEquals(f.get("perLabelF1").get(j).asDouble(), s.f1(), tol, s.label());
            if (f.get("perLabelRocAuc").get(j).isNull()) {
                assertNull(s.rocAuc());
                assertNull(s.averagePrecision());
            } else {
                assertEquals(f.get("perLabelRocAuc").get(j).asDouble(), s.rocAuc(), tol, s.label());
                assertEquals(f.get("perLabelAveragePrecision").get(j).asDouble(), s.averagePrecision(), tol, s.label());
            }
        }
    }

    @Test
    void averagePrecisionByHand() {
        // ranked: 0.9 (pos), 0.8 (neg), 0.7 (pos): AP = 1/2 * 1 + 1/2 * 2/3
        assertEquals(0.5 + 1.0 / 3, AveragePrecision.binary(new float[] {0.9f, 0.8f, 0.7f},
                new boolean[] {true, false, true}), 1e-12);
        // a tie between a positive and a negative is one threshold: precision 1/2 at recall 1
        assertEquals(0.5, AveragePrecision.binary(new float[] {0.5f, 0.5f}, new boolean[] {true, false}), 1e-12);
        assertEquals(Double.NaN, AveragePrecision.binary(new float[] {0.5f}, new boolean[] {false}));
    }
}
