package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.safetensors.SafetensorsFile;
import org.vitfit.onnx.Device;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hand-built backward graph against PyTorch: transformers' ViTForImageClassification (hidden 64, 2 layers,
 * 4 heads, 5 labels, exact GELU) on the first 4 golden images, loss and every parameter gradient as autograd
 * computed them (shared/fixtures/hf-golden/grad_*). Full fine-tuning, the last block only, the classifier only,
 * and LoRA adapters (whose gradients follow from PyTorch's weight gradient: with W_eff = W + s·A·B,
 * dL/dA = s·G·Bᵀ and dL/dB = s·Aᵀ·G).
 */
class GoldenGradientTest {

    static final Path GOLDEN = Path.of(System.getProperty("vitfit.shared", "../../shared"), "fixtures", "hf-golden");
    private static final Pattern LAYER = Pattern.compile("vit\\.layers\\.(\\d+)\\.(.+)");
    private static final int N = 4;
    private static final int CLASSES = 5;

    /** One golden case: the model, its batch, PyTorch's loss, logits and every gradient in our names and layout. */
    record Golden(Converter.Loaded loaded, float[] pixels, float[] targets, double loss, float[] logits,
                  Map<String, float[]> grads) {
        VitParameters vit() {
            return loaded.parameters();
        }
    }

