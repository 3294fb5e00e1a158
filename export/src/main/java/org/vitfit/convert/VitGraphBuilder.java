package org.vitfit.convert;

import ai.onnx.proto.OnnxMl.ModelProto;
import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.convert.quant.DynamicInt8;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The one ViT forward pass, written once in standard ONNX ops for every checkpoint family.
 *
 * <p>Inputs {@code pixel_values} [N, C, H, W] with a dynamic batch; outputs {@code embedding} [N, E],
 * {@code last_hidden_state} [N, T, D] and, when the checkpoint carries them, {@code logits} [N, classes]
 * and {@code pooler_output} [N, D]. Linear layers are MatMul + Add on pre-transposed weights and attention
 * is spelled out (MatMul, Softmax, MatMul) so ONNX Runtime's graph optimiser can fuse them; LayerNorm
 * and GELU use the forms it fuses (native LayerNormalization, the erf pattern).
 *
 * <p>Distilled DeiT adds its distillation token after the class token; Swin replaces the token mixing (windowed
 * attention with relative position bias, cyclic shifts with their mask, patch merging between stages, see
 * {@link #swin}) while sharing the patch embedding, LayerNorm, linear layers, attention core and MLP with the ViT.
 *
 * <p>{@link Precision} changes only how the graph stores and computes: float16 everywhere inside (Casts at the
 * edges), or the matrix products in int8, written by a {@link LinearEmitter} from {@code org.vitfit.convert.quant}
 * (dynamic: qkv, proj, fc1; static, calibrated: every block product). The patch convolution (under 1% of the work),
 * norms, softmax and activations stay float.
 */
public final class VitGraphBuilder {

    public static final String INPUT = "pixel_values";
    public static final String EMBEDDING = "embedding";
    public static final String LAST_HIDDEN_STATE = "last_hidden_state";
    public static final String LOGITS = "logits";
    public static final String POOLER_OUTPUT = "pooler_output";
    /** Output of {@link #buildPrefix}. */
    public static final String TOKENS = "prefix_tokens";

    private static final String BATCH = "batch";

    private VitGraphBuilder() {
    }

    /** The built model plus the names of its outputs, in graph order. */
    public record Built(ModelProto model, List<String> outputs, int embeddingDim) {
    }

    public static Built build(VitParameters p, String toolVersion, Map<String, String> metadata) {
        return build(p, toolVersion, metadata, Precision.FP32);
    }

    /** Builds in {@code precision}; int8 is the dynamic kind ({@link DynamicInt8}). */
    public static Built build(VitParameters p, String toolVersion, Map<String, String> metadata, Precision precision) {
        return build(p, toolVersion, metadata, precision,
                precision == Precision.INT8 ? DynamicInt8.INSTANCE : LinearEmitter.FLOAT);
    }

    /**
     * Builds with {@code lin} writing the matrix products (static int8, or the calibration probe); {@code precision}
     * decides only whether float initializers are stored as float16.
     */
    public static Built build(VitParameters p, String toolVersion, Map<String, String> metadata, Precision precision,
                              LinearEmitter lin) {
        VitSpec s = p.spec();
        OnnxGraph g = new OnnxGraph("vitfit_" + s.family(), precision == Precision.FP16);
        int d = s.hiddenSize();
        String x = g.floatInput(INPUT, BATCH, s.channels(), s.imageHeight(), s.imageWidth());

        String patches = patchEmbedding(g, p, x);
        if (s.swin() != null) {
            return swin(g, lin, p, patches, toolVersion, metadata);
        }

        String tokens = vitTokens(g, p, x, patches);

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
            String axis1 = g.int64Initializer("axis1", 1);
            String cls2d = g.op("Squeeze", "cls_2d", cls, axis1);
            String emb = cls2d;
            String dist2d = null;
            if (p.distillationToken() != null) {
                // DeiT: the embedding is the mean of the class and distillation tokens (timm's pre-logits).
                String dist = g.op("Gather", "distillation_token_out", Map.of("axis", 1L), normed,
                        g.int64Initializer("distillation_index", 1));
                dist2d = g.op("Squeeze", "distillation_2d", dist, axis1);
                emb = half(g, "cls_distillation_mean", g.op("Add", "cls_distillation_sum", cls2d, dist2d));
            }
            embeddingDim = d;
            g.floatOutput(emb, EMBEDDING, BATCH, d);
            outputs.add(LAST_HIDDEN_STATE);
            outputs.add(EMBEDDING);
            if (p.pooler() != null) {
                String dense = lin.emit(g, "pooler", cls2d, p.pooler());
                g.floatOutput(g.op("Tanh", "pooler_tanh", dense), POOLER_OUTPUT, BATCH, d);
                outputs.add(POOLER_OUTPUT);
            }
            if (p.head() != null) {
                String headIn = cls2d;
                if (s.headOnClsAndPatchMean()) {
                    int prefixCount = s.numPrefixTokens();
                    String patchTokens = g.op("Slice", "patch_tokens_out", normed,
                            g.int64Initializer("patch_start", prefixCount),
                            g.int64Initializer("patch_end", Long.MAX_VALUE),
                            g.int64Initializer("axis1b", 1));
                    String mean = g.op("ReduceMean", "patch_mean", Map.of("axes", new long[] {1}, "keepdims", 0L),
                            patchTokens);
                    headIn = g.op("Concat", "cls_and_mean", Map.of("axis", 1L), cls2d, mean);
                }
                String logits = lin.emit(g, "head", headIn, p.head());
                if (p.distillationHead() != null) {
                    // DeiTForImageClassificationWithTeacher / timm at inference: the mean of both heads.
                    String distLogits = lin.emit(g, "head_distillation", dist2d, p.distillationHead());
                    logits = half(g, "logits_mean", g.op("Add", "logits_sum", logits, distLogits));
                }
                g.floatOutput(logits, LOGITS, BATCH, p.head().outFeatures());
                outputs.add(LOGITS);
            }
        }
        return new Built(g.toModel(toolVersion, metadata), outputs, embeddingDim);
    }

    /**
     * The embedding and the first {@code blocks} transformer blocks alone: {@code pixel_values} [N, C, H, W] in,
     * {@link #TOKENS} [N, T, D] out, the residual stream entering block {@code blocks} (no final norm). Fine-tuning
     * runs the frozen first layers of a model through this, so they compute exactly what the converted model does.
     */
    public static ModelProto buildPrefix(VitParameters p, int blocks, String toolVersion, Map<String, String> metadata) {
        VitSpec s = p.spec();
        if (s.swin() != null || blocks < 0 || blocks > p.blocks().size()) {
            throw new IllegalArgumentException("a prefix of " + blocks + " blocks of a " + p.blocks().size()
                    + "-block " + s.family() + " model");
        }
        OnnxGraph g = new OnnxGraph("vitfit_prefix_" + s.family());
        String x = g.floatInput(INPUT, BATCH, s.channels(), s.imageHeight(), s.imageWidth());
        String h = vitTokens(g, p, x, patchEmbedding(g, p, x));
        for (int i = 0; i < blocks; i++) {
            h = block(g, LinearEmitter.FLOAT, "blocks." + i, h, p.blocks().get(i), s);
        }
        g.floatOutput(h, TOKENS, BATCH, s.numTokens(), s.hiddenSize());
        return g.toModel(toolVersion, metadata);
    }

    /** The class (distillation, register) tokens, position embeddings and the optional pre-norm: [N, T, D]. */
    private static String vitTokens(OnnxGraph g, VitParameters p, String x, String patches) {
        VitSpec s = p.spec();
        int d = s.hiddenSize();
        // Prefix tokens broadcast over the dynamic batch.
        String batchShape = g.op("Shape", "input_shape", x);
        String n = g.op("Slice", "batch_size", batchShape, g.int64Initializer("zero1", 0), g.int64Initializer("one1", 1));
        List<String> prefix = new ArrayList<>();
        prefix.add(expand(g, "cls", p.classToken(), n, 1, d));
        if (p.distillationToken() != null) {
            prefix.add(expand(g, "distillation", p.distillationToken(), n, 1, d));
        }
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
        return tokens;
    }

    /** Patch embedding: a strided convolution, then [N, D, h, w] -> [N, h*w, D]. */
    private static String patchEmbedding(OnnxGraph g, VitParameters p, String x) {
        VitSpec s = p.spec();
        String patchW = g.floatInitializer("patch_embed.weight", p.patchWeight().data(), p.patchWeight().shape());
        long[] k = {s.patchSize(), s.patchSize()};
        String conv = p.patchBias() == null
                ? g.op("Conv", "patch_conv", Map.of("kernel_shape", k, "strides", k), x, patchW)
                : g.op("Conv", "patch_conv", Map.of("kernel_shape", k, "strides", k), x, patchW,
                        g.floatInitializer("patch_embed.bias", p.patchBias().data(), p.patchBias().shape()));
        String flat = g.op("Reshape", "patch_flat", conv, g.int64Initializer("shape_n_d_p", 0, p.patchWeight().dim(0), -1));
        return g.op("Transpose", "patch_tokens", Map.of("perm", new long[] {0, 2, 1}), flat);
    }

    private static String half(OnnxGraph g, String name, String x) {
        return g.op("Mul", name, x, g.scalar(name + ".half", 0.5f));
    }

    /**
     * Swin's body and outputs after the patch embedding: the patch norm, then per stage a patch merging (from the
     * second stage on) and its blocks, whose attention runs inside windows, every second block on the grid
     * cyclically shifted by half a window; the final norm, and the embedding as the mean over the last tokens
     * (transformers' {@code pooler_output}, timm's pooled pre-logits).
     */
    private static Built swin(OnnxGraph g, LinearEmitter lin, VitParameters p, String patches, String toolVersion,
                              Map<String, String> metadata) {
        VitSpec s = p.spec();
        VitSpec.Swin sw = s.swin();
        VitParameters.SwinParameters sp = p.swin();
        List<SwinGeometry.Stage> stages;
        try {
            stages = SwinGeometry.stages(s);
        } catch (ConversionException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        String t = layerNorm(g, "patch_norm", patches, sp.patchNorm(), sw.patchNormEps());
        for (int i = 0; i < sw.stages(); i++) {
            String stage = "layers." + i;
            SwinGeometry.Stage st = stages.get(i);
            if (i > 0) {
                t = patchMerging(g, lin, stage + ".merge", t, stages.get(i - 1), sw.dim(i - 1), sp.merges().get(i - 1),
                        sw.patchNormEps());
            }
            // Constants every block of the stage shares: the table index and, for shifted blocks, the mask.
            int tw = st.tokensPerWindow();
            String index = g.int64Initializer(stage + ".relative_position_index", SwinGeometry.relativePositionIndex(st.window()));
            String mask = st.shift() == 0 ? null
                    : g.floatInitializer(stage + ".shift_mask", SwinGeometry.shiftMask(st), st.windowsPerImage(), 1, tw, tw);
            for (int j = 0; j < sw.depths().get(i); j++) {
                int b = sw.firstBlock(i) + j;
                int shift = j % 2 == 1 ? st.shift() : 0;
                String name = stage + ".blocks." + j;
                VitParameters.Block block = p.blocks().get(b);
                String a = layerNorm(g, name + ".norm1", t, block.norm1(), s.layerNormEps());
                a = windowAttention(g, lin, name + ".attn", a, block, sp.relativeBias().get(b), index,
                        shift == 0 ? null : mask, st, shift, sw.heads().get(i), sw.dim(i));
                String h = g.op("Add", name + ".residual1", t, a);
                t = mlpResidual(g, lin, name, h, block, s);
            }
        }
        int d = s.hiddenSize();
        String normed = layerNorm(g, "final_norm", t, p.finalNorm(), s.layerNormEps());
        g.floatOutput(normed, LAST_HIDDEN_STATE, BATCH, s.numTokens(), d);
        String emb = g.op("ReduceMean", "token_mean", Map.of("axes", new long[] {1}, "keepdims", 0L), normed);
        g.floatOutput(emb, EMBEDDING, BATCH, d);
        List<String> outputs = new ArrayList<>(List.of(LAST_HIDDEN_STATE, EMBEDDING));
        if (p.head() != null) {
            g.floatOutput(lin.emit(g, "head", emb, p.head()), LOGITS, BATCH, p.head().outFeatures());
            outputs.add(LOGITS);
        }
        return new Built(g.toModel(toolVersion, metadata), outputs, d);
    }

    /**
     * (Shifted) window attention on {@code x} [N, H*W, C]: roll the grid by {@code -shift}, cut it into
     * {@code window}x{@code window} windows (row-major), attend inside each window with the relative position bias
     * (and the mask when shifted), then put the windows back and roll by {@code +shift}.
     */
    private static String windowAttention(OnnxGraph g, LinearEmitter lin, String name, String x, VitParameters.Block b,
                                          Tensor biasTable, String index, String mask, SwinGeometry.Stage st, int shift,
                                          int heads, int c) {
        int h = st.height();
        int w = st.width();
        int win = st.window();
        int tw = st.tokensPerWindow();
        int nw = st.windowsPerImage();
        String grid = g.op("Reshape", name + ".grid", x, g.int64Initializer(name + ".grid_shape", 0, h, w, c));
        if (shift != 0) {
            grid = roll(g, name + ".shift", grid, -shift, h, w);
        }
        String split = g.op("Reshape", name + ".window_split", grid,
                g.int64Initializer(name + ".window_split_shape", -1, h / win, win, w / win, win, c));
        String perm = g.op("Transpose", name + ".window_perm", Map.of("perm", new long[] {0, 1, 3, 2, 4, 5}), split);
        String windows = g.op("Reshape", name + ".windows", perm, g.int64Initializer(name + ".windows_shape", -1, tw, c));

        // The bias [heads, T, T] gathered from the table by the index, as both libraries do it in their forward.
        String table = g.floatInitializer(name + ".relative_position_bias_table", biasTable.data(), biasTable.shape());
        String gathered = g.op("Gather", name + ".bias_gather", Map.of("axis", 0L), table, index);
        String byPair = g.op("Reshape", name + ".bias_pairs", gathered, g.int64Initializer(name + ".bias_shape", tw, tw, heads));
        String bias = g.op("Transpose", name + ".relative_position_bias", Map.of("perm", new long[] {2, 0, 1}), byPair);
        String attended = attention(g, lin, name, windows, b, heads, scores -> {
            String biased = g.op("Add", name + ".scores_bias", scores, bias);
            if (mask == null) {
                return biased;
            }
            String perImage = g.op("Reshape", name + ".scores_by_window", biased,
                    g.int64Initializer(name + ".scores_by_window_shape", -1, nw, heads, tw, tw));
            String masked = g.op("Add", name + ".scores_masked", perImage, mask);
            return g.op("Reshape", name + ".scores_masked_flat", masked,
                    g.int64Initializer(name + ".scores_flat_shape", -1, heads, tw, tw));
        });

        String back = g.op("Reshape", name + ".window_unsplit", attended,
                g.int64Initializer(name + ".window_unsplit_shape", -1, h / win, w / win, win, win, c));
        String unperm = g.op("Transpose", name + ".window_unperm", Map.of("perm", new long[] {0, 1, 3, 2, 4, 5}), back);
        String merged = g.op("Reshape", name + ".grid_out", unperm, g.int64Initializer(name + ".grid_out_shape", -1, h, w, c));
        if (shift != 0) {
            merged = roll(g, name + ".unshift", merged, shift, h, w);
        }
        return g.op("Reshape", name + ".tokens", merged, g.int64Initializer(name + ".tokens_shape", -1, (long) h * w, c));
    }

    /** torch.roll(x, (k, k), dims=(1, 2)) on [N, H, W, C]: element i moves to i + k (mod n), as two slices each. */
    private static String roll(OnnxGraph g, String name, String x, int k, int h, int w) {
        String out = x;
        int[] sizes = {h, w};
        for (int axis = 1; axis <= 2; axis++) {
            int n = sizes[axis - 1];
            int cut = n - Math.floorMod(k, n);   // out = concat(x[cut:], x[:cut])
            String ax = g.int64Initializer(name + ".axis" + axis, axis);
            String tail = g.op("Slice", name + ".tail" + axis, out, g.int64Initializer(name + ".tail_start" + axis, cut),
                    g.int64Initializer(name + ".tail_end" + axis, n), ax);
            String head = g.op("Slice", name + ".head" + axis, out, g.int64Initializer(name + ".head_start" + axis, 0),
                    g.int64Initializer(name + ".head_end" + axis, cut), ax);
            out = g.op("Concat", name + ".rolled" + axis, Map.of("axis", (long) axis), tail, head);
        }
        return out;
    }

    /**
     * Patch merging of a stage's [N, H*W, C] tokens into [N, H/2*W/2, 2C]: each 2x2 neighbourhood concatenated
     * as (row 0, col 0), (row 1, col 0), (row 0, col 1), (row 1, col 1) (both libraries' order), normed, reduced.
     */
    private static String patchMerging(OnnxGraph g, LinearEmitter lin, String name, String x, SwinGeometry.Stage from,
                                       int c, VitParameters.Merge m, double eps) {
        int h = from.height();
        int w = from.width();
        String split = g.op("Reshape", name + ".split", x,
                g.int64Initializer(name + ".split_shape", -1, h / 2, 2, w / 2, 2, c));
        String perm = g.op("Transpose", name + ".perm", Map.of("perm", new long[] {0, 1, 3, 4, 2, 5}), split);
        String flat = g.op("Reshape", name + ".flat", perm,
                g.int64Initializer(name + ".flat_shape", -1, (long) (h / 2) * (w / 2), 4L * c));
        String normed = layerNorm(g, name + ".norm", flat, m.norm(), eps);
        return lin.emit(g, name + ".reduction", normed, m.reduction());
    }

    private static String expand(OnnxGraph g, String name, Tensor t, String n, int count, int d) {
        String init = g.floatInitializer(name, t.data(), t.shape());
        String shape = g.op("Concat", name + "_shape", Map.of("axis", 0L), n, g.int64Initializer(name + "_tail", count, d));
        return g.op("Expand", name + "_batch", init, shape);
    }

    private static String block(OnnxGraph g, LinearEmitter lin, String name, String x, VitParameters.Block b,
                                VitSpec s) {
        String a = layerNorm(g, name + ".norm1", x, b.norm1(), s.layerNormEps());
        a = attention(g, lin, name + ".attn", a, b, s.numHeads(), NO_SCORE_TERMS);
        if (b.layerScale1() != null) {
            a = g.op("Mul", name + ".ls1", a, g.floatInitializer(name + ".ls1.gamma", b.layerScale1().data(),
                    b.layerScale1().shape()));
        }
        String h = g.op("Add", name + ".residual1", x, a);
        return mlpResidual(g, lin, name, h, b, s);
    }

    /** The second half of every block: {@code h + MLP(LayerNorm(h))}, with layer scale where the block has one. */
    private static String mlpResidual(OnnxGraph g, LinearEmitter lin, String name, String h, VitParameters.Block b,
                                      VitSpec s) {
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

    /**
     * Multi-head self-attention over the tokens of {@code x} [B, T, D] ({@code B} images, or windows for Swin);
     * {@code addToScores} adds what the family adds to the scaled scores before the softmax (Swin: relative
     * position bias and the shifted-window mask; nothing for ViT).
     */
    private static String attention(OnnxGraph g, LinearEmitter lin, String name, String x, VitParameters.Block b,
                                    int heads, UnaryOperator<String> addToScores) {
        String merged = addToScores == NO_SCORE_TERMS ? lin.fusedSelfAttention(g, name, x, b.qkv(), heads) : null;
        if (merged == null) {
            merged = spelledOutAttention(g, lin, name, x, b, heads, addToScores);
        }
        return lin.emit(g, name + ".proj", merged, b.proj());
    }

    /** Nothing added to the scores (ViT); the only case an emitter's fused self-attention may take. */
    private static final UnaryOperator<String> NO_SCORE_TERMS = scores -> scores;

    /** Attention in standard ops, up to the merged heads [B, T, D]. */
    private static String spelledOutAttention(OnnxGraph g, LinearEmitter lin, String name, String x,
                                              VitParameters.Block b, int heads, UnaryOperator<String> addToScores) {
        int hd = (int) (b.proj().weight().dim(0) / heads);
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
        String probs = g.op("Softmax", name + ".probs", Map.of("axis", -1L), addToScores.apply(scaled));
        String ctx = g.op("MatMul", name + ".context", probs, v);
        String ctxT = g.op("Transpose", name + ".context_perm", Map.of("perm", new long[] {0, 2, 1, 3}), ctx);
        return g.op("Reshape", name + ".merge", ctxT, g.int64Initializer(name + ".merge_shape", 0, 0, -1));
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
