package org.vitfit.convert;

import ai.onnx.proto.OnnxMl.ModelProto;
import org.vitfit.convert.graph.OnnxGraph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The one ViT forward pass, written once in standard ONNX ops for every checkpoint family.
 *
 * <p>Inputs {@code pixel_values} [N, C, H, W] with a dynamic batch; outputs {@code embedding} [N, E],
 * {@code last_hidden_state} [N, T, D] and, when the checkpoint carries them, {@code logits} [N, classes]
 * and {@code pooler_output} [N, D]. Linear layers are MatMul + Add on pre-transposed weights and attention
 * is spelled out (MatMul, Softmax, MatMul) so ONNX Runtime's graph optimiser can fuse them; LayerNorm
 * and GELU use the forms it fuses (native LayerNormalization, the erf pattern).
 *
 * <p>{@link Precision} changes only how the graph stores and computes: float16 everywhere inside (Casts at the
 * edges), or the linear layers dynamically quantised to int8 ({@link LinearEmitter#INT8_DYNAMIC}; fc2 stays float); the patch
 * convolution (under 1% of the work) and the attention products (activation times activation) stay float.
 */
public final class VitGraphBuilder {

    public static final String INPUT = "pixel_values";
    public static final String EMBEDDING = "embedding";
    public static final String LAST_HIDDEN_STATE = "last_hidden_state";
    public static final String LOGITS = "logits";
    public static final String POOLER_OUTPUT = "pooler_output";

    private static final String BATCH = "batch";

    private VitGraphBuilder() {
    }

    /** The built model plus the names of its outputs, in graph order. */
    public record Built(ModelProto model, List<String> outputs, int embeddingDim) {
    }

    public static Built build(VitParameters p, String toolVersion, Map<String, String> metadata) {
        return build(p, toolVersion, metadata, Precision.FP32);
    }

    public static Built build(VitParameters p, String toolVersion, Map<String, String> metadata, Precision precision) {
        VitSpec s = p.spec();
        OnnxGraph g = new OnnxGraph("vitfit_" + s.family(), precision == Precision.FP16);
        LinearEmitter lin = precision == Precision.INT8 ? LinearEmitter.INT8_DYNAMIC : LinearEmitter.FLOAT;
        int d = s.hiddenSize();
        String x = g.floatInput(INPUT, BATCH, s.channels(), s.imageHeight(), s.imageWidth());

        // Patch embedding: a strided convolution, then [N, D, h, w] -> [N, h*w, D].
        String patchW = g.floatInitializer("patch_embed.weight", p.patchWeight().data(), p.patchWeight().shape());
        long[] k = {s.patchSize(), s.patchSize()};
        String conv = p.patchBias() == null
                ? g.op("Conv", "patch_conv", Map.of("kernel_shape", k, "strides", k), x, patchW)
                : g.op("Conv", "patch_conv", Map.of("kernel_shape", k, "strides", k), x, patchW,
                        g.floatInitializer("patch_embed.bias", p.patchBias().data(), p.patchBias().shape()));
        String flat = g.op("Reshape", "patch_flat", conv, g.int64Initializer("shape_n_d_p", 0, d, -1));
        String patches = g.op("Transpose", "patch_tokens", Map.of("perm", new long[] {0, 2, 1}), flat);

        // Prefix tokens broadcast over the dynamic batch.
        String batchShape = g.op("Shape", "input_shape", x);
        String n = g.op("Slice", "batch_size", batchShape, g.int64Initializer("zero1", 0), g.int64Initializer("one1", 1));
        List<String> prefix = new ArrayList<>();
        prefix.add(expand(g, "cls", p.classToken(), n, 1, d));
        if (p.registerTokens() != null) {
            prefix.add(expand(g, "registers", p.registerTokens(), n, s.numRegisterTokens(), d));
        }
        String pos = g.floatInitializer("position_embeddings", p.positions().data(), p.positions().shape());
        String tokens;
        if (s.posEmbedSkipsPrefix()) {
            String withPos = g.op("Add", "patches_pos", patches, pos);
            prefix.add(withPos);
            tokens = g.op("Concat", "tokens", Map.of("axis", 1L), prefix.toArray(String[]::new));
        } else {
            prefix.add(patches);
            String cat = g.op("Concat", "tokens", Map.of("axis", 1L), prefix.toArray(String[]::new));
            tokens = g.op("Add", "tokens_pos", cat, pos);
        }
        if (p.preNorm() != null) {
            tokens = layerNorm(g, "pre_norm", tokens, p.preNorm(), s.layerNormEps());
        }

        String h = tokens;
        for (int i = 0; i < p.blocks().size(); i++) {
            h = block(g, lin, "blocks." + i, h, p.blocks().get(i), s);
        }

        List<String> outputs = new ArrayList<>();
        int embeddingDim;
        String clsIndex = g.int64Initializer("cls_index", 0);
        if (s.clipPooling()) {
            g.floatOutput(h, LAST_HIDDEN_STATE, BATCH, s.numTokens(), d);
            String cls = g.op("Gather", "cls_token_out", Map.of("axis", 1L), h, clsIndex);
            String cls2d = g.op("Squeeze", "cls_2d", cls, g.int64Initializer("axis1", 1));
            String pooled = layerNorm(g, "post_norm", cls2d, p.finalNorm(), s.layerNormEps());
            String emb = pooled;
            embeddingDim = d;
            if (p.projection() != null) {
                String proj = g.floatInitializer("visual_projection", p.projection().data(), p.projection().shape());
                emb = g.op("MatMul", "image_embeds", pooled, proj);
                embeddingDim = (int) p.projection().dim(1);
            }
            g.floatOutput(emb, EMBEDDING, BATCH, embeddingDim);
            outputs.add(LAST_HIDDEN_STATE);
            outputs.add(EMBEDDING);
        } else {
            String normed = layerNorm(g, "final_norm", h, p.finalNorm(), s.layerNormEps());
            g.floatOutput(normed, LAST_HIDDEN_STATE, BATCH, s.numTokens(), d);
            String cls = g.op("Gather", "cls_token_out", Map.of("axis", 1L), normed, clsIndex);
            String emb = g.op("Squeeze", "cls_2d", cls, g.int64Initializer("axis1", 1));
            embeddingDim = d;
            g.floatOutput(emb, EMBEDDING, BATCH, d);
            outputs.add(LAST_HIDDEN_STATE);
            outputs.add(EMBEDDING);
            if (p.pooler() != null) {
                String dense = lin.emit(g, "pooler", emb, p.pooler());
                g.floatOutput(g.op("Tanh", "pooler_tanh", dense), POOLER_OUTPUT, BATCH, d);
                outputs.add(POOLER_OUTPUT);
            }
            if (p.head() != null) {
                String headIn = emb;
                if (s.headOnClsAndPatchMean()) {
                    int prefixCount = 1 + s.numRegisterTokens();
                    String patchTokens = g.op("Slice", "patch_tokens_out", normed,
                            g.int64Initializer("patch_start", prefixCount),
                            g.int64Initializer("patch_end", Long.MAX_VALUE),
                            g.int64Initializer("axis1b", 1));
                    String mean = g.op("ReduceMean", "patch_mean", Map.of("axes", new long[] {1}, "keepdims", 0L),
                            patchTokens);
                    headIn = g.op("Concat", "cls_and_mean", Map.of("axis", 1L), emb, mean);
                }
                String logits = lin.emit(g, "head", headIn, p.head());
                g.floatOutput(logits, LOGITS, BATCH, p.head().outFeatures());
                outputs.add(LOGITS);
            }
        }
        return new Built(g.toModel(toolVersion, metadata), outputs, embeddingDim);
    }

    private static String expand(OnnxGraph g, String name, Tensor t, String n, int count, int d) {
        String init = g.floatInitializer(name, t.data(), t.shape());
        String shape = g.op("Concat", name + "_shape", Map.of("axis", 0L), n, g.int64Initializer(name + "_tail", count, d));
        return g.op("Expand", name + "_batch", init, shape);
    }

    private static String block(OnnxGraph g, LinearEmitter lin, String name, String x, VitParameters.Block b,
                                VitSpec s) {
        String a = layerNorm(g, name + ".norm1", x, b.norm1(), s.layerNormEps());
        a = attention(g, lin, name + ".attn", a, b, s);
        if (b.layerScale1() != null) {
            a = g.op("Mul", name + ".ls1", a, g.floatInitializer(name + ".ls1.gamma", b.layerScale1().data(),
                    b.layerScale1().shape()));
        }
        String h = g.op("Add", name + ".residual1", x, a);
        String m = layerNorm(g, name + ".norm2", h, b.norm2(), s.layerNormEps());
        m = lin.emit(g, name + ".fc1", m, b.fc1());
        m = activation(g, name + ".act", m, s.activation());
        m = lin.forActivationInput().emit(g, name + ".fc2", m, b.fc2());
        if (b.layerScale2() != null) {
            m = g.op("Mul", name + ".ls2", m, g.floatInitializer(name + ".ls2.gamma", b.layerScale2().data(),
                    b.layerScale2().shape()));
        }
        return g.op("Add", name + ".residual2", h, m);
    }

    private static String attention(OnnxGraph g, LinearEmitter lin, String name, String x, VitParameters.Block b,
                                    VitSpec s) {
        int heads = s.numHeads();
        int hd = s.headDim();
        String qkv = lin.emit(g, name + ".qkv", x, b.qkv());
        // [N, T, 3D] -> [N, T, 3, heads, hd] -> [3, N, heads, T, hd]
        String split = g.op("Reshape", name + ".qkv_split", qkv, g.int64Initializer(name + ".qkv_shape", 0, 0, 3, heads, hd));
        String perm = g.op("Transpose", name + ".qkv_perm", Map.of("perm", new long[] {2, 0, 3, 1, 4}), split);
        String q = g.op("Gather", name + ".q", Map.of("axis", 0L), perm, g.int64Initializer(name + ".i0", 0L));
        String k = g.op("Gather", name + ".k", Map.of("axis", 0L), perm, g.int64Initializer(name + ".i1", 1L));
        String v = g.op("Gather", name + ".v", Map.of("axis", 0L), perm, g.int64Initializer(name + ".i2", 2L));
        // Gather with a 1-element index keeps a leading axis of size 1; drop it.
        String sq = g.int64Initializer(name + ".axis0", 0);
        q = g.op("Squeeze", name + ".q3", q, sq);
        k = g.op("Squeeze", name + ".k3", k, sq);
        v = g.op("Squeeze", name + ".v3", v, sq);
        String kt = g.op("Transpose", name + ".kT", Map.of("perm", new long[] {0, 1, 3, 2}), k);
        String scores = g.op("MatMul", name + ".scores", q, kt);
        String scaled = g.op("Mul", name + ".scaled", scores, g.scalar(name + ".scale", (float) (1.0 / Math.sqrt(hd))));
        String probs = g.op("Softmax", name + ".probs", Map.of("axis", -1L), scaled);
        String ctx = g.op("MatMul", name + ".context", probs, v);
        String ctxT = g.op("Transpose", name + ".context_perm", Map.of("perm", new long[] {0, 2, 1, 3}), ctx);
        String merged = g.op("Reshape", name + ".merge", ctxT, g.int64Initializer(name + ".merge_shape", 0, 0, -1));
        return lin.emit(g, name + ".proj", merged, b.proj());
    }

    private static String layerNorm(OnnxGraph g, String name, String x, VitParameters.Norm norm, double eps) {
        String w = g.floatInitializer(name + ".weight", norm.weight().data(), norm.weight().shape());
        String b = g.floatInitializer(name + ".bias", norm.bias().data(), norm.bias().shape());
        return g.op("LayerNormalization", name, Map.of("axis", -1L, "epsilon", (float) eps), x, w, b);
    }

    private static String activation(OnnxGraph g, String name, String x, VitSpec.Activation act) {
        switch (act) {
            case GELU: {
                String div = g.op("Div", name + ".div", x, g.scalar(name + ".sqrt2", (float) Math.sqrt(2.0)));
                String erf = g.op("Erf", name + ".erf", div);
                String plus = g.op("Add", name + ".erf_plus1", erf, g.scalar(name + ".one", 1f));
                String mul = g.op("Mul", name + ".x_mul", x, plus);
                return g.op("Mul", name, mul, g.scalar(name + ".half", 0.5f));
            }
            case GELU_TANH: {
                String x3 = g.op("Mul", name + ".x2", x, x);
                x3 = g.op("Mul", name + ".x3", x3, x);
                String inner = g.op("Mul", name + ".c", x3, g.scalar(name + ".k", 0.044715f));
                inner = g.op("Add", name + ".inner", x, inner);
                inner = g.op("Mul", name + ".scaled", inner, g.scalar(name + ".s", (float) Math.sqrt(2.0 / Math.PI)));
                String t = g.op("Tanh", name + ".tanh", inner);
                t = g.op("Add", name + ".tanh_plus1", t, g.scalar(name + ".one", 1f));
                t = g.op("Mul", name + ".x_mul", x, t);
                return g.op("Mul", name, t, g.scalar(name + ".half", 0.5f));
            }
            case QUICK_GELU: {
                String z = g.op("Mul", name + ".z", x, g.scalar(name + ".k", 1.702f));
                String sig = g.op("Sigmoid", name + ".sigmoid", z);
                return g.op("Mul", name, x, sig);
            }
            default:
                throw new IllegalStateException(act.toString());
        }
    }
}
