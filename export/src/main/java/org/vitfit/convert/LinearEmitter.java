package org.vitfit.convert;

import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.convert.quant.DynamicInt8;

/**
 * How {@link VitGraphBuilder} writes the matrix products of a ViT: the linear layers {@code y = x W + b} ({@code W}
 * [in, out]), and for int8 graphs a fused self-attention. The one place where the float and the
 * int8 graphs differ; the int8 emitters live in {@code org.vitfit.convert.quant}.
 *
 * <p>Layer names passed in are stable and family-neutral: {@code blocks.N.attn.qkv}, {@code blocks.N.attn.proj},
 * {@code blocks.N.fc1}, {@code blocks.N.fc2}, {@code head}, {@code pooler}, and {@code blocks.N.attn} for the
 * fused self-attention.
 */
public interface LinearEmitter {

    /** Emits the layer and returns the name of {@code y}. */
    String emit(OnnxGraph g, String name, String x, VitParameters.Linear l);

    /**
     * The emitter for a layer whose input comes straight out of the MLP activation (fc2). That input is not
     * normalised and carries a few huge channels, so dynamic per-tensor activation quantisation flattens everything
     * else; see {@link DynamicInt8}.
     */
    default LinearEmitter forActivationInput() {
        return this;
    }

    /**
     * A ViT block's whole self-attention on {@code x} [N, T, D], up to the merged heads [N, T, D] that enter proj, as
     * one fused kernel; null (the default) lets the builder spell it out: qkv, Reshape/Transpose into heads,
     * {@code softmax(q kT / sqrt(hd)) v}, and the heads merged back.
     */
    default String fusedSelfAttention(OnnxGraph g, String name, String x, VitParameters.Linear qkv, int heads) {
        return null;
    }

    /** MatMul + Add on the float weight (float16 too: the graph decides how its float initializers are stored). */
    LinearEmitter FLOAT = (g, name, x, l) -> {
        String w = g.floatInitializer(name + ".weight", l.weight().data(), l.weight().shape());
        String y = g.op("MatMul", name + ".matmul", x, w);
        if (l.bias() == null) {
            return y;
        }
        return g.op("Add", name, y, g.floatInitializer(name + ".bias", l.bias().data(), l.bias().shape()));
    };
}
