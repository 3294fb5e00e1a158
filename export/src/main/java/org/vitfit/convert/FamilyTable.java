package org.vitfit.convert;

import java.util.List;

/**
 * How one checkpoint family names a ViT's tensors. The converter is this table plus one reader and one
 * graph builder: adding a family means adding a row, not another converter.
 *
 * <p>Names are relative to a model prefix (one of {@code prefixes}, found by probing the checkpoint) except
 * {@code head} and {@code projection}, which live beside the backbone. Linear and norm entries name a module
 * (its {@code .weight}/{@code .bias} are read); the others name a tensor. {@code block} holds a {@code %d}
 * for the layer index. A null entry means the family has no such part; {@code qkv} is used when the
 * checkpoint fuses query/key/value, else {@code q}, {@code k}, {@code v}.
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
        List<String> ignoredPrefixes) {

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

    public static final List<FamilyTable> ALL = List.of(TIMM_VIT, HF_VIT, DINOV2, CLIP_VISION);
}
