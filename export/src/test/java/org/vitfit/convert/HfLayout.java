package org.vitfit.convert;

import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.convert.safetensors.SafetensorsWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The bundled timm ViT-Tiny rewritten in Hugging Face {@code ViTModel} layout (names, split q/k/v, config), so the
 * hf_vit family can be checked on real weights: the checkpoints in shared/ for that family are tiny random models.
 */
final class HfLayout {

    private HfLayout() {
    }

    static Path fromTimm(Path timm, Path out) throws IOException {
        Files.createDirectories(out);
        SafetensorsWriter w = new SafetensorsWriter();
        try (Checkpoint c = Checkpoint.open(timm)) {
            copy(c, w, "patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight");
            copy(c, w, "patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias");
            copy(c, w, "cls_token", "embeddings.cls_token");
            copy(c, w, "pos_embed", "embeddings.position_embeddings");
            for (int i = 0; i < 12; i++) {
                String t = "blocks." + i + ".";
                String h = "encoder.layer." + i + ".";
                copy(c, w, t + "norm1.weight", h + "layernorm_before.weight");
                copy(c, w, t + "norm1.bias", h + "layernorm_before.bias");
                float[] qkvW = c.floats(t + "attn.qkv.weight");
                float[] qkvB = c.floats(t + "attn.qkv.bias");
                int d = qkvB.length / 3;
                String[] parts = {"query", "key", "value"};
                for (int p = 0; p < 3; p++) {
                    String name = h + "attention.attention." + parts[p];
                    w.f32(name + ".weight", new long[] {d, d}, Arrays.copyOfRange(qkvW, p * d * d, (p + 1) * d * d));
                    w.f32(name + ".bias", new long[] {d}, Arrays.copyOfRange(qkvB, p * d, (p + 1) * d));
                }
                copy(c, w, t + "attn.proj.weight", h + "attention.output.dense.weight");
                copy(c, w, t + "attn.proj.bias", h + "attention.output.dense.bias");
                copy(c, w, t + "norm2.weight", h + "layernorm_after.weight");
                copy(c, w, t + "norm2.bias", h + "layernorm_after.bias");
                copy(c, w, t + "mlp.fc1.weight", h + "intermediate.dense.weight");
                copy(c, w, t + "mlp.fc1.bias", h + "intermediate.dense.bias");
                copy(c, w, t + "mlp.fc2.weight", h + "output.dense.weight");
                copy(c, w, t + "mlp.fc2.bias", h + "output.dense.bias");
            }
            copy(c, w, "norm.weight", "layernorm.weight");
            copy(c, w, "norm.bias", "layernorm.bias");
        }
        w.write(out.resolve("model.safetensors"));
        Files.writeString(out.resolve("config.json"), """
                {"architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 192, "num_hidden_layers": 12,
                 "num_attention_heads": 3, "intermediate_size": 768, "hidden_act": "gelu", "layer_norm_eps": 1e-6,
                 "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": true}
                """);
        Files.writeString(out.resolve("preprocessor_config.json"), """
                {"image_processor_type": "ViTImageProcessor", "do_resize": true, "size": {"height": 224, "width": 224},
                 "resample": 2, "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
                """);
        return out;
    }

    private static void copy(Checkpoint c, SafetensorsWriter w, String from, String to) throws IOException {
        w.f32(to, c.shape(from), c.floats(from));
    }
}
