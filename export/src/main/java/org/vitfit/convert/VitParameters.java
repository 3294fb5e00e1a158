package org.vitfit.convert;

import java.util.List;

/**
 * A ViT's weights in one family-neutral layout: what every checkpoint family is mapped to and what the
 * single graph builder consumes. Linear weights are already transposed to [in, out]; optional parts are null.
 */
public record VitParameters(
        VitSpec spec,
        Tensor patchWeight,          // [D, C, p, p]
        Tensor patchBias,            // [D] or null (CLIP has none)
        Tensor classToken,           // [1, 1, D]
        Tensor registerTokens,       // [1, R, D] or null
        Tensor positions,            // [1, T', D]: T' = 1 + patches, or patches only when spec.posEmbedSkipsPrefix()
        Norm preNorm,                // CLIP's pre_layrnorm, timm norm_pre; or null
        List<Block> blocks,
        Norm finalNorm,              // applied to every token (ViT, DINOv2) or to the pooled token only (CLIP)
        Linear head,                 // classification head or null
        Linear pooler,               // HF ViT pooler (tanh) or null
        Tensor projection) {         // CLIP visual projection [D, P] or null

    /** LayerNorm scale and shift. */
    public record Norm(Tensor weight, Tensor bias) {
    }

    /** A linear layer: weight [in, out], bias [out] or null. */
    public record Linear(Tensor weight, Tensor bias) {
        public long outFeatures() {
            return weight.dim(1);
        }
    }

    /** One pre-norm transformer block; {@code qkv} packs query, key and value (in that order) along the output. */
    public record Block(Norm norm1, Linear qkv, Linear proj, Tensor layerScale1,
                        Norm norm2, Linear fc1, Linear fc2, Tensor layerScale2) {
    }
}
