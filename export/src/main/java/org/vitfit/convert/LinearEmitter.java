package org.vitfit.convert;

import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.convert.quant.DynamicInt8;

/**
 * How {@link VitGraphBuilder} writes the matrix products of a ViT: the linear layers {@code y = x W + b} ({@code W}
 * [in, out]) and the two attention products. The one place where the float and the int8 graphs differ; the int8
 * emitters live in {@code org.vitfit.convert.quant}.
 *
 * <p>Layer names passed in are stable and family-neutral: {@code blocks.N.attn.qkv}, {@code blocks.N.attn.proj},
 * {@code blocks.N.fc1}, {@code blocks.N.fc2}, {@code head}, {@code pooler}, and {@code blocks.N.attn} for the
 * attention products.
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

    /** Attention scores {@code (q kT) * scale}, q [N, heads, T, hd], kT [N, heads, hd, T]. */
    default String attentionScores(OnnxGraph g, String name, String q, String kT, float scale) {
        String scores = g.op("MatMul", name + ".scores", q, kT);
        return g.op("Mul", name + ".scaled", scores, g.scalar(name + ".scale", scale));
    }

    /** Attention output {@code probs v}, probs [N, heads, T, T], v [N, heads, T, hd]. */
    default String attentionContext(OnnxGraph g, String name, String probs, String v) {
        return g.op("MatMul", name + ".context", probs, v);
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
