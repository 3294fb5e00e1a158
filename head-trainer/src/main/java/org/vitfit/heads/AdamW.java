package org.vitfit.heads;

/**
 * AdamW (Loshchilov and Hutter, decoupled weight decay) exactly as {@code torch.optim.AdamW} computes it:
 * {@code p -= lr*wd*p}, then the bias-corrected Adam step {@code p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)}.
 * Decay applies only to the tensors flagged in {@code decay} (the MLP decays weights, not biases).
 */
final class AdamW {
    private final double learningRate;
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    private final double weightDecay;
    private final boolean[] decay;
    private final float[][] m;
    private final float[][] v;
    private int step;

    AdamW(float[][] parameters, boolean[] decay, double learningRate, double beta1, double beta2, double epsilon,
          double weightDecay) {
        this.learningRate = learningRate;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.weightDecay = weightDecay;
        this.decay = decay.clone();
        this.m = new float[parameters.length][];
        this.v = new float[parameters.length][];
        for (int i = 0; i < parameters.length; i++) {
            m[i] = new float[parameters[i].length];
            v[i] = new float[parameters[i].length];
        }
    }

    /** Applies one update to {@code parameters} in place. */
    void step(float[][] parameters, float[][] gradients) {
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
        float stepSize = (float) (learningRate / bc1);
        float shrink = (float) (1 - learningRate * weightDecay);
        float b1 = (float) beta1;
        float b2 = (float) beta2;
        float invBc2Sqrt = (float) (1 / bc2Sqrt);
        float eps = (float) epsilon;
        for (int t = 0; t < parameters.length; t++) {
            float[] p = parameters[t];
            float[] g = gradients[t];
            float[] mt = m[t];
            float[] vt = v[t];
            float s = decay[t] ? shrink : 1f;
            for (int i = 0; i < p.length; i++) {
                float gi = g[i];
                mt[i] = b1 * mt[i] + (1 - b1) * gi;
                vt[i] = b2 * vt[i] + (1 - b2) * gi * gi;
                float denom = (float) Math.sqrt(vt[i]) * invBc2Sqrt + eps;
                p[i] = p[i] * s - stepSize * mt[i] / denom;
            }
        }
    }
}
