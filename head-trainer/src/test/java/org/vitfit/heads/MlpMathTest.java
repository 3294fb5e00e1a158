package org.vitfit.heads;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The MLP's calculus and optimiser against finite differences and hand computation. */
class MlpMathTest {

    @Test
    void softmaxCrossEntropyMatchesHandComputation() {
        float[] logits = {1f, 2f, 3f};
        float[] target = {0f, 0f, 1f};
        float[] grad = new float[3];
        double loss = Objective.SOFTMAX_CROSS_ENTROPY.lossAndGradient(logits, target, null, 1, 3, grad);
        // -log(e^3 / (e^1 + e^2 + e^3))
        assertEquals(0.40760596444438, loss, 1e-9);
        // softmax - onehot = (0.09003057, 0.24472847, 0.66524096 - 1)
        assertEquals(0.09003057f, grad[0], 1e-7);
        assertEquals(0.24472847f, grad[1], 1e-7);
        assertEquals(-0.33475904f, grad[2], 1e-7);
    }

    @Test
    void binaryCrossEntropyMatchesHandComputation() {
        float[] logits = {0.3f, -2f};
        float[] target = {1f, 0f};
        float[] grad = new float[2];
        double loss = Objective.SIGMOID_BINARY_CROSS_ENTROPY.lossAndGradient(logits, target, null, 1, 2, grad);
        // mean of log(1+e^-0.3) and log(1+e^-2)
        assertEquals((0.5543552444685 + 0.1269280110429725) / 2, loss, 1e-7);
        assertEquals((0.574442516811659 - 1) / 2, grad[0], 1e-7);
        assertEquals(0.11920292202211755 / 2, grad[1], 1e-7);
    }

    @Test
    void geluMatchesExactErfFormula() {
        // 0.5 x (1 + erf(x / sqrt 2)) with Python's math.erf (the exact GELU that torch's gelu(approximate="none") is)
        float[] x = {-2f, -0.5f, 0.3f, 1f, 3f};
        float[] expected = {-0.04550026389635842f, -0.15426876936299344f, 0.18537342665668577f, 0.8413447460685429f,
                2.99595030590511f};
        for (int i = 0; i < x.length; i++) {
            assertEquals(expected[i], Activation.GELU.apply(x[i]), 2e-7, "gelu(" + x[i] + ")");
        }
    }

    @Test
    void backwardMatchesFiniteDifferencesGeluTwoHiddenLayers() {
        checkGradients(Activation.GELU, new int[] {5, 7, 6, 4}, Objective.SOFTMAX_CROSS_ENTROPY);
    }

    @Test
    void backwardMatchesFiniteDifferencesReluMultiLabel() {
        checkGradients(Activation.RELU, new int[] {6, 8, 3}, Objective.SIGMOID_BINARY_CROSS_ENTROPY);
    }

    private static void checkGradients(Activation act, int[] sizes, Objective objective) {
        SplittableRandom rng = new SplittableRandom(42);
        MlpNetwork net = MlpNetwork.initialise(sizes, act, rng);
        int batch = 9;
        int d = sizes[0];
        int k = sizes[sizes.length - 1];
        float[] x = new float[batch * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextGaussian();
        }
        float[] y = new float[batch * k];
        float[] w = new float[batch];
        for (int b = 0; b < batch; b++) {
            w[b] = 0.5f + b * 0.25f;
            if (objective == Objective.SOFTMAX_CROSS_ENTROPY) {
                y[b * k + rng.nextInt(k)] = 1f;
            } else {
                for (int j = 0; j < k; j++) {
                    y[b * k + j] = rng.nextBoolean() ? 1f : 0f;
                }
            }
        }
        MlpNetwork.Trace trace = net.forwardTrain(x, batch, 0f, rng);
        float[] dLogits = new float[batch * k];
        objective.lossAndGradient(trace.logits, y, w, batch, k, dLogits);
        float[][] grads = net.backward(trace, dLogits).tensors;
        float[][] params = net.parameters();
        int checked = 0;
        for (int t = 0; t < params.length; t++) {
            for (int i = 0; i < params[t].length; i += 3) {
                float saved = params[t][i];
                double h = 1e-2;
                params[t][i] = (float) (saved + h);
                double plus = objective.lossAndGradient(net.logits(x, batch), y, w, batch, k, null);
                params[t][i] = (float) (saved - h);
                double minus = objective.lossAndGradient(net.logits(x, batch), y, w, batch, k, null);
                params[t][i] = saved;
                double numeric = (plus - minus) / (2 * h);
                assertEquals(numeric, grads[t][i], 2e-4 + 2e-2 * Math.abs(numeric),
                        "tensor " + t + " element " + i + " (" + act + ")");
                checked++;
            }
        }
        assertEquals(true, checked > 20, "checked " + checked + " parameters");
    }

    @Test
    void forwardMatchesHandComputation() {
        // 2 -> 2 (ReLU) -> 1; W0 = [[1, -1], [2, 0.5]] as [in][out], b0 = [0.5, 0], W1 = [[2], [-3]], b1 = [1]
        MlpNetwork net = new MlpNetwork(new int[] {2, 2, 1}, Activation.RELU,
                new float[][] {{1f, -1f, 2f, 0.5f}, {2f, -3f}}, new float[][] {{0.5f, 0f}, {1f}});
        // x = (1, 2): z0 = (1 + 4 + 0.5, -1 + 1 + 0) = (5.5, 0); relu -> (5.5, 0); out = 11 + 0 + 1 = 12
        assertEquals(12f, net.logits(new float[] {1f, 2f}, 1)[0], 1e-6);
        // x = (-1, 1): z0 = (-1 + 2 + 0.5, 1 + 0.5) = (1.5, 1.5); out = 3 - 4.5 + 1 = -0.5
        assertEquals(-0.5f, net.logits(new float[] {-1f, 1f}, 1)[0], 1e-6);
    }

    @Test
    void adamWStepsMatchHandComputation() {
        float[] weight = {1f};
        float[] bias = {1f};
        float[][] params = {weight, bias};
        AdamW opt = new AdamW(params, new boolean[] {true, false}, 0.1, 0.9, 0.999, 1e-8, 0.01);
        opt.step(params, new float[][] {{0.5f}, {0.5f}});
        // step 1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25 -> update 0.1 * 0.5 / 0.5 = 0.1
        // weight: 1 * (1 - 0.1 * 0.01) - 0.1 = 0.899; bias (no decay): 0.9
        assertEquals(0.899f, weight[0], 1e-6);
        assertEquals(0.9f, bias[0], 1e-6);
        opt.step(params, new float[][] {{-1f}, {-1f}});
        // step 2: m = 0.9*0.05 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975
        // m^ = -0.055 / 0.19 = -0.28947368, sqrt(v^) = sqrt(0.00124975 / 0.001999) = 0.79069
        double mHat = -0.055 / 0.19;
        double vHatSqrt = Math.sqrt(0.00124975 / (1 - 0.999 * 0.999));
        double expectedWeight = 0.899 * (1 - 0.001) - 0.1 * mHat / (vHatSqrt + 1e-8);
        double expectedBias = 0.9 - 0.1 * mHat / (vHatSqrt + 1e-8);
        assertEquals(expectedWeight, weight[0], 1e-6);
        assertEquals(expectedBias, bias[0], 1e-6);
    }
}
