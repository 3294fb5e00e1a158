package org.vitfit.heads;

/**
 * The MLP's output layer and loss: softmax with cross-entropy for one label per example, independent sigmoids with
 * binary cross-entropy for label sets. Losses are example-weighted means, like PyTorch's CrossEntropyLoss with class
 * weights and BCEWithLogitsLoss (averaged over examples and labels).
 */
enum Objective {
    SOFTMAX_CROSS_ENTROPY,
    SIGMOID_BINARY_CROSS_ENTROPY;

    /**
     * Loss of a batch and, when {@code gradient} is not null, d loss / d logits written into it.
     *
     * @param logits  {@code [batch][k]}
     * @param targets {@code [batch][k]}: one-hot for softmax, 0/1 per label for sigmoid
     * @param weights per-example weights, or null for all ones
     */
    double lossAndGradient(float[] logits, float[] targets, float[] weights, int batch, int k, float[] gradient) {
        double weightSum = 0;
        for (int b = 0; b < batch; b++) {
            weightSum += weights == null ? 1 : weights[b];
        }
        double norm = this == SOFTMAX_CROSS_ENTROPY ? weightSum : weightSum * k;
        double loss = 0;
        double[] p = new double[k];
        for (int b = 0; b < batch; b++) {
            int row = b * k;
            double w = weights == null ? 1 : weights[b];
            if (this == SOFTMAX_CROSS_ENTROPY) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) {
                    max = Math.max(max, logits[row + j]);
                }
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    p[j] = Math.exp(logits[row + j] - max);
                    sum += p[j];
                }
                double logSum = Math.log(sum) + max;
                for (int j = 0; j < k; j++) {
                    double t = targets[row + j];
                    if (t != 0) {
                        loss -= w * t * (logits[row + j] - logSum);
                    }
                    if (gradient != null) {
                        gradient[row + j] = (float) (w * (p[j] / sum - t) / norm);
                    }
                }
            } else {
                for (int j = 0; j < k; j++) {
                    double z = logits[row + j];
                    double t = targets[row + j];
                    // -[t log s(z) + (1-t) log(1-s(z))] = softplus(z) - t z, stable for any sign of z
                    loss += w * (softplus(z) - t * z);
                    if (gradient != null) {
                        gradient[row + j] = (float) (w * (sigmoid(z) - t) / norm);
                    }
                }
            }
        }
        return loss / norm;
    }

    /** Turns logits into the probabilities the head reports, in place. */
    void probabilities(float[] logits, int batch, int k) {
        for (int b = 0; b < batch; b++) {
            int row = b * k;
            if (this == SOFTMAX_CROSS_ENTROPY) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) {
                    max = Math.max(max, logits[row + j]);
                }
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    sum += Math.exp(logits[row + j] - max);
                }
                for (int j = 0; j < k; j++) {
                    logits[row + j] = (float) (Math.exp(logits[row + j] - max) / sum);
                }
            } else {
                for (int j = 0; j < k; j++) {
                    logits[row + j] = (float) sigmoid(logits[row + j]);
                }
            }
        }
    }

    static double sigmoid(double z) {
        return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    }

    private static double softplus(double z) {
        return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    }
}
