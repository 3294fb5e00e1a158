package org.vitfit.finetune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import org.junit.jupiter.api.Test;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;
import org.vitfit.onnx.Device;

import java.nio.FloatBuffer;
import java.util.EnumSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AdamW update inside the training graph against PyTorch's torch.optim.AdamW algorithm computed here in
 * double precision from the graph's own gradients: decoupled decay p *= 1 - lr wd, bias-corrected moments,
 * eps outside the square root, global-norm clipping first; two steps, the second clipped. Also with the last block
 * only and with LoRA, where the norm that clipping uses covers the trainable tensors alone.
 */
class AdamWStepTest {

    @Test
    void twoStepsMatchTorchAdamW() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, true, 0, false, false, false, true, 21);
        TrainableParameters params = TrainableParameters.of(vit, TinyVit.head(vit, 22));
        assertEquals(TrainableParameters.Group.HEAD, params.param("head.weight").group());
        assertEquals(TrainableParameters.Group.BACKBONE, params.param("blocks.0.attn.qkv.weight").group());
        assertTrue(params.param("blocks.1.mlp.fc1.weight").decay() && params.param("head.weight").decay());
        assertFalse(params.param("blocks.0.norm1.weight").decay() || params.param("cls_token").decay()
                || params.param("pos_embed").decay() || params.param("head.bias").decay()
                || params.param("blocks.0.ls1").decay());
        twoSteps(params, new long[] {2, 3, 8, 8});
    }

    @Test
    void lastBlockOnlyAndLoraMatchTorchAdamW() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, true, 0, false, false, false, true, 23);
        VitSpec s = vit.spec();
        twoSteps(TrainableParameters.of(vit, TinyVit.head(vit, 22), 1, null, 0),
                new long[] {2, s.numTokens(), s.hiddenSize()});
        LoraConfig lora = new LoraConfig(2, 4, EnumSet.of(LoraConfig.Target.QKV, LoraConfig.Target.FC1));
        twoSteps(TrainableParameters.of(vit, TinyVit.head(vit, 22), 2, lora, 1),
                new long[] {2, s.numTokens(), s.hiddenSize()});
    }

    private static void twoSteps(TrainableParameters params, long[] inputShape) throws Exception {
        int n = 2;
        float[] targets = {0, 1, 0, 0, 0, 1};
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (TrainingSession s = new TrainingSession(params, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, Device.CPU, 1,
                null, null, 0);
             OnnxTensor batch1 = OnnxTensor.createTensor(env, FloatBuffer.wrap(random(inputShape, 31)), inputShape);
             OnnxTensor batch2 = OnnxTensor.createTensor(env, FloatBuffer.wrap(random(inputShape, 32)), inputShape)) {
            float[] p0 = TrainingSession.copy(s.parameters());
            float[] m0 = TrainingSession.copy(s.firstMoment());
            float[] v0 = TrainingSession.copy(s.secondMoment());
            TrainingSession.Gradients g1 = s.gradients(batch1, n, targets);
            TrainingSession.Hyper h1 = new TrainingSession.Hyper(1e-2f, 5e-2f, 0.1f, 0.9f, 0.999f, 1e-8f,
                    Float.POSITIVE_INFINITY);
            TrainingSession.StepResult r1 = s.step(batch1, n, targets, h1);
            assertEquals(g1.loss(), r1.loss(), 1e-6, "step loss");
            assertEquals(norm(g1.flat()), r1.gradNorm(), 1e-5 * r1.gradNorm(), "gradient norm of the trainable tensors");
            compare(s, reference(params, p0, m0, v0, g1.flat(), h1, 1, 1.0));

            float[] p1 = TrainingSession.copy(s.parameters());
            float[] m1 = TrainingSession.copy(s.firstMoment());
            float[] v1 = TrainingSession.copy(s.secondMoment());
            TrainingSession.Gradients g2 = s.gradients(batch2, n, targets);
            double norm2 = norm(g2.flat());
            float maxNorm = (float) (0.5 * norm2);
            TrainingSession.Hyper h2 = new TrainingSession.Hyper(2e-3f, 1e-2f, 0.05f, 0.8f, 0.99f, 1e-6f, maxNorm);
            s.step(batch2, n, targets, h2);
            compare(s, reference(params, p1, m1, v1, g2.flat(), h2, 2, maxNorm / (norm2 + 1e-6)));
            assertEquals(2, s.steps());
        }
    }

    /** torch.optim.AdamW, one step t, on gradients scaled by {@code clip}: {params, m, v}. */
    private static double[][] reference(TrainableParameters params, float[] p, float[] m, float[] v, float[] g,
                                        TrainingSession.Hyper h, int t, double clip) {
        double bc1 = 1 - Math.pow(h.beta1(), t);
        double bc2 = 1 - Math.pow(h.beta2(), t);
        double[][] out = new double[3][p.length];
        for (TrainableParameters.Param param : params.params()) {
            double lr = param.group() == TrainableParameters.Group.HEAD ? h.lrHead() : h.lrBackbone();
            for (int i = param.offset(); i < param.offset() + param.size(); i++) {
                double gi = g[i] * Math.min(1.0, clip);
                double pi = p[i];
                if (param.decay()) {
                    pi *= 1 - lr * h.weightDecay();
                }
                out[1][i] = h.beta1() * m[i] + (1 - h.beta1()) * gi;
                out[2][i] = h.beta2() * v[i] + (1 - h.beta2()) * gi * gi;
                double denom = Math.sqrt(out[2][i]) / Math.sqrt(bc2) + h.epsilon();
                out[0][i] = pi - lr / bc1 * out[1][i] / denom;
            }
        }
        return out;
    }

    private static void compare(TrainingSession s, double[][] expected) {
        assertClose(expected[0], TrainingSession.copy(s.parameters()), "parameters");
        assertClose(expected[1], TrainingSession.copy(s.firstMoment()), "first moment");
        assertClose(expected[2], TrainingSession.copy(s.secondMoment()), "second moment");
    }

    private static void assertClose(double[] expected, float[] actual, String what) {
        double scale = 0;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 2e-6 * scale + 1e-12, what + "[" + i + "]");
        }
    }

    private static float[] random(long[] shape, long seed) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        java.util.Random r = new java.util.Random(seed);
        float[] x = new float[(int) n];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static double norm(float[] g) {
        double s = 0;
        for (float v : g) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }
}
