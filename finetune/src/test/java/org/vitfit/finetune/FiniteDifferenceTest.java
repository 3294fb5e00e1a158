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
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The backward pass of the parts the PyTorch goldens do not exercise (tanh GELU, quick GELU, layer scale, register
 * tokens, position embeddings on patches only, pre-norm, CLIP's projection, no patch bias), and of partial freezing
 * and LoRA on those variants, against central finite differences of the loss the same graph computes.
 */
class FiniteDifferenceTest {

    @Test
    void tanhGeluLayerScaleRegistersPatchOnlyPositionsBinaryCrossEntropy() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU_TANH, true, 2, true, false, false, true, 1);
        check(TrainableParameters.of(vit, TinyVit.head(vit, 5)), TrainingGraph.Loss.SIGMOID_BINARY_CROSS_ENTROPY,
                new float[] {1, 0, 1, 0, 0, 1, 1, 1, 0});
    }

    @Test
    void quickGeluPreNormClipProjectionWithoutPatchBiasSoftmax() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.QUICK_GELU, false, 0, false, true, true, false, 2);
        check(TrainableParameters.of(vit, TinyVit.head(vit, 5)), TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY,
                new float[] {0, 1, 0, 0, 0, 1, 1, 0, 0});
    }

    @Test
    void exactGeluPlainVit() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, false, 0, false, false, false, true, 3);
        check(TrainableParameters.of(vit, TinyVit.head(vit, 5)), TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY,
                new float[] {0, 0, 1, 1, 0, 0, 0, 1, 0});
    }

    /** The last block only, with layer scale and registers: its input is frozen tokens. */
    @Test
    void lastBlockOnlyWithLayerScaleAndRegisters() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU, true, 2, false, false, false, true, 4);
        TrainableParameters params = TrainableParameters.of(vit, TinyVit.head(vit, 5), 1, null, 0);
        check(params, TrainingGraph.Loss.SIGMOID_BINARY_CROSS_ENTROPY, new float[] {1, 1, 0, 0, 1, 0, 0, 0, 1});
    }

    /** LoRA on every linear layer of both blocks, tanh GELU, CLIP projection and pre-norm frozen, B made non-zero. */
    @Test
    void loraOnEveryLinearLayerWithFrozenProjection() throws Exception {
        VitParameters vit = TinyVit.create(VitSpec.Activation.GELU_TANH, true, 0, false, true, true, true, 6);
        LoraConfig lora = new LoraConfig(2, 3, EnumSet.allOf(LoraConfig.Target.class));
        TrainableParameters params = TrainableParameters.of(vit, TinyVit.head(vit, 5), 2, lora, 8);
        Random r = new Random(10);
        Map<String, float[]> b = new HashMap<>();
        for (TrainableParameters.Param p : params.params()) {
            if (p.name().endsWith(TrainableParameters.LORA_B)) {
                float[] v = new float[p.size()];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (0.3 * r.nextGaussian());
                }
                b.put(p.name(), v);
            }
        }
        check(params.withValues(b), TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, new float[] {1, 0, 0, 0, 0, 1, 0, 1, 0});
    }

    /**
     * For every trainable tensor, the derivative along two directions (its own gradient's and a random one) from
     * (L(p + h u) - L(p - h u)) / 2h against g . u. Float32 losses limit the agreement to about 1e-3.
     */
    private static void check(TrainableParameters params, TrainingGraph.Loss loss, float[] targets) throws Exception {
        int n = 3;
        VitSpec s = params.spec();
        long[] shape = params.input() == TrainableParameters.Input.PIXELS ? new long[] {n, 3, 8, 8}
                : new long[] {n, s.numTokens(), s.hiddenSize()};
        int len = (int) (shape[0] * shape[1] * shape[2] * (shape.length > 3 ? shape[3] : 1));
        float[] input = new float[len];
        Random rx = new Random(11);
        for (int i = 0; i < len; i++) {
            input[i] = (float) rx.nextGaussian();
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] flatGrad;
        try (TrainingSession session = new TrainingSession(params, loss, Device.CPU, 1, null, null, 0);
             OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), shape)) {
            flatGrad = session.gradients(x, n, targets).flat();
        }
        ModelProto graph = TrainingGraph.build(params, TrainingGraph.Mode.GRADIENTS, loss, "test");
        Random r = new Random(7);
        StringBuilder report = new StringBuilder();
        double worst = 0;
        String worstName = null;
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(graph.toByteArray(), options);
             OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(input), shape);
             OnnxTensor y = OnnxTensor.createTensor(env, FloatBuffer.wrap(targets), new long[] {n, TinyVit.CLASSES})) {
            String inputName = switch (params.input()) {
                case PIXELS -> TrainingGraph.PIXELS;
                case TOKENS -> TrainingGraph.TOKENS;
                case EMBEDDING -> TrainingGraph.EMBEDDING;
            };
            for (TrainableParameters.Param p : params.params()) {
                float[] g = new float[p.size()];
                System.arraycopy(flatGrad, p.offset(), g, 0, p.size());
                double gNorm = norm(g);
                assertTrue(gNorm > 1e-6, p.name() + " has a zero gradient; the test cannot check it");
                double[] random = new double[g.length];
                double[] own = new double[g.length];
                for (int i = 0; i < g.length; i++) {
                    random[i] = r.nextGaussian();
                    own[i] = g[i];
                }
                for (double[] u : new double[][] {unit(own), unit(random)}) {
                    double analytic = 0;
                    for (int i = 0; i < g.length; i++) {
                        analytic += g[i] * u[i];
                    }
                    double h = 3e-3;
                    double numeric = (lossAt(session, inputName, x, y, params, p, u, h)
                            - lossAt(session, inputName, x, y, params, p, u, -h)) / (2 * h);
                    double err = Math.abs(numeric - analytic) / gNorm;
                    if (err > worst) {
                        worst = err;
                        worstName = p.name();
                    }
                    report.append(String.format("%s: analytic %.6f numeric %.6f (|g| %.4f)%n", p.name(), analytic,
                            numeric, gNorm));
                    assertTrue(err < 5e-3, p.name() + " disagrees with finite differences\n" + report);
                }
            }
        }
        System.out.printf("finite differences, %s, %s: %d tensors, worst |numeric - analytic| / |g| = %.1e (%s)%n",
                s.activation(), Finetuner.describe(params), params.params().size(), worst, worstName);
    }

    /** The loss with tensor {@code p} moved by h u. */
    private static double lossAt(OrtSession session, String inputName, OnnxTensor x, OnnxTensor y,
                                 TrainableParameters params, TrainableParameters.Param p, double[] u, double h)
            throws Exception {
        float[] flat = params.flat().clone();
        for (int i = 0; i < p.size(); i++) {
            flat[p.offset() + i] += (float) (h * u[i]);
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor values = OnnxTensor.createTensor(env, FloatBuffer.wrap(flat), new long[] {flat.length});
             OrtSession.Result r = session.run(Map.of(inputName, x, TrainingGraph.TARGETS, y, TrainingGraph.PARAMS,
                     values), Set.of(TrainingGraph.LOSS))) {
            return ((OnnxTensor) r.get(0)).getFloatBuffer().get(0);
        }
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
