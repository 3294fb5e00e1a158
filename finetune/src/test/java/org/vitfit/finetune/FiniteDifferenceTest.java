package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;
import org.vitfit.onnx.Device;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The backward pass of the ViT parts the PyTorch goldens do not exercise (tanh GELU, quick GELU, layer scale,
 * register tokens, position embeddings on patches only, pre-norm, CLIP's projection, no patch bias) against
 * central finite differences of the loss the same graph computes.
 */
class FiniteDifferenceTest {

    @Test
    void tanhGeluLayerScaleRegistersPatchOnlyPositionsBinaryCrossEntropy() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU_TANH, true, 2, true, false, false, true, 1);
        check(vit, TrainingGraph.Loss.SIGMOID_BINARY_CROSS_ENTROPY, new float[] {1, 0, 1, 0, 0, 1, 1, 1, 0});
    }

    @Test
    void quickGeluPreNormClipProjectionWithoutPatchBiasSoftmax() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.QUICK_GELU, false, 0, false, true, true, false, 2);
        check(vit, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, new float[] {0, 1, 0, 0, 0, 1, 1, 0, 0});
    }

    @Test
    void exactGeluPlainVit() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, false, 0, false, false, false, true, 3);
        check(vit, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, new float[] {0, 0, 1, 1, 0, 0, 0, 1, 0});
    }

    /**
     * For every tensor, the derivative along two directions (its own gradient's and a random one) from
     * (L(p + h u) - L(p - h u)) / 2h against g . u. Float32 losses limit the agreement to about 1e-3.
     */
    private static void check(VitParameters vit, TrainingGraph.Loss loss, float[] targets) throws Exception {
        int n = 3;
        float[] pixels = TinyVit.pixels(n, 11);
        TrainableParameters params = TrainableParameters.of(vit, TinyVit.head(vit, 5));
        Map<String, float[]> grads;
        try (TrainingSession s = new TrainingSession(vit.spec(), params, loss, Device.CPU, 1, null, 0)) {
            grads = s.gradients(pixels, n, targets).grads();
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        ModelProto graph = TrainingGraph.build(vit.spec(), params.params(), TrainingGraph.Mode.GRADIENTS, loss, "test");
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(graph.toByteArray(), options)) {
            checkAll(session, vit, params, grads, pixels, n, targets);
        }
    }

    private static void checkAll(OrtSession session, VitParameters vit, TrainableParameters params,
                                 Map<String, float[]> grads, float[] pixels, int n, float[] targets) throws Exception {
        Random r = new Random(7);
        StringBuilder report = new StringBuilder();
        double worst = 0;
        String worstName = null;
        for (TrainableParameters.Param p : params.params()) {
            float[] g = grads.get(p.name());
            double gNorm = norm(g);
            assertTrue(gNorm > 1e-6, p.name() + " has a zero gradient; the test cannot check it");
            double[] random = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                random[i] = r.nextGaussian();
            }
            double[] own = new double[g.length];
            for (int i = 0; i < g.length; i++) {
                own[i] = g[i];
            }
            for (double[] u : new double[][] {unit(own), unit(random)}) {
                double analytic = 0;
                for (int i = 0; i < g.length; i++) {
                    analytic += g[i] * u[i];
                }
                double h = 3e-3;
                double numeric = (lossAt(session, params, p.name(), u, h, pixels, n, targets)
                        - lossAt(session, params, p.name(), u, -h, pixels, n, targets)) / (2 * h);
                // relative to the tensor's gradient norm so a near-orthogonal random direction is not over-weighted
                double err = Math.abs(numeric - analytic) / gNorm;
                if (err > worst) {
                    worst = err;
                    worstName = p.name();
                }
                report.append(String.format("%s: analytic %.6f numeric %.6f (|g| %.4f)%n", p.name(), analytic, numeric, gNorm));
                assertTrue(err < 5e-3, p.name() + " disagrees with finite differences\n" + report);
            }
        }
        System.out.printf("finite differences, %s: %d tensors, worst |numeric - analytic| / |g| = %.1e (%s)%n",
                vit.spec().activation(), params.params().size(), worst, worstName);
    }

    /** The loss with tensor {@code name} moved by h u, through one GRADIENTS session opened per model. */
    private static double lossAt(OrtSession session, TrainableParameters params, String name, double[] u, double h,
                                 float[] pixels, int n, float[] targets) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        List<OnnxTensor> inputs = new ArrayList<>();
        try {
            Map<String, OnnxTensor> feed = new HashMap<>();
            for (TrainableParameters.Param p : params.params()) {
                float[] v = params.value(p.name());
                if (p.name().equals(name)) {
                    v = v.clone();
                    for (int i = 0; i < v.length; i++) {
                        v[i] += (float) (h * u[i]);
                    }
                }
                feed.put(p.name(), track(inputs, OnnxTensor.createTensor(env, FloatBuffer.wrap(v), p.shape())));
            }
            feed.put(TrainingGraph.PIXELS, track(inputs, OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels),
                    new long[] {n, 3, 8, 8})));
            feed.put(TrainingGraph.TARGETS, track(inputs, OnnxTensor.createTensor(env, FloatBuffer.wrap(targets),
                    new long[] {n, TinyVit.CLASSES})));
            try (OrtSession.Result r = session.run(feed, Set.of(TrainingGraph.LOSS))) {
                return ((OnnxTensor) r.get(0)).getFloatBuffer().get(0);
            }
        } finally {
            inputs.forEach(OnnxTensor::close);
        }
    }

    private static OnnxTensor track(List<OnnxTensor> list, OnnxTensor t) {
        list.add(t);
        return t;
    }

    private static double[] unit(double[] v) {
        double nv = 0;
        for (double x : v) {
            nv += x * x;
        }
        nv = Math.sqrt(nv);
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] / nv;
        }
        return out;
    }

    private static double norm(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }
}
