package org.vitfit.finetune;

import org.junit.jupiter.api.Test;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;
import org.vitfit.onnx.Device;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The AdamW update inside the training graph against PyTorch's torch.optim.AdamW algorithm computed here in
 * double precision from the graph's own gradients: decoupled decay p *= 1 - lr wd, bias-corrected moments,
 * eps outside the square root, global-norm clipping first; two steps, the second clipped.
 */
class AdamWStepTest {

    @Test
    void twoStepsMatchTorchAdamW() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, true, 0, false, false, false, true, 21);
        TrainableParameters params = TrainableParameters.of(vit, TinyVit.head(vit, 22));
        assertEquals(TrainableParameters.Group.HEAD, group(params, "head.weight"));
        assertEquals(TrainableParameters.Group.BACKBONE, group(params, "blocks.0.attn.qkv.weight"));
        assertTrue(decays(params, "blocks.1.mlp.fc1.weight") && decays(params, "head.weight"));
        assertFalse(decays(params, "blocks.0.norm1.weight") || decays(params, "cls_token")
                || decays(params, "pos_embed") || decays(params, "head.bias") || decays(params, "blocks.0.ls1"));

        int n = 2;
        float[] targets = {0, 1, 0, 0, 0, 1};
        float[] batch1 = TinyVit.pixels(n, 31);
        float[] batch2 = TinyVit.pixels(n, 32);
        try (TrainingSession s = new TrainingSession(vit.spec(), params, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY,
                Device.CPU, 1, null, 0)) {
            Map<String, float[]> p0 = s.parameterValues();
            Map<String, float[]> m0 = s.momentValues();
            TrainingSession.Gradients g1 = s.gradients(batch1, n, targets);
            TrainingSession.Hyper h1 = new TrainingSession.Hyper(1e-2f, 5e-2f, 0.1f, 0.9f, 0.999f, 1e-8f,
                    Float.POSITIVE_INFINITY);
            TrainingSession.StepResult r1 = s.step(batch1, n, targets, h1);
            assertEquals(g1.loss(), r1.loss(), 1e-6, "step loss");
            assertEquals(norm(g1.grads()), r1.gradNorm(), 1e-5 * r1.gradNorm(), "gradient norm");
            compare(params, s, reference(params, p0, m0, g1.grads(), h1, 1, 1.0));

            Map<String, float[]> p1 = s.parameterValues();
            Map<String, float[]> m1 = s.momentValues();
            TrainingSession.Gradients g2 = s.gradients(batch2, n, targets);
            double norm2 = norm(g2.grads());
            float maxNorm = (float) (0.5 * norm2);
            TrainingSession.Hyper h2 = new TrainingSession.Hyper(2e-3f, 1e-2f, 0.05f, 0.8f, 0.99f, 1e-6f, maxNorm);
            s.step(batch2, n, targets, h2);
            compare(params, s, reference(params, p1, m1, g2.grads(), h2, 2, maxNorm / (norm2 + 1e-6)));
            assertEquals(2, s.steps());
        }
    }

    /** torch.optim.AdamW, one step t, on gradients already scaled by {@code clip}. */
    private static Map<String, double[]> reference(TrainableParameters params, Map<String, float[]> p,
                                                   Map<String, float[]> moments, Map<String, float[]> grads,
                                                   TrainingSession.Hyper h, int t, double clip) {
        Map<String, double[]> out = new java.util.HashMap<>();
        double bc1 = 1 - Math.pow(h.beta1(), t);
        double bc2 = 1 - Math.pow(h.beta2(), t);
        for (TrainableParameters.Param param : params.params()) {
            String name = param.name();
            double lr = param.group() == TrainableParameters.Group.HEAD ? h.lrHead() : h.lrBackbone();
            float[] p0 = p.get(name);
            float[] m0 = moments.get(TrainingGraph.firstMomentName(name));
            float[] v0 = moments.get(TrainingGraph.secondMomentName(name));
            float[] g = grads.get(name);
            double[] p1 = new double[p0.length];
            double[] m1 = new double[p0.length];
            double[] v1 = new double[p0.length];
            for (int i = 0; i < p0.length; i++) {
                double gi = g[i] * Math.min(1.0, clip);
                double pi = p0[i];
                if (param.decay()) {
                    pi *= 1 - lr * h.weightDecay();
                }
                m1[i] = h.beta1() * m0[i] + (1 - h.beta1()) * gi;
                v1[i] = h.beta2() * v0[i] + (1 - h.beta2()) * gi * gi;
                double denom = Math.sqrt(v1[i]) / Math.sqrt(bc2) + h.epsilon();
                p1[i] = pi - lr / bc1 * m1[i] / denom;
            }
            out.put(name, p1);
            out.put(TrainingGraph.firstMomentName(name), m1);
            out.put(TrainingGraph.secondMomentName(name), v1);
        }
        return out;
    }

    private static void compare(TrainableParameters params, TrainingSession s, Map<String, double[]> expected) {
        Map<String, float[]> p = s.parameterValues();
        Map<String, float[]> m = s.momentValues();
        for (TrainableParameters.Param param : params.params()) {
            String name = param.name();
            assertClose(expected.get(name), p.get(name), name);
            assertClose(expected.get(TrainingGraph.firstMomentName(name)), m.get(TrainingGraph.firstMomentName(name)),
                    "m." + name);
            assertClose(expected.get(TrainingGraph.secondMomentName(name)), m.get(TrainingGraph.secondMomentName(name)),
                    "v." + name);
        }
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

    private static double norm(Map<String, float[]> grads) {
        double s = 0;
        for (float[] g : grads.values()) {
            for (float v : g) {
                s += (double) v * v;
            }
        }
        return Math.sqrt(s);
    }

    private static TrainableParameters.Group group(TrainableParameters params, String name) {
        return params.params().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow().group();
    }

    private static boolean decays(TrainableParameters params, String name) {
        return params.params().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow().decay();
    }
}
