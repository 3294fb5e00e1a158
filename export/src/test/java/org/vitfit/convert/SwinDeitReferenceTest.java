package org.vitfit.convert;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.ModelDescriptor;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Converted Swin and distilled-DeiT checkpoints, in the transformers and the timm layout, against the PyTorch
 * references of {@code src/test/python/swin_deit_reference.py} (transformers' and timm's forward passes restated
 * module by module; the two Swin transcriptions agree with each other to 2.4e-6 on shared weights, the two DeiT
 * ones to 1.2e-6).
 */
class SwinDeitReferenceTest {

    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path tmp;

    /**
     * Every reference output within 1e-4 from the reference pixel values. Columns: fixture, family, tokens, width,
     * the reference file holding what vitfit calls {@code embedding}, the descriptor's embedding pooling.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({
            "hf_swin, hf_swin, 49, 64, pooler_output, mean_after_norm",
            "timm_swin, timm_swin, 49, 64, embedding, mean_after_norm",
            "hf_deit, hf_deit, 51, 32, embedding, cls_distillation_mean_after_norm",
            "timm_deit, timm_deit, 51, 32, embedding, cls_distillation_mean_after_norm",
    })
    void convertedModelsMatchTheReference(String name, String family, int tokens, int width, String embeddingFile,
                                          String pooling) throws Exception {
        Path ref = ReferenceFixtures.model(name);
        ModelDescriptor d = Converter.convert(ref, tmp.resolve(name));
        assertEquals(family, d.family());
        assertEquals(List.of("last_hidden_state", "embedding", "logits"), d.outputs());
        assertEquals(tokens, d.numTokens());
        assertEquals(width, d.embeddingDim());
        assertEquals(pooling, d.embeddingPooling());
        assertEquals(10, d.labels().size());
        assertEquals("class_3", d.labels().get(3));

        Map<String, float[]> out = run(tmp.resolve(name), ref);
        double lhs = Golden.maxAbsDiff(out.get("last_hidden_state"), Golden.f32(ref.resolve("last_hidden_state.f32")));
        double emb = Golden.maxAbsDiff(out.get("embedding"), Golden.f32(ref.resolve(embeddingFile + ".f32")));
        double logits = Golden.maxAbsDiff(out.get("logits"), Golden.f32(ref.resolve("logits.f32")));
        System.out.printf("%s: last_hidden_state %.2e, embedding %.2e, logits %.2e max |diff|%n", name, lhs, emb, logits);
        assertTrue(lhs <= TOLERANCE, name + " last_hidden_state max |diff| " + lhs);
        assertTrue(emb <= TOLERANCE, name + " embedding max |diff| " + emb);
        assertTrue(logits <= TOLERANCE, name + " logits max |diff| " + logits);
    }

    /**
     * The pixel values Java computes from the image files equal the reference's: transformers' PIL processors
     * (ViTFeatureExtractor for Swin; DeiTFeatureExtractor: square resize then crop) and timm's eval transform
     * (torchvision itself). PNGs bit for bit; the JPEG within two 8-bit steps (JDK libjpeg vs Pillow's).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"hf_swin", "timm_swin", "hf_deit", "timm_deit"})
    void preprocessingMatchesTheReference(String name) throws Exception {
        Path ref = ReferenceFixtures.model(name);
        ModelDescriptor d = Converter.convert(ref, tmp.resolve(name));
        PreprocessRecipe recipe = d.preprocessing();
        if (name.startsWith("hf_")) {
            // The converter records transformers 5's default (torchvision) backend; the reference is the PIL one.
            PreprocessRecipe pil = PreprocessRecipe.fromHfProcessor(
                    ReferenceFixtures.JSON.readTree(ref.resolve("preprocessor_config.json").toFile()), "pil");
            assertEquals(pil.withApplyExifOrientation(false), new PreprocessRecipe(recipe.resizeMode(),
                    recipe.resizeShortestEdge(), recipe.resizeHeight(), recipe.resizeWidth(), recipe.interpolation(),
                    recipe.cropHeight(), recipe.cropWidth(), pil.cropRounding(), recipe.rescaleFactor(), recipe.mean(),
                    recipe.std(), false, "pil"));
            recipe = pil;
        }
        if (name.equals("hf_deit")) {
            assertEquals("fixed", recipe.resizeMode());
            assertEquals(128, recipe.resizeHeight());
            assertEquals(112, recipe.cropHeight());
        }
        Preprocessor preprocessor = new Preprocessor(recipe);
        float[] expected = Golden.f32(ref.resolve("pixel_values.f32"));
        int per = preprocessor.floatsPerImage();
        assertEquals(ReferenceFixtures.IMAGES * per, expected.length);
        ImageDecoder decoder = new ImageDecoder(false);
        for (int i = 0; i < ReferenceFixtures.IMAGES; i++) {
            Path image = ReferenceFixtures.image(i);
            float[] actual = preprocessor.apply(decoder.decode(image));
            double maxSteps = 0;
            for (int j = 0; j < per; j++) {
                maxSteps = Math.max(maxSteps, Math.abs(actual[j] - expected[i * per + j]) * recipe.std().get(j / (per / 3)) * 255);
            }
            System.out.printf("%s %s: max %.3f 8-bit steps from the reference%n", name, image.getFileName(), maxSteps);
            if (image.toString().endsWith(".png")) {
                assertEquals(0.0, maxSteps, name + " " + image.getFileName() + " must match bit for bit");
            } else {
                assertTrue(maxSteps <= 2.0, name + " " + image.getFileName() + ": " + maxSteps + " steps");
            }
        }
    }

    /** transformers' SwinModel: no "swin." prefix and no classifier; the embedding is still the pooled output. */
    @Test
    void bareSwinModelLayoutConverts() throws Exception {
        Path dir = ReferenceFixtures.copy("hf_swin", tmp.resolve("swin-model"));
        ReferenceFixtures.renameTensors(dir, n -> n.startsWith("classifier.") ? null : n.substring("swin.".length()));
        ReferenceFixtures.editJson(dir.resolve("config.json"), c -> c.putArray("architectures").add("SwinModel"));
        ModelDescriptor d = Converter.convert(dir, tmp.resolve("out"));
        assertEquals(List.of("last_hidden_state", "embedding"), d.outputs());
        assertNull(d.labels());
        Map<String, float[]> out = run(tmp.resolve("out"), ReferenceFixtures.model("hf_swin"));
        Path ref = ReferenceFixtures.model("hf_swin");
        assertTrue(Golden.maxAbsDiff(out.get("embedding"), Golden.f32(ref.resolve("pooler_output.f32"))) <= TOLERANCE);
        assertTrue(Golden.maxAbsDiff(out.get("last_hidden_state"), Golden.f32(ref.resolve("last_hidden_state.f32"))) <= TOLERANCE);
    }

