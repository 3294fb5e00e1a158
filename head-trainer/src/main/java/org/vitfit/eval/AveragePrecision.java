package org.vitfit.eval;

import java.util.Arrays;

/**
 * Average precision of a ranking, as scikit-learn's {@code average_precision_score} computes it (no interpolation):
 * {@code AP = sum_n (R_n - R_{n-1}) P_n} over the distinct score thresholds from the highest down, tied scores
 * forming one threshold. The mean over labels is the mAP that VOC- and COCO-style multi-label work reports.
 */
public final class AveragePrecision {

    private AveragePrecision() {
    }

    /** AP of {@code scores} against {@code truth}; NaN when there is no positive (scikit-learn returns 0 then). */
    public static double binary(float[] scores, boolean[] truth) {
        int n = scores.length;
        if (truth.length != n) {
            throw new IllegalArgumentException(n + " scores but " + truth.length + " truth values");
        }
        long positives = 0;
        for (boolean t : truth) {
            positives += t ? 1 : 0;
        }
        if (positives == 0) {
            return Double.NaN;
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(scores[b], scores[a]));
        double ap = 0;
        long tp = 0;
        long seen = 0;
        double lastRecall = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
                j++;
            }
            for (int t = i; t <= j; t++) {
                tp += truth[order[t]] ? 1 : 0;
            }
            seen += j - i + 1;
            double recall = tp / (double) positives;
            ap += (recall - lastRecall) * (tp / (double) seen);
            lastRecall = recall;
            i = j + 1;
        }
        return ap;
    }

    /** One column of a row-major {@code [n][k]} matrix. */
    static float[] column(float[] matrix, int k, int j) {
        float[] c = new float[matrix.length / k];
        for (int i = 0; i < c.length; i++) {
            c[i] = matrix[i * k + j];
        }
        return c;
    }

    static boolean[] column(boolean[] matrix, int k, int j) {
        boolean[] c = new boolean[matrix.length / k];
        for (int i = 0; i < c.length; i++) {
            c[i] = matrix[i * k + j];
        }
        return c;
    }
}
