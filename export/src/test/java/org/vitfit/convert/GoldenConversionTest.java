package org.vitfit.convert;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vitfit.runtime.ModelDescriptor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The converted graphs against the outputs the reference libraries computed: Hugging Face transformers for
 * the tiny ViT, DINOv2 and CLIP-vision checkpoints, timm for the bundled ViT-Tiny.
 */
class GoldenConversionTest {

    @TempDir
    Path tmp;

    /**
     * Every golden output of {@code hf-golden/<model>} within 1e-4, from its golden pixel values.
     * Columns: model dir, tokens, hidden, golden pooled output file, the vitfit output it corresponds to, its width.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "vit, 197, 64, pooler_output, pooler_output, 64",
            "dinov2, 257, 64, pooler_output, embedding, 64",
            "clip_vision, 50, 64, image_embeds, embedding, 32",
    })
    void huggingFaceModelsMatchTransformers(String name, int tokens, int hidden, String goldenPooled,
                                            String ourPooled, int pooledDim) throws Exception {
        Path dir = Golden.shared().resolve("fixtures/hf-golden").resolve(name);
        Path out = tmp.resolve(name);
        ModelDescriptor d = Converter.convert(dir, out, new Converter.Options(null, false,
                dir.resolve("processor_slow/preprocessor_config.json")));
        assertEquals(pooledDim, d.embeddingDim());
        assertEquals(tokens, d.numTokens());

        float[] pixels = Golden.f32(dir.resolve("pixel_values_slow.f32"));
        Map<String, float[]> result = Golden.run(out.resolve("model.onnx"), pixels, 4, 3, 224, 224);

        float[] lhs = Golden.f32(dir.resolve("last_hidden_state.f32"));
        assertEquals(4 * tokens * hidden, lhs.length);
        double lhsDiff = Golden.maxAbsDiff(result.get("last_hidden_state"), lhs);
        double pooledDiff = Golden.maxAbsDiff(result.get(ourPooled), Golden.f32(dir.resolve(goldenPooled + ".f32")));
        assertTrue(lhsDiff <= 1e-4, name + " last_hidden_state max |diff| " + lhsDiff);
        assertTrue(pooledDiff <= 1e-4, name + " " + goldenPooled + " max |diff| " + pooledDiff);
        System.out.printf("hf %s: last_hidden_state %.2e, %s %.2e max |diff|%n", name, lhsDiff, goldenPooled, pooledDiff);
        if (!name.equals("clip_vision")) {
            // The embedding is the final-normed CLS token: row 0 of last_hidden_state.
            for (int i = 0; i < 4; i++) {
                float[] cls = new float[hidden];
                System.arraycopy(lhs, i * tokens * hidden, cls, 0, hidden);
                double diff = Golden.maxAbsDiff(Golden.row(result.get("embedding"), i, hidden), cls);
                assertTrue(diff <= 1e-4, name + " embedding " + i + " max |diff| " + diff);
            }
        }
    }

    @Test
    void bundledTimmVitTinyMatchesTimm() throws Exception {
        Path model = Golden.root().resolve("models/vit-tiny-patch16-224-augreg");
        Path out = tmp.resolve("vit-tiny");
        ModelDescriptor d = Converter.convert(model, out);
        assertEquals("timm_vit", d.family());
        assertEquals(List.of("last_hidden_state", "embedding", "logits"), d.outputs());
        assertEquals(192, d.embeddingDim());
        assertEquals(1000, d.labels().size());
        assertEquals("tench", d.labels().get(0).toLowerCase().split(",")[0].strip());

        Path golden = Golden.shared().resolve("fixtures/timm-golden");
        for (String set : List.of("imagenet_samples", "fixture_images")) {
            float[] pixels = Golden.f32(golden.resolve(set).resolve("pixel_values.f32"));
            int n = pixels.length / (3 * 224 * 224);
            Map<String, float[]> r = Golden.run(out.resolve("model.onnx"), pixels, n, 3, 224, 224);
            double emb = Golden.maxAbsDiff(r.get("embedding"), Golden.f32(golden.resolve(set).resolve("cls_embedding.f32")));
            double logits = Golden.maxAbsDiff(r.get("logits"), Golden.f32(golden.resolve(set).resolve("logits.f32")));
            double tokens = Golden.maxAbsDiff(r.get("last_hidden_state"),
                    Golden.f32(golden.resolve(set).resolve("tokens_after_norm.f32")));
            assertTrue(emb <= 1e-4, set + " embedding max |diff| " + emb);
            assertTrue(logits <= 1e-3, set + " logits max |diff| " + logits);
            // Not a stated requirement: all 197 tokens accumulate float32 rounding over 12 blocks, and the
            // patch tokens reach larger magnitudes than the class token.
            assertTrue(tokens <= 1e-3, set + " tokens max |diff| " + tokens);
            System.out.printf("timm %s: embedding %.2e, logits %.2e, tokens %.2e max |diff|%n", set, emb, logits, tokens);
        }
    }
}
