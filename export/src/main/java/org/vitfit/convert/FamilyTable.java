package org.vitfit.convert;

import java.util.List;
import java.util.Set;

/**
 * How one checkpoint family names a ViT's tensors. The converter is this table plus one reader and one
 * graph builder: adding a family means adding a row, not another converter.
 *
 * <p>Names are relative to a model prefix (one of {@code prefixes}, found by probing the checkpoint) except
 * {@code head} and {@code projection}, which live beside the backbone. Linear and norm entries name a module
 * (its {@code .weight}/{@code .bias} are read); the others name a tensor. {@code block} holds a {@code %d}
 * for the layer index (Swin: two, the stage and the block in it). A null entry means the family has no such
 * part; {@code qkv} is used when the checkpoint fuses query/key/value, else {@code q}, {@code k}, {@code v}.
 * {@code distillationToken} and {@code distillationHead} are DeiT's second prefix token and its classifier;
 * {@code swin} names what only a Swin Transformer has.
 */
public record FamilyTable(
        String family,
        List<String> prefixes,
        String patch, boolean patchHasBias,
        String classToken, String registerTokens, String positions,
        String preNorm,
        String block,
        String norm1, String qkv, String q, String k, String v, String proj, String layerScale1,
        String norm2, String fc1, String fc2, String layerScale2,
        String finalNorm,
        String head, String pooler, String projection,
        List<String> ignoredPrefixes,
        String distillationToken, String distillationHead,
        SwinNames swin) {

    /** A family without a distillation token or Swin stages. */
    public FamilyTable(String family, List<String> prefixes, String patch, boolean patchHasBias, String classToken,
                       String registerTokens, String positions, String preNorm, String block, String norm1, String qkv,
                       String q, String k, String v, String proj, String layerScale1, String norm2, String fc1,
                       String fc2, String layerScale2, String finalNorm, String head, String pooler, String projection,
                       List<String> ignoredPrefixes) {
        this(family, prefixes, patch, patchHasBias, classToken, registerTokens, positions, preNorm, block, norm1, qkv,
                q, k, v, proj, layerScale1, norm2, fc1, fc2, layerScale2, finalNorm, head, pooler, projection,
                ignoredPrefixes, null, null, null);
    }

    /**
     * Names of a Swin Transformer's own parts. Per-block names are relative to the block ({@code block}, with
     * the stage and block index); {@code merge} holds a {@code %d} for the stage index it is stored under.
     *
     * @param patchNorm          LayerNorm after the patch embedding
     * @param relativeBiasTable  per block: the relative position bias table [(2w - 1)^2, heads]
     * @param relativeIndex      per block: the int64 index buffer into the table, when the layout saves it
     *                           (transformers 4 does; it is checked against the index vitfit computes)
     * @param merge              the patch merging module, by stage
     * @param mergeOpensStage    true when the merging before stage i + 1 is stored under stage i + 1 (timm),
     *                           false when under stage i, at its end (transformers)
     * @param mergeNorm          the merging's LayerNorm, relative to {@code merge}
     * @param mergeReduction     the merging's linear layer (no bias), relative to {@code merge}
     */
    public record SwinNames(String patchNorm, String relativeBiasTable, String relativeIndex, String merge,
                            boolean mergeOpensStage, String mergeNorm, String mergeReduction) {
    }

    public static final FamilyTable TIMM_VIT = new FamilyTable("timm_vit", List.of(""),
            "patch_embed.proj", true,
            "cls_token", "reg_token", "pos_embed",
            "norm_pre",
            "blocks.%d.",
            "norm1", "attn.qkv", null, null, null, "attn.proj", "ls1.gamma",
            "norm2", "mlp.fc1", "mlp.fc2", "ls2.gamma",
            "norm",
            "head", null, null,
            List.of());

    public static final FamilyTable HF_VIT = new FamilyTable("hf_vit", List.of("", "vit."),
            "embeddings.patch_embeddings.projection", true,
            "embeddings.cls_token", null, "embeddings.position_embeddings",
            null,
            "encoder.layer.%d.",
            "layernorm_before", null, "attention.attention.query", "attention.attention.key",
            "attention.attention.value", "attention.output.dense", null,
            "layernorm_after", "intermediate.dense", "output.dense", null,
            "layernorm",
            "classifier", "pooler.dense", null,
            List.of("embeddings.mask_token"));

    public static final FamilyTable DINOV2 = new FamilyTable("dinov2", List.of("", "dinov2."),
            "embeddings.patch_embeddings.projection", true,
            "embeddings.cls_token", null, "embeddings.position_embeddings",
            null,
            "encoder.layer.%d.",
            "norm1", null, "attention.attention.query", "attention.attention.key",
            "attention.attention.value", "attention.output.dense", "layer_scale1.lambda1",
            "norm2", "mlp.fc1", "mlp.fc2", "layer_scale2.lambda1",
            "layernorm",
            "classifier", null, null,
            List.of("embeddings.mask_token"));

    public static final FamilyTable CLIP_VISION = new FamilyTable("clip_vision", List.of("vision_model."),
            "embeddings.patch_embedding", false,
            "embeddings.class_embedding", null, "embeddings.position_embedding.weight",
            "pre_layrnorm",
            "encoder.layers.%d.",
            "layer_norm1", null, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", null,
            "layer_norm2", "mlp.fc1", "mlp.fc2", null,
            "post_layernorm",
            null, null, "visual_projection.weight",
            // A full CLIPModel checkpoint also holds the text tower, which an image embedder does not use.
            List.of("text_model.", "text_projection.", "logit_scale", "vision_model.embeddings.position_ids"));

    /** timm's VisionTransformerDistilled ({@code deit_*_distilled_*}): timm's ViT plus {@code dist_token}, {@code head_dist}. */
    public static final FamilyTable TIMM_DEIT = new FamilyTable("timm_deit", List.of(""),
            "patch_embed.proj", true,
            "cls_token", null, "pos_embed",
            null,
            "blocks.%d.",
            "norm1", "attn.qkv", null, null, null, "attn.proj", null,
            "norm2", "mlp.fc1", "mlp.fc2", null,
            "norm",
            "head", null, null,
            List.of(),
            "dist_token", "head_dist",
            null);

    /**
     * transformers' DeiT ({@code DeiTModel}, {@code DeiTForImageClassificationWithTeacher}); for
     * {@code DeiTForImageClassification}, whose single classifier reads the class token, see
     * {@link #withSingleHead(String)}.
     */
    public static final FamilyTable HF_DEIT = new FamilyTable("hf_deit", List.of("", "deit."),
            "embeddings.patch_embeddings.projection", true,
            "embeddings.cls_token", null, "embeddings.position_embeddings",
            null,
            "encoder.layer.%d.",
            "layernorm_before", null, "attention.attention.query", "attention.attention.key",
            "attention.attention.value", "attention.output.dense", null,
            "layernorm_after", "intermediate.dense", "output.dense", null,
            "layernorm",
            "cls_classifier", "pooler.dense", null,
            List.of("embeddings.mask_token"),
            "embeddings.distillation_token", "distillation_classifier",
            null);

    /** timm's SwinTransformer (timm 0.9 and later: NHWC stages, the patch merging opens stages 1..n-1). */
    public static final FamilyTable TIMM_SWIN = new FamilyTable("timm_swin", List.of(""),
            "patch_embed.proj", true,
            null, null, null,
            null,
            "layers.%d.blocks.%d.",
            "norm1", "attn.qkv", null, null, null, "attn.proj", null,
            "norm2", "mlp.fc1", "mlp.fc2", null,
            "norm",
            "head.fc", null, null,
            List.of(),
            null, null,
            new SwinNames("patch_embed.norm", "attn.relative_position_bias_table", "attn.relative_position_index",
                    "layers.%d.downsample.", true, "norm", "reduction"));

    /** transformers' Swin ({@code SwinModel}, {@code SwinForImageClassification}), as transformers 4 saves it. */
    public static final FamilyTable HF_SWIN = new FamilyTable("hf_swin", List.of("", "swin."),
            "embeddings.patch_embeddings.projection", true,
            null, null, null,
            null,
            "encoder.layers.%d.blocks.%d.",
            "layernorm_before", null, "attention.self.query", "attention.self.key", "attention.self.value",
            "attention.output.dense", null,
            "layernorm_after", "intermediate.dense", "output.dense", null,
            "layernorm",
            "classifier", null, null,
            List.of("embeddings.mask_token"),
            null, null,
            new SwinNames("embeddings.norm", "attention.self.relative_position_bias_table",
                    "attention.self.relative_position_index", "encoder.layers.%d.downsample.", false, "norm",
                    "reduction"));

    /**
     * transformers' Swin as transformers 5 names its modules ({@code attention.q_proj}, {@code attention.o_proj},
     * {@code mlp.fc1}, {@code attention.relative_position_bias.relative_position_bias_table}; the index is no longer
     * saved). Chosen over {@link #HF_SWIN} by {@link #matching} when the checkpoint uses these names.
     */
    public static final FamilyTable HF_SWIN_TRANSFORMERS5 = new FamilyTable("hf_swin", List.of("", "swin."),
            "embeddings.patch_embeddings.projection", true,
            null, null, null,
            null,
            "encoder.layers.%d.blocks.%d.",
            "layernorm_before", null, "attention.q_proj", "attention.k_proj", "attention.v_proj",
            "attention.o_proj", null,
            "layernorm_after", "mlp.fc1", "mlp.fc2", null,
            "layernorm",
            "classifier", null, null,
            List.of("embeddings.mask_token"),
            null, null,
            new SwinNames("embeddings.norm", "attention.relative_position_bias.relative_position_bias_table", null,
                    "encoder.layers.%d.downsample.", false, "norm", "reduction"));

    public static final List<FamilyTable> ALL = List.of(TIMM_VIT, HF_VIT, DINOV2, CLIP_VISION, TIMM_DEIT, HF_DEIT,
            TIMM_SWIN, HF_SWIN, HF_SWIN_TRANSFORMERS5);

    /** The row for a checkpoint holding {@code names}: this one, or the renamed layout of the same family. */
    public FamilyTable matching(Set<String> names) {
        if (this == HF_SWIN && names.stream().anyMatch(n -> n.endsWith(".attention.q_proj.weight"))) {
            return HF_SWIN_TRANSFORMERS5;
        }
        return this;
    }

    /** The same names with one classifier {@code head} on the class token and no distillation head. */
    public FamilyTable withSingleHead(String newHead) {
        return new FamilyTable(family, prefixes, patch, patchHasBias, classToken, registerTokens, positions, preNorm,
                block, norm1, qkv, q, k, v, proj, layerScale1, norm2, fc1, fc2, layerScale2, finalNorm, newHead, pooler,
                projection, ignoredPrefixes, distillationToken, null, swin);
    }
}