    /**
     * transformers 5 renamed Swin's modules; its conversion mapping for legacy checkpoints is this renaming (and the
     * index buffer is no longer saved). The renamed checkpoint gives the same outputs.
     */
    @Test
    void transformers5SwinNamesConvert() throws Exception {
        Path dir = ReferenceFixtures.copy("hf_swin", tmp.resolve("swin-t5"));
        ReferenceFixtures.renameTensors(dir, n -> n.endsWith("relative_position_index") ? null : n
                .replace("attention.self.relative_position_bias_table",
                        "attention.relative_position_bias.relative_position_bias_table")
                .replace("attention.self.query", "attention.q_proj")
                .replace("attention.self.key", "attention.k_proj")
                .replace("attention.self.value", "attention.v_proj")
                .replace("attention.output.dense", "attention.o_proj")
                .replace("intermediate.dense", "mlp.fc1")
                .replace("output.dense", "mlp.fc2"));
        ModelDescriptor d = Converter.convert(dir, tmp.resolve("out"));
        assertEquals("hf_swin", d.family());
        Path ref = ReferenceFixtures.model("hf_swin");
        Map<String, float[]> out = run(tmp.resolve("out"), ref);
        assertTrue(Golden.maxAbsDiff(out.get("logits"), Golden.f32(ref.resolve("logits.f32"))) <= TOLERANCE);
        assertTrue(Golden.maxAbsDiff(out.get("last_hidden_state"), Golden.f32(ref.resolve("last_hidden_state.f32"))) <= TOLERANCE);
    }

