package org.vitfit.convert;

import java.util.List;

/**
 * A ViT's weights in one family-neutral layout: what every checkpoint family is mapped to and what the
 * single graph builder consumes. Linear weights are already transposed to [in, out]; optional parts are null.
 * A Swin Transformer has no class token or position embeddings; its blocks are listed stage after stage and
 * what only Swin has is in {@link SwinParameters}.
 */
public record VitParameters(
        VitSpec spec,
        Tensor patchWeight,          // [D, C, p, p]
        Tensor patchBias,            // [D] or null (CLIP has none)
        Tensor classToken,           // [1, 1, D]; null for Swin
        Tensor registerTokens,       // [1, R, D] or null
        Tensor positions,            // [1, T', D]: T' = prefix tokens + patches, or patches only when
                                     // spec.posEmbedSkipsPrefix(); null for Swin
        Norm preNorm,                // CLIP's pre_layrnorm, timm norm_pre; or null
        List<Block> blocks,
        Norm finalNorm,              // applied to every token (ViT, DINOv2) or to the pooled token only (CLIP)
        Linear head,                 // classification head or null
        Linear pooler,               // HF ViT pooler (tanh) or null
        Tensor projection,           // CLIP visual projection [D, P] or null
        Tensor distillationToken,    // DeiT distilled [1, 1, D] or null
        Linear distillationHead,     // DeiT distilled head on the distillation token, or null
        SwinParameters swin) {       // Swin's own parts, or null

    /** A plain ViT: no distillation token, no Swin parts. */
    public VitParameters(VitSpec spec, Tensor patchWeight, Tensor patchBias, Tensor classToken, Tensor registerTokens,
                         Tensor positions, Norm preNorm, List<Block> blocks, Norm finalNorm, Linear head, Linear pooler,
                         Tensor projection) {
        this(spec, patchWeight, patchBias, classToken, registerTokens, positions, preNorm, blocks, finalNorm, head,
                pooler, projection, null, null, null);
    }

    /**
     * What a Swin Transformer has beyond the blocks.
     *
     * @param patchNorm         LayerNorm after the patch embedding
     * @param merges            patch merging before stage {@code i + 1}, for each stage but the first
     * @param relativeBias      per block (same order as {@code blocks}): the relative position bias table
     *                          [(2w - 1)^2, heads]
     */
    public record SwinParameters(Norm patchNorm, List<Merge> merges, List<Tensor> relativeBias) {
    }

    /** Patch merging: LayerNorm over the 4 concatenated neighbours [4C], then a linear [4C, 2C] without bias. */
    public record Merge(Norm norm, Linear reduction) {
    }

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
