package org.vitfit.finetune;

/**
 * Loss and score of logits over a whole split, accumulated batch by batch: mean loss per image, and accuracy
 * (multi-class: the top logit is the true class) or micro-F1 at logit 0, i.e. probability 0.5 (multi-label), from
 * the split's total true positives, false positives and false negatives, never an average of per-batch scores.
 */
final class SplitScore {

    private final int classes;
    private final boolean multiLabel;
    private double lossSum;
    private long count;
    private long correct;
    private long truePositives;
    private long falsePositives;
    private long falseNegatives;

    SplitScore(int classes, boolean multiLabel) {
        this.classes = classes;
        this.multiLabel = multiLabel;
    }

    /** Adds {@code n} rows; {@code batchLoss} is their mean loss as the graph computed it, or NaN to compute it here. */
    void add(float[] z, float[] t, int n, double batchLoss) {
        lossSum += (Double.isNaN(batchLoss) ? loss(z, t, n) : batchLoss) * n;
        count += n;
        for (int i = 0; i < n; i++) {
            if (multiLabel) {
                for (int c = 0; c < classes; c++) {
                    boolean predicted = z[i * classes + c] > 0;
                    boolean actual = t[i * classes + c] > 0.5f;
                    truePositives += predicted && actual ? 1 : 0;
                    falsePositives += predicted && !actual ? 1 : 0;
                    falseNegatives += !predicted && actual ? 1 : 0;
                }
            } else {
                int arg = 0;
                for (int c = 1; c < classes; c++) {
                    if (z[i * classes + c] > z[i * classes + arg]) {
                        arg = c;
                    }
                }
                correct += t[i * classes + arg] > 0.5f ? 1 : 0;
            }
        }
    }

    double loss() {
        return lossSum / count;
    }

    double score() {
        if (!multiLabel) {
            return correct / (double) count;
        }
        long denominator = 2 * truePositives + falsePositives + falseNegatives;
        return denominator == 0 ? 0 : 2.0 * truePositives / denominator;
    }

    /** Mean loss of {@code n} rows: softmax cross-entropy, or binary cross-entropy averaged over classes. */
    private double loss(float[] z, float[] t, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (multiLabel) {
                for (int c = 0; c < classes; c++) {
                    double x = z[i * classes + c];
                    sum += (Math.max(x, 0) - x * t[i * classes + c] + Math.log1p(Math.exp(-Math.abs(x)))) / classes;
                }
            } else {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, z[i * classes + c]);
                }
                double lse = 0;
                for (int c = 0; c < classes; c++) {
                    lse += Math.exp(z[i * classes + c] - max);
                }
                lse = max + Math.log(lse);
                for (int c = 0; c < classes; c++) {
                    sum -= t[i * classes + c] * (z[i * classes + c] - lse);
                }
            }
        }
        return sum / n;
    }
}
