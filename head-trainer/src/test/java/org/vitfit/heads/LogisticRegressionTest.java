package org.vitfit.heads;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.InputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The L-BFGS logistic regression reaches scikit-learn's solution of the same problem (logreg.json, written by
 * make_fixtures.py with LogisticRegression(tol=1e-10)): multinomial, with example weights, and one-vs-rest per label.
 */
class LogisticRegressionTest {

    static JsonNode fixture(String name) throws Exception {
        try (InputStream in = LogisticRegressionTest.class.getResourceAsStream("/sklearn/" + name)) {
            return new ObjectMapper().readTree(in);
        }
    }

    private static LogisticRegression.Data data(JsonNode f, boolean multiLabel, boolean weighted) {
        JsonNode xs = f.get("x");
        int n = xs.size();
        int d = xs.get(0).size();
        float[] x = new float[n * d];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < d; j++) {
                x[i * d + j] = (float) xs.get(i).get(j).asDouble();
            }
        }
        int k = 3;
        float[] y = new float[n * k];
        for (int i = 0; i < n; i++) {
            if (multiLabel) {
                for (int j = 0; j < k; j++) {
                    y[i * k + j] = f.get("multilabel_y").get(i).get(j).asInt();
                }
            } else {
                y[i * k + f.get("y").get(i).asInt()] = 1f;
            }
        }
        float[] s = null;
        if (weighted) {
            s = new float[n];
            for (int i = 0; i < n; i++) {
                s[i] = (float) f.get("sampleWeight").get(i).asDouble();
            }
        }
        return new LogisticRegression.Data(x, n, d, y, k, s,
                multiLabel ? LogisticRegression.Link.SIGMOID : LogisticRegression.Link.SOFTMAX);
    }

    private static double maxDiff(LogisticRegression.Fit fit, JsonNode expected, int k, int d, boolean centreBiases) {
        double[] p = fit.params();
        double diff = 0;
        double meanOurs = 0;
        double meanTheirs = 0;
        for (int c = 0; c < k; c++) {
            meanOurs += p[c * (d + 1) + d] / k;
            meanTheirs += expected.get("intercept").get(c).asDouble() / k;
        }
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                diff = Math.max(diff, Math.abs(p[c * (d + 1) + j] - expected.get("coef").get(c).get(j).asDouble()));
            }
            // a softmax is unchanged by a shift of all biases, so multinomial biases are compared centred
            double ours = p[c * (d + 1) + d] - (centreBiases ? meanOurs : 0);
            double theirs = expected.get("intercept").get(c).asDouble() - (centreBiases ? meanTheirs : 0);
            diff = Math.max(diff, Math.abs(ours - theirs));
        }
        return diff;
    }

    @Test
    void multinomialMatchesScikitLearn() throws Exception {
        JsonNode f = fixture("logreg.json");
        LogisticRegression.Data data = data(f, false, false);
        int[] all = Splits.range(data.n());
        for (String c : new String[] {"0.05", "1.0"}) {
            LogisticRegression.Fit fit = LogisticRegression.fit(data, all, Double.parseDouble(c), null);
            double diff = maxDiff(fit, f.get("multinomial_C" + c), 3, data.d(), true);
            assertTrue(diff < 2e-4, "C " + c + ": max |ours - scikit-learn| = " + diff + " (" + fit.status() + ")");
        }
        LogisticRegression.Data weighted = data(f, false, true);
        LogisticRegression.Fit fit = LogisticRegression.fit(weighted, all, 0.3, null);
        double diff = maxDiff(fit, f.get("multinomial_weighted_C0.3"), 3, data.d(), true);
        assertTrue(diff < 2e-4, "weighted: max |ours - scikit-learn| = " + diff);
    }

    @Test
    void sigmoidPerLabelMatchesOneVsRestScikitLearn() throws Exception {
        JsonNode f = fixture("logreg.json");
        LogisticRegression.Data data = data(f, true, false);
        LogisticRegression.Fit fit = LogisticRegression.fit(data, Splits.range(data.n()), 0.3, null);
        double diff = maxDiff(fit, f.get("ovr_C0.3"), 3, data.d(), false);
        assertTrue(diff < 2e-4, "max |ours - scikit-learn| = " + diff);
    }

    @Test
    void gradientMatchesFiniteDifferences() throws Exception {
        for (boolean multiLabel : new boolean[] {false, true}) {
            LogisticRegression.Data data = data(fixture("logreg.json"), multiLabel, true);
            int[] rows = Splits.range(data.n());
            double[] p = new double[data.parameters()];
            java.util.Random rng = new java.util.Random(3);
            for (int i = 0; i < p.length; i++) {
                p[i] = rng.nextGaussian() * 0.3;
            }
            double[] g = new double[p.length];
            LogisticRegression.lossAndGradient(data, rows, p, g);
            for (int i = 0; i < p.length; i++) {
                double h = 1e-5;
                double[] plus = p.clone();
                double[] minus = p.clone();
                plus[i] += h;
                minus[i] -= h;
                double numeric = (LogisticRegression.lossAndGradient(data, rows, plus, null)
                        - LogisticRegression.lossAndGradient(data, rows, minus, null)) / (2 * h);
                assertEquals(numeric, g[i], 1e-5 * Math.max(1, Math.abs(numeric)), "parameter " + i);
            }
        }
    }
}