    /**
     * transformers' DeiTForImageClassification: one {@code classifier} on the class token only, so its logits are
     * that classifier applied to row 0 of the reference's last hidden state (computed here in double).
     */
    @Test
    void deitWithOneClassTokenClassifierConverts() throws Exception {
        Path dir = ReferenceFixtures.copy("hf_deit", tmp.resolve("deit-one-head"));
        ReferenceFixtures.renameTensors(dir, n -> n.startsWith("distillation_classifier.") ? null
                : n.replace("cls_classifier.", "classifier."));
        ReferenceFixtures.editJson(dir.resolve("config.json"),
                c -> c.putArray("architectures").add("DeiTForImageClassification"));
        ModelDescriptor d = Converter.convert(dir, tmp.resolve("out"));
        assertEquals(List.of("last_hidden_state", "embedding", "logits"), d.outputs());
        Path ref = ReferenceFixtures.model("hf_deit");
        Map<String, float[]> out = run(tmp.resolve("out"), ref);

        float[] lhs = Golden.f32(ref.resolve("last_hidden_state.f32"));
        float[] w;
        float[] b;
        try (Checkpoint c = Checkpoint.open(ref)) {
            w = c.floats("cls_classifier.weight");
            b = c.floats("cls_classifier.bias");
        }
        int classes = b.length;
        int dim = 32;
        int tokens = 51;
        float[] expected = new float[ReferenceFixtures.IMAGES * classes];
        for (int i = 0; i < ReferenceFixtures.IMAGES; i++) {
            for (int k = 0; k < classes; k++) {
                double sum = b[k];
                for (int j = 0; j < dim; j++) {
                    sum += (double) w[k * dim + j] * lhs[i * tokens * dim + j];
                }
                expected[i * classes + k] = (float) sum;
            }
        }
        double diff = Golden.maxAbsDiff(out.get("logits"), expected);
        assertTrue(diff <= TOLERANCE, "class-token classifier logits max |diff| " + diff);
        assertTrue(Golden.maxAbsDiff(out.get("embedding"), Golden.f32(ref.resolve("embedding.f32"))) <= TOLERANCE);
    }

    /** fp16 and int8 conversions of Swin stay close to fp32 (the windows, masks and merges survive both). */
    @Test
    void swinPrecisionsStayCloseToFp32() throws Exception {
        Path ref = ReferenceFixtures.model("timm_swin");
        float[] golden = Golden.f32(ref.resolve("embedding.f32"));
        for (Precision p : List.of(Precision.FP16, Precision.INT8)) {
            Path out = tmp.resolve(p.label());
            Converter.convert(ref, out, new Converter.Options(null, false, null, p));
            float[] emb = run(out, ref).get("embedding");
            double worst = 1;
            for (int i = 0; i < ReferenceFixtures.IMAGES; i++) {
                worst = Math.min(worst, Golden.cosine(Golden.row(emb, i, 64), Golden.row(golden, i, 64)));
            }
            System.out.printf("timm_swin %s: worst embedding cosine with the reference %.6f%n", p.label(), worst);
            assertTrue(worst >= (p == Precision.FP16 ? 0.999 : 0.99), p + " cosine " + worst);
        }
    }

    private static Map<String, float[]> run(Path model, Path ref) throws Exception {
        JsonNode manifest = ReferenceFixtures.JSON.readTree(ReferenceFixtures.dir().resolve("manifest.json").toFile());
        assertEquals(ReferenceFixtures.IMAGES, manifest.get("images").size());
        return Golden.run(model.resolve("model.onnx"), Golden.f32(ref.resolve("pixel_values.f32")),
                ReferenceFixtures.IMAGES, 3, ReferenceFixtures.SIZE, ReferenceFixtures.SIZE);
    }
}