    static Golden load(String dir) throws IOException {
        JsonNode entry = new ObjectMapper().readTree(GOLDEN.resolve("manifest.json").toFile()).path("models").path(dir);
        Converter.Loaded loaded = Converter.load(GOLDEN.resolve(dir), new Converter.Options(null, false,
                GOLDEN.resolve("vit/processor_slow/preprocessor_config.json")));
        float[] pixels = readFloats(GOLDEN.resolve("vit/pixel_values_slow.f32"), N * 3 * 224 * 224);
        float[] logits = new float[N * CLASSES];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) entry.path("logits").get(i / CLASSES).get(i % CLASSES).asDouble();
        }
        int d = loaded.parameters().spec().hiddenSize();
        Map<String, float[]> ours = new HashMap<>();
        try (SafetensorsFile ref = SafetensorsFile.open(GOLDEN.resolve(dir).resolve("grads.safetensors"))) {
            for (String name : ref.tensors().keySet()) {
                into(ours, name, ref.readFloats(name), d);
            }
        }
        return new Golden(loaded, pixels, targets(entry.path("labels")), entry.path("loss").asDouble(), logits, ours);
    }

    @ParameterizedTest
    @CsvSource({"grad_multiclass, SOFTMAX_CROSS_ENTROPY", "grad_multilabel, SIGMOID_BINARY_CROSS_ENTROPY"})
    void fullFineTuningMatchesPyTorch(String dir, TrainingGraph.Loss loss) throws Exception {
        Golden gold = load(dir);
        TrainableParameters params = TrainableParameters.of(gold.vit(), gold.vit().head());
        check(dir + " full", gold, params, loss, params.params().stream().map(TrainableParameters.Param::name).toList());
    }

    /** --train-blocks 1: block 1, the final norm and the classifier; block 0 and the embedding are a frozen prefix. */
    @ParameterizedTest
    @CsvSource({"grad_multiclass, SOFTMAX_CROSS_ENTROPY", "grad_multilabel, SIGMOID_BINARY_CROSS_ENTROPY"})
    void lastBlockOnlyMatchesPyTorch(String dir, TrainingGraph.Loss loss) throws Exception {
        Golden gold = load(dir);
        TrainableParameters params = TrainableParameters.of(gold.vit(), gold.vit().head(), 1, null, 0);
        assertEquals(TrainableParameters.Input.TOKENS, params.input());
        for (TrainableParameters.Param p : params.params()) {
            assertTrue(p.name().startsWith("blocks.1.") || p.name().startsWith("final_norm.")
                    || p.name().startsWith("head."), p.name() + " should be frozen");
        }
        check(dir + " last block", gold, params, loss,
                params.params().stream().map(TrainableParameters.Param::name).toList());
        ModelProto graph = TrainingGraph.build(params, TrainingGraph.Mode.TRAIN_STEP, loss, "test");
        assertNothingOf(graph, "blocks.0.");
        assertNothingOf(graph, "patch_embed");
    }

    /** --train-blocks 0: the classifier alone, on the converted model's embedding. */
    @Test
    void classifierOnlyMatchesPyTorch() throws Exception {
        Golden gold = load("grad_multiclass");
        TrainableParameters params = TrainableParameters.of(gold.vit(), gold.vit().head(), 0, null, 0);
        assertEquals(List.of("head.weight", "head.bias"),
                params.params().stream().map(TrainableParameters.Param::name).toList());
        assertEquals(TrainableParameters.Input.EMBEDDING, params.input());
        check("classifier only", gold, params, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, List.of("head.weight", "head.bias"));
    }

    /**
     * LoRA r = 3 on qkv, proj, fc1 and fc2 of both blocks with random A and B: the base weights are set to
     * W − s·A·B so the adapted model is exactly the golden one, and every adapter gradient must equal what PyTorch's
     * weight gradient G implies. The base weights, biases and norms get no gradient at all.
     */
    @ParameterizedTest
    @CsvSource({"grad_multiclass, SOFTMAX_CROSS_ENTROPY", "grad_multilabel, SIGMOID_BINARY_CROSS_ENTROPY"})
    void loraAdaptersMatchPyTorch(String dir, TrainingGraph.Loss loss) throws Exception {
        Golden gold = load(dir);
        LoraConfig lora = new LoraConfig(3, 6, EnumSet.allOf(LoraConfig.Target.class));
        VitParameters vit = gold.vit();
        TrainableParameters drawn = TrainableParameters.of(vit, vit.head(), 2, lora, 5);
        java.util.Random r = new java.util.Random(9);
        Map<String, float[]> bValues = new HashMap<>();
        for (TrainableParameters.Param p : drawn.params()) {
            if (p.name().endsWith(TrainableParameters.LORA_B)) {
                float[] b = new float[p.size()];
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) (0.05 * r.nextGaussian());
                }
                bValues.put(p.name(), b);
            }
        }
        // Base weights shifted by -s·A·B: the same A (same seed) is drawn again for the shifted model.
        VitParameters shifted = shift(vit, drawn, bValues, lora.scaling());
        TrainableParameters params = TrainableParameters.of(shifted, shifted.head(), 2, lora, 5).withValues(bValues);
        assertEquals(TrainableParameters.Input.TOKENS, params.input());
        assertEquals(2 * 4 * 2 + 2, params.params().size(), "8 adapters of 2 factors, plus the classifier");

        TrainingSession.Gradients g = gradients(gold, params, loss);
        assertEquals(gold.loss(), g.loss(), 1e-5, "loss with the adapters");
        double worst = 0;
        StringBuilder report = new StringBuilder();
        for (TrainableParameters.Param p : params.params()) {
            float[] expected;
            if (p.name().endsWith(TrainableParameters.LORA_A) || p.name().endsWith(TrainableParameters.LORA_B)) {
                String layer = p.name().substring(0, p.name().length() - TrainableParameters.LORA_A.length());
                Tensor a = params.tensor(layer + TrainableParameters.LORA_A);
                Tensor b = params.tensor(layer + TrainableParameters.LORA_B);
                Tensor gw = new Tensor(gold.grads().get(layer + ".weight"), params.tensor(layer + ".weight").shape());
                expected = p.name().endsWith(TrainableParameters.LORA_A)
                        ? scaled(matmul(gw, b, false, true), lora.scaling())       // s G Bᵀ  [in, r]
                        : scaled(matmul(a, gw, true, false), lora.scaling());      // s Aᵀ G  [r, out]
            } else {
                expected = gold.grads().get(p.name());
            }
            double err = relativeError(g.of(p), expected);
            report.append(String.format("%s relative error %.2e%n", p.name(), err));
            worst = Math.max(worst, err);
        }
        assertTrue(worst < 1e-4, report.toString());
        System.out.printf("%s LoRA: loss %.8f (PyTorch %.8f), %d tensors, worst relative error %.2e%n", dir, g.loss(),
                gold.loss(), params.params().size(), worst);
        ModelProto graph = TrainingGraph.build(params, TrainingGraph.Mode.TRAIN_STEP, loss, "test");
        for (NodeProto node : graph.getGraph().getNodeList()) {
            assertFalse(node.getOutput(0).contains("d_weight") && node.getOutput(0).startsWith("blocks."),
                    "a frozen base weight gets a gradient: " + node.getOutput(0));
            assertFalse(node.getOutput(0).contains("norm") && node.getOutput(0).endsWith(".d_weight"),
                    "a frozen norm gets a gradient: " + node.getOutput(0));
        }
        // merging the adapters gives back the golden weights
        VitParameters merged = params.toVit(shifted);
        assertTrue(relativeError(merged.blocks().get(1).fc1().weight().data(), vit.blocks().get(1).fc1().weight().data())
                < 1e-6);
    }

    private static void check(String what, Golden gold, TrainableParameters params, TrainingGraph.Loss loss,
                              List<String> names) throws Exception {
        TrainingSession.Gradients g = gradients(gold, params, loss);
        assertEquals(gold.loss(), g.loss(), 1e-5, what + ": loss");
        for (int i = 0; i < N * CLASSES; i++) {
            assertEquals(gold.logits()[i], g.logits()[i], 1e-5, what + ": logit " + i);
        }
        assertEquals(names.stream().mapToInt(n -> params.param(n).size()).sum(), g.flat().length,
                what + ": gradients of exactly the trainable tensors");
        double worst = 0;
        StringBuilder report = new StringBuilder();
        for (String name : names) {
            float[] expected = gold.grads().get(name);
            double err = relativeError(g.of(params.param(name)), expected);
            report.append(String.format("%s relative error %.2e, |ref| %.3e%n", name, err, norm(expected)));
            worst = Math.max(worst, err);
        }
        assertTrue(worst < 1e-4, what + "\n" + report);
        System.out.printf("%s: loss %.8f (PyTorch %.8f), %d gradients, worst relative error %.2e%n", what, g.loss(),
                gold.loss(), names.size(), worst);
    }

    /** Runs the frozen prefix (the converter's graph) when there is one, then the GRADIENTS graph. */
    static TrainingSession.Gradients gradients(Golden gold, TrainableParameters params, TrainingGraph.Loss loss)
            throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] pixelShape = {N, 3, 224, 224};
        try (FrozenPrefix prefix = FrozenPrefix.open(gold.vit(), params, gold.loaded().weightsSha256(), Device.CPU, 1);
             TrainingSession session = new TrainingSession(params, loss, Device.CPU, 1, null, null, 0)) {
            if (prefix == null) {
                try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(gold.pixels()), pixelShape)) {
                    return session.gradients(x, N, gold.targets());
                }
            }
            try (FrozenPrefix.Output out = prefix.run(FloatBuffer.wrap(gold.pixels()), pixelShape)) {
                return session.gradients(out.tensor(), N, gold.targets());
            }
        }
    }

    private static void assertNothingOf(ModelProto graph, String prefix) {
        for (NodeProto n : graph.getGraph().getNodeList()) {
            for (String s : n.getInputList()) {
                assertFalse(s.contains(prefix), n.getName() + " reads " + s);
            }
        }
        graph.getGraph().getInitializerList().forEach(t -> assertFalse(t.getName().contains(prefix), t.getName()));
        graph.getGraph().getInputList().forEach(t -> assertFalse(t.getName().contains(prefix), t.getName()));
    }

    /** {@code vit} with every adapted weight replaced by W − s·A·B. */
    private static VitParameters shift(VitParameters vit, TrainableParameters drawn, Map<String, float[]> bValues,
                                       double s) {
        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < vit.blocks().size(); i++) {
            VitParameters.Block b = vit.blocks().get(i);
            String p = TrainableParameters.blockPrefix(i);
            blocks.add(new VitParameters.Block(b.norm1(), shift(b.qkv(), drawn, bValues, p + "attn.qkv", s),
                    shift(b.proj(), drawn, bValues, p + "attn.proj", s), b.layerScale1(), b.norm2(),
                    shift(b.fc1(), drawn, bValues, p + "mlp.fc1", s), shift(b.fc2(), drawn, bValues, p + "mlp.fc2", s),
                    b.layerScale2()));
        }
        return new VitParameters(vit.spec(), vit.patchWeight(), vit.patchBias(), vit.classToken(), vit.registerTokens(),
                vit.positions(), vit.preNorm(), blocks, vit.finalNorm(), vit.head(), vit.pooler(), vit.projection());
    }

    private static VitParameters.Linear shift(VitParameters.Linear l, TrainableParameters drawn,
                                              Map<String, float[]> bValues, String name, double s) {
        Tensor a = drawn.tensor(name + TrainableParameters.LORA_A);
        Tensor b = new Tensor(bValues.get(name + TrainableParameters.LORA_B), drawn.tensor(name + TrainableParameters.LORA_B).shape());
        float[] ab = matmul(a, b, false, false);
        float[] w = l.weight().data().clone();
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (w[i] - s * ab[i]);
        }
        return new VitParameters.Linear(new Tensor(w, l.weight().shape()), l.bias());
    }

    /** op(a) · op(b) in double, for 2-D tensors. */
    private static float[] matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        int ar = (int) a.dim(0);
        int ac = (int) a.dim(1);
        int br = (int) b.dim(0);
        int bc = (int) b.dim(1);
        int m = transA ? ac : ar;
        int k = transA ? ar : ac;
        int n = transB ? br : bc;
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int q = 0; q < k; q++) {
                    double x = transA ? a.data()[q * ac + i] : a.data()[i * ac + q];
                    double y = transB ? b.data()[j * bc + q] : b.data()[q * bc + j];
                    sum += x * y;
                }
                out[i * n + j] = (float) sum;
            }
        }
        return out;
    }

    private static float[] scaled(float[] v, double s) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] * s);
        }
        return out;
    }

    /** Adds PyTorch's gradient {@code name} to {@code ours}, under our name and in our layout. */
    private static void into(Map<String, float[]> ours, String name, float[] g, int d) {
        switch (name) {
            case "classifier.weight" -> ours.put("head.weight", transposed(g, (int) (g.length / d), d));
            case "classifier.bias" -> ours.put("head.bias", g);
            case "vit.embeddings.cls_token" -> ours.put(TrainableParameters.CLS_TOKEN, g);
            case "vit.embeddings.position_embeddings" -> ours.put(TrainableParameters.POSITIONS, g);
            case "vit.embeddings.patch_embeddings.projection.weight" -> ours.put(TrainableParameters.PATCH_WEIGHT, g);
            case "vit.embeddings.patch_embeddings.projection.bias" -> ours.put(TrainableParameters.PATCH_BIAS, g);
            case "vit.layernorm.weight" -> ours.put("final_norm.weight", g);
            case "vit.layernorm.bias" -> ours.put("final_norm.bias", g);
            default -> {
                Matcher m = LAYER.matcher(name);
                if (!m.matches()) {
                    throw new AssertionError("unexpected PyTorch gradient " + name);
                }
                intoBlock(ours, TrainableParameters.blockPrefix(Integer.parseInt(m.group(1))), m.group(2), g, d);
            }
        }
    }

    private static void intoBlock(Map<String, float[]> ours, String p, String rest, float[] g, int d) {
        String[] qkv = {"attention.q_proj.", "attention.k_proj.", "attention.v_proj."};
        for (int part = 0; part < 3; part++) {
            if (rest.startsWith(qkv[part])) {
                boolean bias = rest.endsWith("bias");
                float[] fused = ours.computeIfAbsent(p + "attn.qkv." + (bias ? "bias" : "weight"),
                        k -> new float[bias ? 3 * d : d * 3 * d]);
                if (bias) {
                    System.arraycopy(g, 0, fused, part * d, d);
                } else {
                    // PyTorch [out = D, in = D] for this third; ours [in = D, out = 3D]
                    for (int i = 0; i < d; i++) {
                        for (int o = 0; o < d; o++) {
                            fused[i * 3 * d + part * d + o] = g[o * d + i];
                        }
                    }
                }
                return;
            }
        }
        Map<String, String> simple = Map.of("attention.o_proj", "attn.proj", "mlp.fc1", "mlp.fc1", "mlp.fc2", "mlp.fc2",
                "layernorm_before", "norm1", "layernorm_after", "norm2");
        for (Map.Entry<String, String> e : simple.entrySet()) {
            String ourName = p + e.getValue();
            if (rest.equals(e.getKey() + ".weight")) {
                boolean norm = e.getValue().startsWith("norm");
                int in = e.getKey().equals("mlp.fc2") ? g.length / d : d;
                ours.put(ourName + ".weight", norm ? g : transposed(g, g.length / in, in));
                return;
            }
            if (rest.equals(e.getKey() + ".bias")) {
                ours.put(ourName + ".bias", g);
                return;
            }
        }
        throw new AssertionError("unexpected PyTorch gradient " + p + rest);
    }

    /** A [rows, cols] row-major matrix transposed. */
    private static float[] transposed(float[] g, int rows, int cols) {
        float[] out = new float[g.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[c * rows + r] = g[r * cols + c];
            }
        }
        return out;
    }

    static double norm(float[] a) {
        double s = 0;
        for (float v : a) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }

    static double relativeError(float[] actual, float[] expected) {
        double diff = 0;
        double ref = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = actual[i] - expected[i];
            diff += e * e;
            ref += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff) / Math.sqrt(ref);
    }

    private static float[] targets(JsonNode labels) {
        float[] t = new float[N * CLASSES];
        for (int i = 0; i < N; i++) {
            JsonNode row = labels.get(i);
            if (row.isArray()) {
                for (int c = 0; c < CLASSES; c++) {
                    t[i * CLASSES + c] = (float) row.get(c).asDouble();
                }
            } else {
                t[i * CLASSES + row.asInt()] = 1f;
            }
        }
        return t;
    }

    static float[] readFloats(Path file, int count) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[count];
        b.asFloatBuffer().get(out);
        return out;
    }
}
