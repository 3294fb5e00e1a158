package org.vitfit.finetune;

import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every tensor fine-tuning updates, in one fixed order, with the names the training graph gives its inputs.
 * Shapes are those of {@link VitParameters} (linear weights [in, out], patch weight [D, C, p, p]), so moving
 * between the two is a lookup, never a re-layout.
 */
public final class TrainableParameters {

    /** Which learning rate a tensor gets: the backbone's (low) or the new head's. */
    public enum Group { BACKBONE, HEAD }

    /**
     * One trainable tensor.
     *
     * @param decay whether AdamW's weight decay applies: weight matrices yes; biases, norms, layer scales,
     *              class/register tokens and position embeddings no (the usual ViT fine-tuning recipe)
     */
    public record Param(String name, long[] shape, Group group, boolean decay) {
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

    private final List<Param> params;
    private final Map<String, float[]> values;

    private TrainableParameters(List<Param> params, Map<String, float[]> values) {
        this.params = List.copyOf(params);
        this.values = values;
    }

    /**
     * The backbone of {@code vit} (its own head and pooler are not part of the embedding, so not trained)
     * plus {@code head}, a linear layer [embeddingDim, classes] on the embedding.
     */
    public static TrainableParameters of(VitParameters vit, VitParameters.Linear head) {
        Builder b = new Builder();
        b.add(PATCH_WEIGHT, vit.patchWeight(), Group.BACKBONE, true);
        b.add(PATCH_BIAS, vit.patchBias(), Group.BACKBONE, false);
        b.add(CLS_TOKEN, vit.classToken(), Group.BACKBONE, false);
        b.add(REGISTER_TOKENS, vit.registerTokens(), Group.BACKBONE, false);
        b.add(POSITIONS, vit.positions(), Group.BACKBONE, false);
        b.norm(PRE_NORM, vit.preNorm());
        for (int i = 0; i < vit.blocks().size(); i++) {
            VitParameters.Block blk = vit.blocks().get(i);
            String p = blockPrefix(i);
            b.norm(p + "norm1", blk.norm1());
            b.linear(p + "attn.qkv", blk.qkv(), Group.BACKBONE);
            b.linear(p + "attn.proj", blk.proj(), Group.BACKBONE);
            b.add(p + "ls1", blk.layerScale1(), Group.BACKBONE, false);
            b.norm(p + "norm2", blk.norm2());
            b.linear(p + "mlp.fc1", blk.fc1(), Group.BACKBONE);
            b.linear(p + "mlp.fc2", blk.fc2(), Group.BACKBONE);
            b.add(p + "ls2", blk.layerScale2(), Group.BACKBONE, false);
        }
        b.norm(FINAL_NORM, vit.finalNorm());
        b.add(PROJECTION, vit.projection(), Group.BACKBONE, true);
        b.linear(HEAD, head, Group.HEAD);
        return new TrainableParameters(b.params, b.values);
    }

    /** Same names and shapes, other values (from a checkpoint or a training session). */
    public TrainableParameters withValues(Map<String, float[]> newValues) {
        Map<String, float[]> copy = new LinkedHashMap<>();
        for (Param p : params) {
            float[] v = newValues.get(p.name());
            if (v == null || v.length != p.size()) {
                throw new IllegalArgumentException("values for " + p.name() + ": expected " + p.size() + " floats, got "
                        + (v == null ? "none" : v.length));
            }
            copy.put(p.name(), v);
        }
        return new TrainableParameters(params, copy);
    }

    public static String blockPrefix(int i) {
        return "blocks." + i + ".";
    }

    public List<Param> params() {
        return params;
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    public float[] value(String name) {
        float[] v = values.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no trainable tensor " + name);
        }
        return v;
    }

    public Map<String, float[]> values() {
        return Collections.unmodifiableMap(values);
    }

    public Tensor tensor(String name) {
        for (Param p : params) {
            if (p.name().equals(name)) {
                return new Tensor(values.get(name), p.shape().clone());
            }
        }
        return null;
    }

    /**
     * Writes these values back into {@code base}'s layout with {@code outputHead} as the classifier on the embedding;
     * the pooler is dropped (it was not trained).
     */
    public VitParameters toVit(VitParameters base, VitParameters.Linear outputHead) {
        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < base.blocks().size(); i++) {
            String p = blockPrefix(i);
            blocks.add(new VitParameters.Block(norm(p + "norm1"), linear(p + "attn.qkv"), linear(p + "attn.proj"),
                    tensor(p + "ls1"), norm(p + "norm2"), linear(p + "mlp.fc1"), linear(p + "mlp.fc2"),
                    tensor(p + "ls2")));
        }
        VitSpec s = base.spec();
        // The fine-tuned classifier reads the embedding (the class token), never DINOv2's [CLS, patch mean].
        VitSpec spec = new VitSpec(s.family(), s.architecture(), s.channels(), s.imageHeight(), s.imageWidth(),
                s.patchSize(), s.hiddenSize(), s.numLayers(), s.numHeads(), s.mlpDim(), s.layerNormEps(),
                s.activation(), s.numRegisterTokens(), s.posEmbedSkipsPrefix(), s.clipPooling(), false);
        return new VitParameters(spec, tensor(PATCH_WEIGHT), tensor(PATCH_BIAS), tensor(CLS_TOKEN),
                tensor(REGISTER_TOKENS), tensor(POSITIONS), norm(PRE_NORM), blocks, norm(FINAL_NORM), outputHead,
                null, tensor(PROJECTION));
    }

    public VitParameters.Linear head() {
        return linear(HEAD);
    }

    private VitParameters.Norm norm(String name) {
        Tensor w = tensor(name + ".weight");
        return w == null ? null : new VitParameters.Norm(w, tensor(name + ".bias"));
    }

    private VitParameters.Linear linear(String name) {
        Tensor w = tensor(name + ".weight");
        return w == null ? null : new VitParameters.Linear(w, tensor(name + ".bias"));
    }

    private static final class Builder {
        final List<Param> params = new ArrayList<>();
        final Map<String, float[]> values = new LinkedHashMap<>();

        void add(String name, Tensor t, Group group, boolean decay) {
            if (t == null) {
                return;
            }
            params.add(new Param(name, t.shape().clone(), group, decay));
            values.put(name, t.data().clone());
        }

        void norm(String name, VitParameters.Norm n) {
            if (n != null) {
                add(name + ".weight", n.weight(), Group.BACKBONE, false);
                add(name + ".bias", n.bias(), Group.BACKBONE, false);
            }
        }

        void linear(String name, VitParameters.Linear l, Group group) {
            if (l != null) {
                add(name + ".weight", l.weight(), group, true);
                add(name + ".bias", l.bias(), group, false);
            }
        }
    }
}
