package org.vitfit.finetune;

import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What one fine-tuning run trains and what it only reads: the trainable tensors laid out in one flat float vector
 * (the training graph's {@code params} input, the AdamW moments and the checkpoint files all use this layout) and
 * the frozen tensors the training graph needs as constants. Names and shapes follow {@link VitParameters} (linear
 * weights [in, out], patch weight [D, C, p, p]), so moving between the two is a lookup, never a re-layout.
 *
 * <p>Three scopes:
 * <ul>
 *   <li><b>full</b> (train blocks = depth, no LoRA): every backbone tensor and the classifier;</li>
 *   <li><b>last K blocks</b> (0 ≤ K &lt; depth): blocks depth−K … depth−1, the final norm (and CLIP's projection)
 *       and the classifier; K = 0 trains the classifier alone. The embedding and the first blocks are a frozen
 *       prefix that the training graph does not contain at all (its input is the prefix's output);</li>
 *   <li><b>LoRA</b> on the last K blocks: the adapters ({@code NAME.lora_a}, {@code NAME.lora_b}) and the
 *       classifier; the adapted blocks' own tensors and the final norm are frozen constants.</li>
 * </ul>
 * The flat layout groups tensors by learning-rate group and weight decay, in this order: backbone with decay,
 * backbone without, classifier with decay, classifier without (each in model order), so AdamW's per-element
 * learning rate and decay are a few constant runs.
 */
public final class TrainableParameters {

    /** Which learning rate a tensor gets: the backbone's (low; LoRA adapters use it too) or the classifier's. */
    public enum Group { BACKBONE, HEAD }

    /** What the training graph reads: images, the tokens entering its first block, or the embedding. */
    public enum Input { PIXELS, TOKENS, EMBEDDING }

    /**
     * One trainable tensor and where it lives in the flat vector.
     *
     * @param decay  whether AdamW's weight decay applies: weight matrices (and LoRA factors) yes; biases, norms,
     *               layer scales, class/register tokens and position embeddings no (the usual ViT recipe)
     * @param offset index of its first element in the flat vector
     */
    public record Param(String name, long[] shape, Group group, boolean decay, int offset) {
        public int size() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return Math.toIntExact(n);
        }
    }

    public static final String PATCH_WEIGHT = "patch_embed.weight";
    public static final String PATCH_BIAS = "patch_embed.bias";
    public static final String CLS_TOKEN = "cls_token";
    public static final String REGISTER_TOKENS = "register_tokens";
    public static final String POSITIONS = "pos_embed";
    public static final String PRE_NORM = "pre_norm";
    public static final String FINAL_NORM = "final_norm";
    public static final String PROJECTION = "projection";
    public static final String HEAD = "head";
    public static final String LORA_A = ".lora_a";
    public static final String LORA_B = ".lora_b";

    /** Every named tensor of the model plus the classifier and adapters, with its base (or current) value. */
    private record Entry(Tensor base, Group group, boolean decay, boolean trainable, boolean inGraph) {
    }

    private final VitSpec spec;
    private final int trainBlocks;
    private final LoraConfig lora;
    private final Map<String, Entry> entries;
    private final List<Param> params;
    private final Map<String, Param> byName = new LinkedHashMap<>();
    private final float[] flat;

    private TrainableParameters(VitSpec spec, int trainBlocks, LoraConfig lora, Map<String, Entry> entries,
                                float[] flat) {
        this.spec = spec;
        this.trainBlocks = trainBlocks;
        this.lora = lora;
        this.entries = entries;
        List<Param> ps = new ArrayList<>();
        List<Map.Entry<String, Entry>> trainable = new ArrayList<>();
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            if (e.getValue().trainable()) {
                trainable.add(e);
            }
        }
        trainable.sort(Comparator.comparingInt(e -> segment(e.getValue().group(), e.getValue().decay())));
        int offset = 0;
        for (Map.Entry<String, Entry> e : trainable) {
            Param p = new Param(e.getKey(), e.getValue().base().shape().clone(), e.getValue().group(),
                    e.getValue().decay(), offset);
            ps.add(p);
            byName.put(p.name(), p);
            offset = Math.addExact(offset, p.size());
        }
        this.params = List.copyOf(ps);
        if (flat == null) {
            flat = new float[offset];
            for (Param p : params) {
                System.arraycopy(entries.get(p.name()).base().data(), 0, flat, p.offset(), p.size());
            }
        } else if (flat.length != offset) {
            throw new IllegalArgumentException("the trainable tensors hold " + offset + " values, got " + flat.length);
        }
        this.flat = flat;
    }

    /** The position of a (group, decay) run in the flat layout. */
    static int segment(Group group, boolean decay) {
        return (group == Group.HEAD ? 2 : 0) + (decay ? 0 : 1);
    }

    /** Full fine-tuning: the backbone of {@code vit} (its own head and pooler excluded) and {@code head}. */
    public static TrainableParameters of(VitParameters vit, VitParameters.Linear head) {
        return of(vit, head, vit.blocks().size(), null, 0);
    }

    /**
     * @param head        the classifier on the embedding, [embeddingDim, classes]
     * @param trainBlocks how many of the last blocks train (depth = all, which for full fine-tuning includes the
     *                    embedding); with LoRA, how many of the last blocks get adapters (at least 1)
     * @param lora        adapters instead of full weights, or null
     * @param seed        draws the adapters' A factors
     */
    public static TrainableParameters of(VitParameters vit, VitParameters.Linear head, int trainBlocks,
                                         LoraConfig lora, long seed) {
        int depth = vit.blocks().size();
        if (trainBlocks < 0 || trainBlocks > depth) {
            throw new IllegalArgumentException("--train-blocks must be between 0 and " + depth + " (this model has "
                    + depth + " blocks), got " + trainBlocks);
        }
        if (lora != null && trainBlocks == 0) {
            throw new IllegalArgumentException("LoRA adapts the linear layers of the trainable blocks; with "
                    + "--train-blocks 0 there are none. Pass --train-blocks 1 or more, or drop --lora-rank");
        }
        int first = depth - trainBlocks;
        boolean full = lora == null && trainBlocks == depth;
        Map<String, Entry> m = new LinkedHashMap<>();
        Builder b = new Builder(m);
        // The embedding is part of the training graph only when it trains.
        b.add(PATCH_WEIGHT, vit.patchWeight(), Group.BACKBONE, true, full, full);
        b.add(PATCH_BIAS, vit.patchBias(), Group.BACKBONE, false, full, full);
        b.add(CLS_TOKEN, vit.classToken(), Group.BACKBONE, false, full, full);
        b.add(REGISTER_TOKENS, vit.registerTokens(), Group.BACKBONE, false, full, full);
        b.add(POSITIONS, vit.positions(), Group.BACKBONE, false, full, full);
        b.norm(PRE_NORM, vit.preNorm(), full, full);
        for (int i = 0; i < depth; i++) {
            VitParameters.Block blk = vit.blocks().get(i);
            String p = blockPrefix(i);
            boolean inGraph = i >= first;
            boolean trains = inGraph && lora == null;
            b.norm(p + "norm1", blk.norm1(), trains, inGraph);
            b.linear(p + "attn.qkv", blk.qkv(), Group.BACKBONE, trains, inGraph);
            b.linear(p + "attn.proj", blk.proj(), Group.BACKBONE, trains, inGraph);
            b.add(p + "ls1", blk.layerScale1(), Group.BACKBONE, false, trains, inGraph);
            b.norm(p + "norm2", blk.norm2(), trains, inGraph);
            b.linear(p + "mlp.fc1", blk.fc1(), Group.BACKBONE, trains, inGraph);
            b.linear(p + "mlp.fc2", blk.fc2(), Group.BACKBONE, trains, inGraph);
            b.add(p + "ls2", blk.layerScale2(), Group.BACKBONE, false, trains, inGraph);
            if (lora != null && inGraph) {
                for (LoraConfig.Target t : LoraConfig.Target.values()) {
                    if (lora.targets().contains(t)) {
                        String layer = p + t.layer();
                        Tensor w = m.get(layer + ".weight").base();
                        int in = (int) w.dim(0);
                        int out = (int) w.dim(1);
                        b.add(layer + LORA_A, loraA(in, lora.rank(), seed, layer), Group.BACKBONE, true, true, true);
                        b.add(layer + LORA_B, new Tensor(new float[lora.rank() * out], new long[] {lora.rank(), out}),
                                Group.BACKBONE, true, true, true);
                    }
                }
            }
        }
        // K = 0 without adapters reads the model's own embedding: the final norm is part of the frozen prefix.
        boolean tail = trainBlocks > 0;
        b.norm(FINAL_NORM, vit.finalNorm(), tail && lora == null, tail);
        b.add(PROJECTION, vit.projection(), Group.BACKBONE, true, tail && lora == null, tail);
        b.linear(HEAD, head, Group.HEAD, true, true);
        return new TrainableParameters(vit.spec(), trainBlocks, lora, m, null);
    }

    /** PEFT's default for lora_A: kaiming_uniform_(a = sqrt 5) on [rank, in], i.e. uniform in ±1/√in. */
    private static Tensor loraA(int in, int rank, long seed, String layer) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ layer.hashCode());
        double bound = 1 / Math.sqrt(in);
        float[] a = new float[in * rank];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (bound * (2 * r.nextDouble() - 1));
        }
        return new Tensor(a, new long[] {in, rank});
    }

    /** Same layout, other trainable values (from a checkpoint or a training session). */
    public TrainableParameters withFlat(float[] values) {
        return new TrainableParameters(spec, trainBlocks, lora, entries, values);
    }

    /** Same layout with the named trainable tensors replaced (tests). */
    public TrainableParameters withValues(Map<String, float[]> values) {
        float[] copy = flat.clone();
        for (Map.Entry<String, float[]> e : values.entrySet()) {
            Param p = param(e.getKey());
            if (e.getValue().length != p.size()) {
                throw new IllegalArgumentException(p.name() + ": expected " + p.size() + " values, got "
                        + e.getValue().length);
            }
            System.arraycopy(e.getValue(), 0, copy, p.offset(), p.size());
        }
        return withFlat(copy);
    }

    public static String blockPrefix(int i) {
        return "blocks." + i + ".";
    }

    public VitSpec spec() {
        return spec;
    }

    /** Index of the first block in the training graph (depth when only the classifier trains). */
    public int firstBlock() {
        return spec.numLayers() - trainBlocks;
    }

    public int trainBlocks() {
        return trainBlocks;
    }

    public LoraConfig lora() {
        return lora;
    }

    public Input input() {
        if (trainBlocks == 0) {
            return Input.EMBEDDING;
        }
        return lora == null && trainBlocks == spec.numLayers() ? Input.PIXELS : Input.TOKENS;
    }

    /** The trainable tensors in flat order. */
    public List<Param> params() {
        return params;
    }

    /** Number of trainable values (the flat vector's length). */
    public int size() {
        return flat.length;
    }

    /** The flat vector itself; callers must not modify it. */
    public float[] flat() {
        return flat;
    }

    public Param param(String name) {
        Param p = byName.get(name);
        if (p == null) {
            throw new IllegalArgumentException("no trainable tensor " + name);
        }
        return p;
    }

    public boolean isTrainable(String name) {
        return byName.containsKey(name);
    }

    /** Whether the training graph reads {@code name} (as a trainable input or a frozen constant). */
    public boolean inGraph(String name) {
        Entry e = entries.get(name);
        return e != null && e.inGraph();
    }

    /** A copy of a trainable tensor's current values. */
    public float[] value(String name) {
        Param p = param(name);
        float[] v = new float[p.size()];
        System.arraycopy(flat, p.offset(), v, 0, p.size());
        return v;
    }

    /** The current value of any tensor (trainable: from the flat vector; frozen: the model's), or null. */
    public Tensor tensor(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            return null;
        }
        return e.trainable() ? new Tensor(value(name), e.base().shape().clone()) : e.base();
    }

    public VitParameters.Linear head() {
        return linear(HEAD);
    }

    /** Trainable values split by kind, for the log line: "5,524,234 of 5,524,234 weights". */
    public long frozenCount() {
        long n = 0;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            if (!e.getValue().trainable() && !e.getKey().endsWith(LORA_A) && !e.getKey().endsWith(LORA_B)) {
                n += e.getValue().base().data().length;
            }
        }
        return n;
    }

    /**
     * The model with these values, adapters merged into their weights (W + alpha/r · A·B) and {@link #head()} as
     * the classifier on the embedding; the pooler is dropped (it was not trained).
     */
    public VitParameters toVit(VitParameters base) {
        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < base.blocks().size(); i++) {
            String p = blockPrefix(i);
            blocks.add(new VitParameters.Block(norm(p + "norm1"), merged(p + "attn.qkv"), merged(p + "attn.proj"),
                    tensor(p + "ls1"), norm(p + "norm2"), merged(p + "mlp.fc1"), merged(p + "mlp.fc2"),
                    tensor(p + "ls2")));
        }
        VitSpec s = base.spec();
        // The fine-tuned classifier reads the embedding (the class token), never DINOv2's [CLS, patch mean].
        VitSpec out = new VitSpec(s.family(), s.architecture(), s.channels(), s.imageHeight(), s.imageWidth(),
                s.patchSize(), s.hiddenSize(), s.numLayers(), s.numHeads(), s.mlpDim(), s.layerNormEps(),
                s.activation(), s.numRegisterTokens(), s.posEmbedSkipsPrefix(), s.clipPooling(), false);
        return new VitParameters(out, tensor(PATCH_WEIGHT), tensor(PATCH_BIAS), tensor(CLS_TOKEN),
                tensor(REGISTER_TOKENS), tensor(POSITIONS), norm(PRE_NORM), blocks, norm(FINAL_NORM), head(),
                null, tensor(PROJECTION));
    }

    /** A linear layer with its adapter (if any) folded in: W + scaling · A · B, in double, rounded once. */
    private VitParameters.Linear merged(String name) {
        VitParameters.Linear l = linear(name);
        Tensor a = tensor(name + LORA_A);
        if (l == null || a == null) {
            return l;
        }
        float[] bv = tensor(name + LORA_B).data();
        float[] av = a.data();
        float[] w = l.weight().data().clone();
        int in = (int) l.weight().dim(0);
        int out = (int) l.weight().dim(1);
        int r = (int) a.dim(1);
        double s = lora.scaling();
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) {
                double sum = 0;
                for (int k = 0; k < r; k++) {
                    sum += (double) av[i * r + k] * bv[k * out + o];
                }
                w[i * out + o] = (float) (w[i * out + o] + s * sum);
            }
        }
        return new VitParameters.Linear(new Tensor(w, l.weight().shape().clone()), l.bias());
    }

    private VitParameters.Norm norm(String name) {
        Tensor w = tensor(name + ".weight");
        return w == null ? null : new VitParameters.Norm(w, tensor(name + ".bias"));
    }

    private VitParameters.Linear linear(String name) {
        Tensor w = tensor(name + ".weight");
        return w == null ? null : new VitParameters.Linear(w, tensor(name + ".bias"));
    }

    private record Builder(Map<String, Entry> m) {
        void add(String name, Tensor t, Group group, boolean decay, boolean trainable, boolean inGraph) {
            if (t != null) {
                m.put(name, new Entry(t, group, decay, trainable, inGraph || trainable));
            }
        }

        void norm(String name, VitParameters.Norm n, boolean trainable, boolean inGraph) {
            if (n != null) {
                add(name + ".weight", n.weight(), Group.BACKBONE, false, trainable, inGraph);
                add(name + ".bias", n.bias(), Group.BACKBONE, false, trainable, inGraph);
            }
        }

        void linear(String name, VitParameters.Linear l, Group group, boolean trainable, boolean inGraph) {
            if (l != null) {
                add(name + ".weight", l.weight(), group, true, trainable, inGraph);
                add(name + ".bias", l.bias(), group, false, trainable, inGraph);
            }
        }
    }
}
