package org.vitfit.finetune;

import ai.onnx.proto.OnnxMl.ModelProto;
import org.vitfit.convert.VitSpec;
import org.vitfit.convert.graph.OnnxGraph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds, in standard ONNX ops (opset 17), the ViT forward pass with the parameters as graph inputs, the
 * loss, its hand-written backward pass and an AdamW update, so that the ordinary ONNX Runtime runs one
 * training step per {@code session.run}. The forward pass computes what {@code VitGraphBuilder} computes
 * (the embedding is the final-normed class token, or CLIP's projected post-norm), with LayerNorm decomposed
 * and the patch convolution written as patchify (Reshape/Transpose) + MatMul so every intermediate the
 * backward pass needs is a named value.
 *
 * <p>Inputs: {@code pixel_values} [N, C, H, W], {@code targets} [N, classes] (one-hot rows for softmax
 * cross-entropy, 0/1 for sigmoid binary cross-entropy), one input per {@link TrainableParameters.Param}
 * under its name, and in {@link Mode#TRAIN_STEP} the AdamW moments ({@code m.NAME}, {@code v.NAME}) and the
 * scalar hyper-parameters named by the constants below. The batch size is dynamic.
 */
public final class TrainingGraph {

    public static final String PIXELS = "pixel_values";
    public static final String TARGETS = "targets";
    public static final String LOSS = "loss";
    public static final String LOGITS = "logits";
    public static final String GRAD_NORM = "grad_norm";
    public static final String LR_BACKBONE = "lr_backbone";
    public static final String LR_HEAD = "lr_head";
    public static final String WEIGHT_DECAY = "weight_decay";
    public static final String BETA1 = "beta1";
    public static final String BETA2 = "beta2";
    public static final String EPSILON = "epsilon";
    /** 1 - beta1^t for the step t being taken (computed in Java: it depends on the step count only). */
    public static final String BIAS_CORRECTION1 = "bias_correction1";
    public static final String BIAS_CORRECTION2 = "bias_correction2";
    /** Global gradient-norm clipping threshold; +Infinity disables clipping. */
    public static final String MAX_GRAD_NORM = "max_grad_norm";

    private static final String BATCH = "batch";

    /** What the graph computes. */
    public enum Mode {
        /** logits only (validation, prediction). */
        FORWARD,
        /** loss, logits and {@code grad.NAME} for every parameter (gradient checks). */
        GRADIENTS,
        /** loss, logits, the pre-clipping gradient norm and {@code new.NAME}, {@code new_m.NAME}, {@code new_v.NAME}. */
        TRAIN_STEP
    }

    /** The training objective. */
    public enum Loss {
        /** mean over the batch of -sum(targets * log softmax(logits)). */
        SOFTMAX_CROSS_ENTROPY,
        /** mean over batch and classes of binary cross-entropy on sigmoid(logits) (PyTorch BCEWithLogitsLoss). */
        SIGMOID_BINARY_CROSS_ENTROPY
    }

    public static String gradName(String param) {
        return "grad." + param;
    }

    public static String firstMomentName(String param) {
        return "m." + param;
    }

    public static String secondMomentName(String param) {
        return "v." + param;
    }

    public static String updatedName(String param) {
        return "new." + param;
    }

    public static String updatedFirstMomentName(String param) {
        return "new_m." + param;
    }

    public static String updatedSecondMomentName(String param) {
        return "new_v." + param;
    }

    private final OnnxGraph g;
    private final VitSpec s;
    private final Map<String, TrainableParameters.Param> params = new LinkedHashMap<>();
    private final Map<String, String> grads = new HashMap<>();
    private final Map<String, String> constants = new HashMap<>();
    private int constantCount;

    private TrainingGraph(VitSpec spec, List<TrainableParameters.Param> params) {
        this.g = new OnnxGraph("vitfit_train_" + spec.family());
        this.s = spec;
        for (TrainableParameters.Param p : params) {
            this.params.put(p.name(), p);
        }
    }

    /**
     * Builds the graph for a ViT of {@code spec} whose trainable tensors are {@code params} (which must include
     * {@code head.weight} [embeddingDim, classes] and {@code head.bias}).
     */
    public static ModelProto build(VitSpec spec, List<TrainableParameters.Param> params, Mode mode, Loss loss,
                                   String toolVersion) {
        TrainingGraph t = new TrainingGraph(spec, params);
        return t.assemble(mode, loss).toModel(toolVersion, Map.of("vitfit.graph", "training:" + mode));
    }

    private OnnxGraph assemble(Mode mode, Loss loss) {
        TrainableParameters.Param headW = param(TrainableParameters.HEAD + ".weight");
        long classes = headW.shape()[1];
        String x = g.floatInput(PIXELS, BATCH, s.channels(), s.imageHeight(), s.imageWidth());
        String targets = mode == Mode.FORWARD ? null : g.floatInput(TARGETS, BATCH, classes);
        for (TrainableParameters.Param p : params.values()) {
            g.floatInput(p.name(), (Object[]) boxed(p.shape()));
        }

        // ---- forward ----
        Embed embed = embedForward(x);
        String h = embed.tokens;
        Norm pre = null;
        if (params.containsKey(TrainableParameters.PRE_NORM + ".weight")) {
            pre = normForward(TrainableParameters.PRE_NORM, h);
            h = pre.y;
        }
        List<Block> blocks = new ArrayList<>();
        for (int i = 0; i < s.numLayers(); i++) {
            Block b = blockForward(i, h);
            blocks.add(b);
            h = b.out;
        }
        String cls = op("Squeeze", "cls_final", op("Slice", "cls_final_3d", h, ints(0), ints(1), ints(1)), ints(1));
        Norm fin = normForward(TrainableParameters.FINAL_NORM, cls);
        String emb = fin.y;
        boolean projected = params.containsKey(TrainableParameters.PROJECTION);
        if (projected) {
            emb = op("MatMul", "image_embeds", fin.y, TrainableParameters.PROJECTION);
        }
        Linear head = linearForward(TrainableParameters.HEAD, emb);
        g.floatOutput(head.y, LOGITS, BATCH, classes);
        if (mode == Mode.FORWARD) {
            return g;
        }

        // ---- loss and its gradient with respect to the logits ----
        String z = head.y;
        String n = op("Squeeze", "batch_f", op("Cast", "batch_f1", Map.of("to", 1), op("Slice", "batch_i",
                op("Shape", "logit_shape", z), ints(0), ints(1))), ints(0));
        String lossValue;
        String dz;
        if (loss == Loss.SOFTMAX_CROSS_ENTROPY) {
            String logp = op("LogSoftmax", "log_probs", Map.of("axis", -1L), z);
            String total = op("ReduceSum", "ce_sum", Map.of("keepdims", 0L), op("Mul", "ce_terms", targets, logp));
            lossValue = op("Div", "ce_mean", op("Neg", "ce_neg", total), n);
            dz = op("Div", "d_logits", op("Sub", "probs_minus_t", op("Exp", "probs", logp), targets), n);
        } else {
            // max(z, 0) - z t + log(1 + exp(-|z|)): the overflow-free form PyTorch uses.
            String terms = op("Add", "bce_terms", op("Sub", "bce_a", op("Relu", "bce_relu", z),
                    op("Mul", "bce_zt", z, targets)), op("Softplus", "bce_sp", op("Neg", "bce_negabs",
                    op("Abs", "bce_abs", z))));
            lossValue = op("ReduceMean", "bce_mean", Map.of("keepdims", 0L), terms);
            String count = op("Mul", "bce_count", n, scalar(classes));
            dz = op("Div", "d_logits", op("Sub", "sig_minus_t", op("Sigmoid", "sig", z), targets), count);
        }
        g.floatOutput(lossValue, LOSS);

        // ---- backward ----
        String demb = linearBackward(head, dz);
        String dfin = demb;
        if (projected) {
            grads.put(TrainableParameters.PROJECTION, gemmTransA(fin.y, demb, "d_projection"));
            dfin = op("MatMul", "d_final_norm", demb, transpose(TrainableParameters.PROJECTION, 1, 0));
        }
        String dcls = normBackward(fin, dfin);
        // Only the class token reaches the head: its gradient is zero-padded back over the other tokens.
        String dh = op("Pad", "d_tokens_out", op("Unsqueeze", "d_cls_3d", dcls, ints(1)),
                ints(0, 0, 0, 0, s.numTokens() - 1, 0));
        for (int i = blocks.size() - 1; i >= 0; i--) {
            dh = blockBackward(blocks.get(i), dh);
        }
        if (pre != null) {
            dh = normBackward(pre, dh);
        }
        embedBackward(embed, dh);

        for (TrainableParameters.Param p : params.values()) {
            if (!grads.containsKey(p.name())) {
                throw new IllegalStateException("no gradient was built for " + p.name());
            }
        }
        if (mode == Mode.GRADIENTS) {
            for (TrainableParameters.Param p : params.values()) {
                g.floatOutput(grads.get(p.name()), gradName(p.name()), (Object[]) boxed(p.shape()));
            }
        } else {
            adamW();
        }
        return g;
    }

    // ---------------------------------------------------------------- patch embedding, tokens

    private record Embed(String patches2d, String tokens) {
    }

    private Embed embedForward(String x) {
        int c = s.channels();
        int p = s.patchSize();
        int d = s.hiddenSize();
        int gh = s.gridHeight();
        int gw = s.gridWidth();
        // stride == kernel, so the convolution is patchify + one matrix product; the weight keeps its [D, C, p, p] layout.
        String grid = op("Reshape", "patch_grid", x, ints(0, c, gh, p, gw, p));
        String perm = transpose(grid, 0, 2, 4, 1, 3, 5);
        String patches = op("Reshape", "patches", perm, ints(-1, (long) c * p * p));
        String w = op("Reshape", "patch_w2d", TrainableParameters.PATCH_WEIGHT, ints(d, (long) c * p * p));
        String proj = op("MatMul", "patch_proj", patches, transpose(w, 1, 0));
        if (params.containsKey(TrainableParameters.PATCH_BIAS)) {
            proj = op("Add", "patch_proj_b", proj, TrainableParameters.PATCH_BIAS);
        }
        String tokens = op("Reshape", "patch_tokens", proj, ints(-1, s.numPatches(), d));

        String n = op("Slice", "batch_size", op("Shape", "input_shape", x), ints(0), ints(1));
        List<String> parts = new ArrayList<>();
        parts.add(op("Expand", "cls_batch", TrainableParameters.CLS_TOKEN,
                op("Concat", "cls_shape", Map.of("axis", 0L), n, ints(1, d))));
        if (params.containsKey(TrainableParameters.REGISTER_TOKENS)) {
            parts.add(op("Expand", "registers_batch", TrainableParameters.REGISTER_TOKENS,
                    op("Concat", "registers_shape", Map.of("axis", 0L), n, ints(s.numRegisterTokens(), d))));
        }
        String all;
        if (s.posEmbedSkipsPrefix()) {
            parts.add(op("Add", "patches_pos", tokens, TrainableParameters.POSITIONS));
            all = op("Concat", "tokens", Map.of("axis", 1L), parts.toArray(String[]::new));
        } else {
            parts.add(tokens);
            all = op("Add", "tokens_pos", op("Concat", "tokens", Map.of("axis", 1L), parts.toArray(String[]::new)),
                    TrainableParameters.POSITIONS);
        }
        return new Embed(patches, all);
    }

    private void embedBackward(Embed e, String dtokens) {
        int prefix = 1 + s.numRegisterTokens();
        int d = s.hiddenSize();
        String dpatches = op("Slice", "d_patch_tokens", dtokens, ints(prefix), ints(s.numTokens()), ints(1));
        String dpos = s.posEmbedSkipsPrefix() ? dpatches : dtokens;
        grads.put(TrainableParameters.POSITIONS, op("ReduceSum", "d_pos", Map.of("keepdims", 1L), dpos, ints(0)));
        grads.put(TrainableParameters.CLS_TOKEN, op("ReduceSum", "d_cls_token", Map.of("keepdims", 1L),
                op("Slice", "d_cls_rows", dtokens, ints(0), ints(1), ints(1)), ints(0)));
        if (params.containsKey(TrainableParameters.REGISTER_TOKENS)) {
            grads.put(TrainableParameters.REGISTER_TOKENS, op("ReduceSum", "d_registers", Map.of("keepdims", 1L),
                    op("Slice", "d_register_rows", dtokens, ints(1), ints(prefix), ints(1)), ints(0)));
        }
        String dproj = op("Reshape", "d_patch_proj", dpatches, ints(-1, d));
        if (params.containsKey(TrainableParameters.PATCH_BIAS)) {
            grads.put(TrainableParameters.PATCH_BIAS, op("ReduceSum", "d_patch_bias", Map.of("keepdims", 0L),
                    dproj, ints(0)));
        }
        String dwT = gemmTransA(e.patches2d, dproj, "d_patch_wT"); // [C p p, D]
        grads.put(TrainableParameters.PATCH_WEIGHT, op("Reshape", "d_patch_w", transpose(dwT, 1, 0),
                ints(d, s.channels(), s.patchSize(), s.patchSize())));
    }

    // ---------------------------------------------------------------- transformer block

    private record Block(int index, String in, Norm norm1, Attention attn, String attnOut, Norm norm2,
                         Linear fc1, String act, Linear fc2, String out) {
    }

    private Block blockForward(int i, String x) {
        String p = TrainableParameters.blockPrefix(i);
        Norm n1 = normForward(p + "norm1", x);
        Attention at = attentionForward(p + "attn", n1.y);
        String a = at.proj.y;
        if (params.containsKey(p + "ls1")) {
            a = op("Mul", p + "ls1_out", a, p + "ls1");
        }
        String h = op("Add", p + "residual1", x, a);
        Norm n2 = normForward(p + "norm2", h);
        Linear fc1 = linearForward(p + "mlp.fc1", n2.y);
        String act = activation(p + "act", fc1.y);
        Linear fc2 = linearForward(p + "mlp.fc2", act);
        String m = fc2.y;
        if (params.containsKey(p + "ls2")) {
            m = op("Mul", p + "ls2_out", m, p + "ls2");
        }
        String out = op("Add", p + "residual2", h, m);
        return new Block(i, x, n1, at, at.proj.y, n2, fc1, act, fc2, out);
    }

    private String blockBackward(Block b, String dout) {
        String p = TrainableParameters.blockPrefix(b.index);
        String dm = dout;
        if (params.containsKey(p + "ls2")) {
            grads.put(p + "ls2", sumToLast(op("Mul", p + "d_ls2_terms", dout, b.fc2.y), s.hiddenSize(), p + "d_ls2"));
            dm = op("Mul", p + "d_fc2_out", dout, p + "ls2");
        }
        String dact = linearBackward(b.fc2, dm);
        String dfc1 = op("Mul", p + "d_fc1_out", dact, activationDerivative(p + "act", b.fc1.y));
        String dn2 = linearBackward(b.fc1, dfc1);
        String dh = op("Add", p + "d_residual1", dout, normBackward(b.norm2, dn2));
        String da = dh;
        if (params.containsKey(p + "ls1")) {
            grads.put(p + "ls1", sumToLast(op("Mul", p + "d_ls1_terms", dh, b.attnOut), s.hiddenSize(), p + "d_ls1"));
            da = op("Mul", p + "d_attn_out", dh, p + "ls1");
        }
        String dn1 = attentionBackward(p + "attn", b.attn, da);
        return op("Add", p + "d_block_in", dh, normBackward(b.norm1, dn1));
    }

    // ---------------------------------------------------------------- attention

    private record Attention(Linear qkv, String q, String k, String v, String probs, Linear proj) {
    }

    private Attention attentionForward(String name, String x) {
        int heads = s.numHeads();
        int hd = s.headDim();
        Linear qkv = linearForward(name + ".qkv", x);
        // [N, T, 3D] -> [N, T, 3, heads, hd] -> [3, N, heads, T, hd]
        String split = op("Reshape", name + ".qkv_split", qkv.y, ints(0, 0, 3, heads, hd));
        String perm = transpose(split, 2, 0, 3, 1, 4);
        String q = pick(name + ".q", perm, 0);
        String k = pick(name + ".k", perm, 1);
        String v = pick(name + ".v", perm, 2);
        String scores = op("MatMul", name + ".scores", q, transpose(k, 0, 1, 3, 2));
        String scaled = op("Mul", name + ".scaled", scores, scalar(attentionScale()));
        String probs = op("Softmax", name + ".probs", Map.of("axis", -1L), scaled);
        String ctx = op("MatMul", name + ".context", probs, v);
        String merged = op("Reshape", name + ".merge", transpose(ctx, 0, 2, 1, 3), ints(0, 0, -1));
        Linear proj = linearForward(name + ".proj", merged);
        return new Attention(qkv, q, k, v, probs, proj);
    }

    private String attentionBackward(String name, Attention a, String dout) {
        int heads = s.numHeads();
        int hd = s.headDim();
        String dmerged = linearBackward(a.proj, dout);
        String dctx = transpose(op("Reshape", name + ".d_ctx_split", dmerged, ints(0, 0, heads, hd)), 0, 2, 1, 3);
        String dprobs = op("MatMul", name + ".d_probs", dctx, transpose(a.v, 0, 1, 3, 2));
        String dv = op("MatMul", name + ".d_v", transpose(a.probs, 0, 1, 3, 2), dctx);
        // softmax: dx = y (dy - sum(dy y))
        String dot = op("ReduceSum", name + ".d_probs_dot", Map.of("keepdims", 1L),
                op("Mul", name + ".d_probs_y", dprobs, a.probs), ints(-1));
        String dscaled = op("Mul", name + ".d_scaled", a.probs, op("Sub", name + ".d_probs_c", dprobs, dot));
        String dscores = op("Mul", name + ".d_scores", dscaled, scalar(attentionScale()));
        String dq = op("MatMul", name + ".d_q", dscores, a.k);
        String dk = op("MatMul", name + ".d_k", transpose(dscores, 0, 1, 3, 2), a.q);
        String stacked = op("Concat", name + ".d_qkv_stack", Map.of("axis", 0L),
                op("Unsqueeze", name + ".d_q5", dq, ints(0)), op("Unsqueeze", name + ".d_k5", dk, ints(0)),
                op("Unsqueeze", name + ".d_v5", dv, ints(0)));
        String dqkv = op("Reshape", name + ".d_qkv", transpose(stacked, 1, 3, 0, 2, 4), ints(0, 0, -1));
        return linearBackward(a.qkv, dqkv);
    }

    private float attentionScale() {
        return (float) (1.0 / Math.sqrt(s.headDim()));
    }

    private String pick(String name, String stacked, int index) {
        return op("Squeeze", name, op("Slice", name + "_5d", stacked, ints(index), ints(index + 1), ints(0)), ints(0));
    }

    // ---------------------------------------------------------------- linear, layer norm, activations

    private record Linear(String name, String x, String y, long in, long out) {
    }

    private Linear linearForward(String name, String x) {
        TrainableParameters.Param w = param(name + ".weight");
        String y = op("MatMul", name + ".matmul", x, w.name());
        if (params.containsKey(name + ".bias")) {
            y = op("Add", name + ".out", y, name + ".bias");
        }
        return new Linear(name, x, y, w.shape()[0], w.shape()[1]);
    }

    /** Records the weight and bias gradients and returns the gradient with respect to the input. */
    private String linearBackward(Linear l, String dy) {
        String dy2 = op("Reshape", l.name + ".d_out2d", dy, ints(-1, l.out));
        String x2 = op("Reshape", l.name + ".in2d", l.x, ints(-1, l.in));
        grads.put(l.name + ".weight", gemmTransA(x2, dy2, l.name + ".d_weight"));
        if (params.containsKey(l.name + ".bias")) {
            grads.put(l.name + ".bias", op("ReduceSum", l.name + ".d_bias", Map.of("keepdims", 0L), dy2, ints(0)));
        }
        return op("MatMul", l.name + ".d_in", dy, transpose(l.name + ".weight", 1, 0));
    }

    private record Norm(String name, String xhat, String rstd, String y) {
    }

    private Norm normForward(String name, String x) {
        String mean = op("ReduceMean", name + ".mean", Map.of("axes", new long[] {-1}, "keepdims", 1L), x);
        String xc = op("Sub", name + ".centered", x, mean);
        String var = op("ReduceMean", name + ".var", Map.of("axes", new long[] {-1}, "keepdims", 1L),
                op("Mul", name + ".sq", xc, xc));
        String rstd = op("Reciprocal", name + ".rstd", op("Sqrt", name + ".std",
                op("Add", name + ".var_eps", var, scalar((float) s.layerNormEps()))));
        String xhat = op("Mul", name + ".xhat", xc, rstd);
        String y = op("Add", name + ".out", op("Mul", name + ".scaled", xhat, name + ".weight"), name + ".bias");
        return new Norm(name, xhat, rstd, y);
    }

    private String normBackward(Norm n, String dy) {
        int d = s.hiddenSize();
        grads.put(n.name + ".weight", sumToLast(op("Mul", n.name + ".d_w_terms", dy, n.xhat), d, n.name + ".d_weight"));
        grads.put(n.name + ".bias", sumToLast(dy, d, n.name + ".d_bias"));
        String dxhat = op("Mul", n.name + ".d_xhat", dy, n.name + ".weight");
        Map<String, Object> lastAxis = Map.of("axes", new long[] {-1}, "keepdims", 1L);
        String meanD = op("ReduceMean", n.name + ".d_mean", lastAxis, dxhat);
        String meanDX = op("ReduceMean", n.name + ".d_mean_x", lastAxis, op("Mul", n.name + ".d_xhat_x", dxhat, n.xhat));
        String inner = op("Sub", n.name + ".d_inner", op("Sub", n.name + ".d_c", dxhat, meanD),
                op("Mul", n.name + ".d_proj", n.xhat, meanDX));
        return op("Mul", n.name + ".d_in", inner, n.rstd);
    }

    private String activation(String name, String x) {
        switch (s.activation()) {
            case GELU: {
                String erf = op("Erf", name + ".erf", op("Mul", name + ".div", x, scalar((float) (1 / Math.sqrt(2)))));
                return op("Mul", name, op("Mul", name + ".x_mul", x, op("Add", name + ".erf1", erf, scalar(1f))),
                        scalar(0.5f));
            }
            case GELU_TANH: {
                String t = op("Tanh", name + ".tanh", tanhArgument(name, x));
                return op("Mul", name, op("Mul", name + ".x_mul", x, op("Add", name + ".tanh1", t, scalar(1f))),
                        scalar(0.5f));
            }
            case QUICK_GELU:
                return op("Mul", name, x, op("Sigmoid", name + ".sigmoid", op("Mul", name + ".z", x, scalar(1.702f))));
            default:
                throw new IllegalStateException(s.activation().toString());
        }
    }

    /** d activation / dx at {@code x}. */
    private String activationDerivative(String name, String x) {
        switch (s.activation()) {
            case GELU: {
                // 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
                String cdf = op("Mul", name + ".d_cdf", op("Add", name + ".d_erf1", op("Erf", name + ".d_erf",
                        op("Mul", name + ".d_div", x, scalar((float) (1 / Math.sqrt(2))))), scalar(1f)), scalar(0.5f));
                String pdf = op("Mul", name + ".d_pdf", op("Exp", name + ".d_exp", op("Mul", name + ".d_negsq",
                        op("Mul", name + ".d_sq", x, x), scalar(-0.5f))), scalar((float) (1 / Math.sqrt(2 * Math.PI))));
                return op("Add", name + ".d", cdf, op("Mul", name + ".d_xpdf", x, pdf));
            }
            case GELU_TANH: {
                // 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
                String t = op("Tanh", name + ".d_tanh", tanhArgument(name + ".d", x));
                String first = op("Mul", name + ".d_first", op("Add", name + ".d_t1", t, scalar(1f)), scalar(0.5f));
                String sech2 = op("Sub", name + ".d_sech2", scalar(1f), op("Mul", name + ".d_t2", t, t));
                String inner = op("Mul", name + ".d_inner", op("Add", name + ".d_poly", scalar(1f),
                        op("Mul", name + ".d_x2k", op("Mul", name + ".d_x2", x, x), scalar(3 * 0.044715f))),
                        scalar((float) Math.sqrt(2 / Math.PI)));
                String second = op("Mul", name + ".d_second", op("Mul", name + ".d_hx", x, scalar(0.5f)),
                        op("Mul", name + ".d_sech2_inner", sech2, inner));
                return op("Add", name + ".d", first, second);
            }
            case QUICK_GELU: {
                // s + 1.702 x s (1 - s), s = sigmoid(1.702 x)
                String sig = op("Sigmoid", name + ".d_sigmoid", op("Mul", name + ".d_z", x, scalar(1.702f)));
                String slope = op("Mul", name + ".d_slope", op("Mul", name + ".d_kx", x, scalar(1.702f)),
                        op("Mul", name + ".d_s1s", sig, op("Sub", name + ".d_1s", scalar(1f), sig)));
                return op("Add", name + ".d", sig, slope);
            }
            default:
                throw new IllegalStateException(s.activation().toString());
        }
    }

    private String tanhArgument(String name, String x) {
        String x3 = op("Mul", name + ".x3", op("Mul", name + ".x2", x, x), x);
        String inner = op("Add", name + ".inner", x, op("Mul", name + ".cubic", x3, scalar(0.044715f)));
        return op("Mul", name + ".arg", inner, scalar((float) Math.sqrt(2 / Math.PI)));
    }

    // ---------------------------------------------------------------- AdamW

    /**
     * PyTorch's AdamW on the globally clipped gradient: p *= 1 - lr wd (decaying tensors only);
     * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
     */
    private void adamW() {
        String lrBackbone = g.floatInput(LR_BACKBONE);
        String lrHead = g.floatInput(LR_HEAD);
        String wd = g.floatInput(WEIGHT_DECAY);
        String b1 = g.floatInput(BETA1);
        String b2 = g.floatInput(BETA2);
        String eps = g.floatInput(EPSILON);
        String bc1 = g.floatInput(BIAS_CORRECTION1);
        String bc2 = g.floatInput(BIAS_CORRECTION2);
        String maxNorm = g.floatInput(MAX_GRAD_NORM);

        List<String> squares = new ArrayList<>();
        for (TrainableParameters.Param p : params.values()) {
            squares.add(op("ReduceSumSquare", "sq." + p.name(), Map.of("keepdims", 0L), grads.get(p.name())));
        }
        String norm = op("Sqrt", "grad_norm_value", op("Sum", "grad_sq_total", squares.toArray(String[]::new)));
        g.floatOutput(norm, GRAD_NORM);
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        String clip = op("Min", "clip_coef", scalar(1f), op("Div", "clip_ratio", maxNorm,
                op("Add", "grad_norm_eps", norm, scalar(1e-6f))));
        String oneMinusB1 = op("Sub", "one_minus_b1", scalar(1f), b1);
        String oneMinusB2 = op("Sub", "one_minus_b2", scalar(1f), b2);
        String sqrtBc2 = op("Sqrt", "sqrt_bc2", bc2);
        Map<TrainableParameters.Group, String> lr = Map.of(TrainableParameters.Group.BACKBONE, lrBackbone,
                TrainableParameters.Group.HEAD, lrHead);
        Map<TrainableParameters.Group, String> stepSize = new HashMap<>();
        Map<TrainableParameters.Group, String> decayFactor = new HashMap<>();
        for (TrainableParameters.Group group : TrainableParameters.Group.values()) {
            String l = lr.get(group);
            stepSize.put(group, op("Div", "step_size_" + group, l, bc1));
            decayFactor.put(group, op("Sub", "decay_factor_" + group, scalar(1f), op("Mul", "lr_wd_" + group, l, wd)));
        }
        for (TrainableParameters.Param p : params.values()) {
            String name = p.name();
            Object[] dims = boxed(p.shape());
            String m = g.floatInput(firstMomentName(name), dims);
            String v = g.floatInput(secondMomentName(name), dims);
            String grad = op("Mul", "clipped." + name, grads.get(name), clip);
            String m1 = op("Add", "m1." + name, op("Mul", "b1m." + name, m, b1), op("Mul", "gm." + name, grad, oneMinusB1));
            String v1 = op("Add", "v1." + name, op("Mul", "b2v." + name, v, b2),
                    op("Mul", "g2v." + name, op("Mul", "g2." + name, grad, grad), oneMinusB2));
            String decayed = p.decay() ? op("Mul", "decayed." + name, name, decayFactor.get(p.group())) : name;
            String denom = op("Add", "denom." + name, op("Div", "vhat." + name, op("Sqrt", "sqrt_v." + name, v1), sqrtBc2),
                    eps);
            String update = op("Mul", "update." + name, op("Div", "ratio." + name, m1, denom), stepSize.get(p.group()));
            String p1 = op("Sub", "p1." + name, decayed, update);
            g.floatOutput(p1, updatedName(name), dims);
            g.floatOutput(m1, updatedFirstMomentName(name), dims);
            g.floatOutput(v1, updatedSecondMomentName(name), dims);
        }
    }

    // ---------------------------------------------------------------- helpers

    private TrainableParameters.Param param(String name) {
        TrainableParameters.Param p = params.get(name);
        if (p == null) {
            throw new IllegalArgumentException("the training graph needs a trainable tensor " + name);
        }
        return p;
    }

    private String op(String type, String hint, Map<String, Object> attributes, String... inputs) {
        return g.op(type, hint, attributes, inputs);
    }

    private String op(String type, String hint, String... inputs) {
        return g.op(type, hint, inputs);
    }

    private String transpose(String x, long... perm) {
        return op("Transpose", x + ".T", Map.of("perm", perm), x);
    }

    /** {@code a^T b} for 2-D a [rows, in] and b [rows, out]: the weight gradient of a linear layer. */
    private String gemmTransA(String a, String b, String hint) {
        return op("Gemm", hint, Map.of("transA", 1L), a, b);
    }

    private String sumToLast(String x, long last, String hint) {
        return op("ReduceSum", hint, Map.of("keepdims", 0L), op("Reshape", hint + ".2d", x, ints(-1, last)), ints(0));
    }

    private String ints(long... values) {
        return constants.computeIfAbsent("i" + Arrays.toString(values),
                k -> g.int64Initializer("const_i64_" + constantCount++, values));
    }

    private String scalar(float value) {
        return constants.computeIfAbsent("f" + Float.floatToIntBits(value),
                k -> g.scalar("const_f32_" + constantCount++, value));
    }

    private static Object[] boxed(long[] shape) {
        Object[] o = new Object[shape.length];
        for (int i = 0; i < shape.length; i++) {
            o[i] = shape[i];
        }
        return o;
    }
}
