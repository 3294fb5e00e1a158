package org.vitfit.eval;

import java.util.Arrays;

/**
 * Area under the ROC curve by the rank statistic (Mann-Whitney U with average ranks for ties), which equals the
 * trapezoidal area scikit-learn's {@code roc_auc_score} computes. Tribuo's evaluators give per-label AUC for
 * multi-class models only, so micro-averaged AUC for multi-label heads is computed here.
 */
public final class RocAuc {

    private RocAuc() {
    }

    /** AUC of {@code scores} against {@code truth}; NaN when either class is absent. */
    public static double binary(float[] scores, boolean[] truth) {
        int n = scores.length;
        if (truth.length != n) {
            throw new IllegalArgumentException(n + " scores but " + truth.length + " truth values");
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(scores[a], scores[b]));
        double positiveRankSum = 0;
        long positives = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) {
                j++;
            }
            double averageRank = (i + j) / 2.0 + 1;
            for (int t = i; t <= j; t++) {
                if (truth[order[t]]) {
                    positiveRankSum += averageRank;
                    positives++;
                }
            }
            i = j + 1;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        return (positiveRankSum - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
    }

    /**
     * Micro-averaged AUC: every (example, label) pair of the {@code [n][k]} matrices is one binary decision, as in
     * scikit-learn's {@code roc_auc_score(y, s, average="micro")}.
     */
    public static double micro(float[] scores, boolean[] truth) {
        return binary(scores, truth);
    }
}
