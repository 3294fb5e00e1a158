package org.vitfit.heads;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Arrays;
import java.util.Locale;

/**
 * Multi-label decision thresholds: label {@code j} is predicted when its sigmoid score exceeds {@code values[j]}.
 *
 * @param mode   how the values were chosen
 * @param values one threshold per label, in the head's label order
 */
public record Thresholds(Mode mode, float[] values) {

    /** How thresholds are chosen. */
    public enum Mode {
        /** 0.5 for every label: the plain sigmoid decision. */
        FIXED,
        /** One value for all labels, maximising micro-F1 on the validation split. */
        GLOBAL,
        /** One value per label, each maximising that label's F1 on the validation split. */
        PER_LABEL;

        @JsonValue
        public String jsonName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        @JsonCreator
        public static Mode parse(String s) {
            return Mode.valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        }
    }

    /** Candidate thresholds searched when tuning: 0.01 .. 0.99 in steps of 0.01. */
    static final float[] GRID = grid();

    public static Thresholds fixed(int labels) {
        float[] v = new float[labels];
        Arrays.fill(v, 0.5f);
        return new Thresholds(Mode.FIXED, v);
    }

    /**
     * Chooses thresholds on validation scores. With no validation rows the result is {@link #fixed}.
     *
     * @param scores {@code [n][k]} sigmoid scores
     * @param truth  {@code [n][k]} true label membership
     */
    public static Thresholds tune(Mode mode, float[] scores, boolean[] truth, int n, int k) {
        if (mode == Mode.FIXED || n == 0) {
            return fixed(k);
        }
        float global = bestGlobal(scores, truth, n, k);
        float[] values = new float[k];
        Arrays.fill(values, global);
        if (mode == Mode.PER_LABEL) {
            for (int j = 0; j < k; j++) {
                boolean anyPositive = false;
                for (int i = 0; i < n && !anyPositive; i++) {
                    anyPositive = truth[i * k + j];
                }
                if (anyPositive) {
                    values[j] = bestForLabel(scores, truth, n, k, j);
                }
            }
        }
        return new Thresholds(mode, values);
    }

    private static float bestGlobal(float[] scores, boolean[] truth, int n, int k) {
        float best = 0.5f;
        double bestF1 = -1;
        for (float t : GRID) {
            long tp = 0;
            long fp = 0;
            long fn = 0;
            for (int i = 0; i < n * k; i++) {
                boolean p = scores[i] > t;
                if (p && truth[i]) {
                    tp++;
                } else if (p) {
                    fp++;
                } else if (truth[i]) {
                    fn++;
                }
            }
            double f1 = f1(tp, fp, fn);
            if (better(f1, t, bestF1, best)) {
                bestF1 = f1;
                best = t;
            }
        }
        return best;
    }

    private static float bestForLabel(float[] scores, boolean[] truth, int n, int k, int j) {
        float best = 0.5f;
        double bestF1 = -1;
        for (float t : GRID) {
            long tp = 0;
            long fp = 0;
            long fn = 0;
            for (int i = 0; i < n; i++) {
                boolean p = scores[i * k + j] > t;
                boolean y = truth[i * k + j];
                if (p && y) {
                    tp++;
                } else if (p) {
                    fp++;
                } else if (y) {
                    fn++;
                }
            }
            double f1 = f1(tp, fp, fn);
            if (better(f1, t, bestF1, best)) {
                bestF1 = f1;
                best = t;
            }
        }
        return best;
    }

    /** Higher F1 wins; among equal F1 the threshold nearer 0.5 wins, so flat regions do not drift to the extremes. */
    private static boolean better(double f1, float t, double bestF1, float best) {
        if (f1 > bestF1 + 1e-12) {
            return true;
        }
        return Math.abs(f1 - bestF1) <= 1e-12 && Math.abs(t - 0.5f) < Math.abs(best - 0.5f);
    }

    static double f1(long tp, long fp, long fn) {
        long denom = 2 * tp + fp + fn;
        return denom == 0 ? 0 : 2.0 * tp / denom;
    }

    private static float[] grid() {
        float[] g = new float[99];
        for (int i = 0; i < g.length; i++) {
            g[i] = (i + 1) / 100f;
        }
        return g;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Thresholds t && t.mode == mode && Arrays.equals(t.values, values);
    }

    @Override
    public int hashCode() {
        return 31 * mode.hashCode() + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return "Thresholds[" + mode.jsonName() + ", " + Arrays.toString(values) + "]";
    }
}
