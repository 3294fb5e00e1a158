package org.vitfit.heads;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A linear head built from given weights (fine-tuning, Spark) computes softmax(Wx + b) or sigmoid(Wx + b) exactly,
 * survives save/load, exports to the same ONNX scores, and is built without fitting anything: Tribuo logs nothing
 * (its linear trainer logs "Training SGD model with N examples" and per-epoch losses for every fit).
 */
class LinearHeadsTest {

    @TempDir
    Path tmp;

    @Test
    void multiClassAndMultiLabelHeadsComputeTheirFormulasWithoutFitting() throws Exception {
        List<LogRecord> logged = new ArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(r);
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger tribuo = Logger.getLogger("org.tribuo");
        tribuo.addHandler(capture);
        try {
            for (HeadTask task : HeadTask.values()) {
                check(task);
            }
        } finally {
            tribuo.removeHandler(capture);
        }
        assertEquals(List.of(), logged.stream().map(LogRecord::getMessage).toList(), "Tribuo logged while building");
    }

    private void check(HeadTask task) throws Exception {
        // labels deliberately not in sorted order: the head must keep each row with its label
        List<String> labels = List.of("zebra", "ant", "moth");
        int d = 6;
        Random r = new Random(3);
        float[][] w = new float[3][d];
        float[] b = new float[3];
        for (int j = 0; j < 3; j++) {
            for (int i = 0; i < d; i++) {
                w[j][i] = (float) r.nextGaussian();
            }
            b[j] = (float) r.nextGaussian();
        }
        boolean multi = task == HeadTask.MULTILABEL;
        Head head = LinearHeads.fromWeights(task, labels, w, b, Normalization.none(), multi ? Thresholds.fixed(3) : null,
                "abc", "test weights", Map.of("head", "linear"));
        head.save(tmp.resolve(task.name()));
        Head loaded = Head.load(tmp.resolve(task.name()));
        float[][] x = new float[4][d];
        for (float[] row : x) {
            for (int i = 0; i < d; i++) {
                row[i] = (float) r.nextGaussian();
            }
        }
        float[][] onnx = OnnxCheck.run(loaded.toOnnx().toByteArray(), Head.ONNX_INPUT, x);
        for (int n = 0; n < x.length; n++) {
            double[] z = new double[3];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < 3; j++) {
                z[j] = b[j];
                for (int i = 0; i < d; i++) {
                    z[j] += w[j][i] * x[n][i];
                }
                max = Math.max(max, z[j]);
            }
            double sum = 0;
            for (int j = 0; j < 3; j++) {
                sum += Math.exp(z[j] - max);
            }
            float[] scores = loaded.scores(x[n]);
            for (int j = 0; j < 3; j++) {
                double expected = multi ? 1 / (1 + Math.exp(-z[j])) : Math.exp(z[j] - max) / sum;
                int at = loaded.labels().indexOf(labels.get(j));
                assertEquals(expected, scores[at], 1e-5, task + " score of " + labels.get(j));
                assertEquals(expected, onnx[n][at], 1e-5, task + " ONNX score of " + labels.get(j));
            }
        }
        assertEquals(task, loaded.task());
        assertTrue(loaded.model().getProvenance().toString().contains("test weights"));
    }
}
