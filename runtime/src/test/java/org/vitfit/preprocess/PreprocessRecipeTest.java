package org.vitfit.preprocess;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreprocessRecipeTest {

    private static final Path SHARED = Fixtures.shared();

    private static JsonNode json(String text) throws Exception {
        return Fixtures.JSON.readTree(text);
    }

    private static JsonNode hfConfig(String model) {
        return Fixtures.json(SHARED.resolve("fixtures/hf-golden").resolve(model).resolve("processor_slow/preprocessor_config.json"));
    }

    @Test
    void timmBundledViTTiny() {
        Path root = Path.of(System.getProperty("vitfit.root", "."));
        JsonNode cfg = Fixtures.json(root.resolve("models/vit-tiny-patch16-224-augreg/config.json")).get("pretrained_cfg");
        PreprocessRecipe r = PreprocessRecipe.fromTimm(cfg);
        // floor(224 / 0.9) = 248, the Resize(248) in the golden manifest's transform.
        assertEquals(new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255,
                List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false, "pil"), r);
        assertEquals(224, r.outputHeight());
        assertEquals(224, r.outputWidth());
    }

    @Test
    void timmDefaultsForMissingKeys() throws Exception {
        PreprocessRecipe r = PreprocessRecipe.fromTimm(json("{\"input_size\": [3, 224, 224]}"));
        assertEquals("shortest_edge", r.resizeMode());
        assertEquals(256, r.resizeShortestEdge()); // floor(224 / 0.875)
        assertEquals("bicubic", r.interpolation());
        assertEquals(List.of(0.485, 0.456, 0.406), r.mean());
        assertEquals(List.of(0.229, 0.224, 0.225), r.std());
    }

    @Test
    void timmSquashResizesBothSides() throws Exception {
        PreprocessRecipe r = PreprocessRecipe.fromTimm(json(
                "{\"input_size\": [3, 384, 384], \"crop_pct\": 1.0, \"crop_mode\": \"squash\", \"interpolation\": \"bilinear\"}"));
        assertEquals("fixed", r.resizeMode());
        assertEquals(384, r.resizeHeight());
        assertEquals(384, r.resizeWidth());
        assertEquals(384, r.cropHeight());
        assertEquals("bilinear", r.interpolation());
    }

    @Test
    void timmRejectsWhatIsNotReproduced() throws Exception {
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": [3, 224, 224], \"crop_mode\": \"border\"}")), "border");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": [3, 224, 320]}")), "non-square");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": [3, 224, 224], \"interpolation\": \"lanczos\"}")), "lanczos");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": [1, 224, 224]}")), "channels");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": 224}")), "input_size");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("{\"input_size\": [3, 224, 224], \"crop_pct\": 0}")), "crop_pct");
        assertMessage(() -> PreprocessRecipe.fromTimm(json("[]")), "object");
    }

    @Test
    void hfGoldenConfigs() {
        PreprocessRecipe vit = PreprocessRecipe.fromHfProcessor(hfConfig("vit"));
        assertEquals(new PreprocessRecipe("fixed", 0, 224, 224, "bilinear", 0, 0, "trunc", 0.00392156862745098,
                List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false, "torchvision"), vit);

        PreprocessRecipe dinov2 = PreprocessRecipe.fromHfProcessor(hfConfig("dinov2"));
        assertEquals(new PreprocessRecipe("shortest_edge", 256, 0, 0, "bicubic", 224, 224, "trunc", 0.00392156862745098,
                List.of(0.485, 0.456, 0.406), List.of(0.229, 0.224, 0.225), false, "torchvision"), dinov2);

        PreprocessRecipe clip = PreprocessRecipe.fromHfProcessor(hfConfig("clip_vision"), "pil");
        assertEquals(new PreprocessRecipe("shortest_edge", 224, 0, 0, "bicubic", 224, 224, "floor", 0.00392156862745098,
                List.of(0.48145466, 0.4578275, 0.40821073), List.of(0.26862954, 0.26130258, 0.27577711), false, "pil"), clip);
    }

    @Test
    void hfLegacyFeatureExtractorConfigsReadBareIntSizesLikeTheirClass() throws Exception {
        // google/vit-base-patch16-224 as first published: a bare int size means 224 x 224 for ViT.
        PreprocessRecipe vit = PreprocessRecipe.fromHfProcessor(json("{\"feature_extractor_type\": \"ViTFeatureExtractor\","
                + " \"do_resize\": true, \"size\": 224, \"resample\": 2, \"do_normalize\": true,"
                + " \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}"));
        assertEquals("fixed", vit.resizeMode());
        assertEquals(224, vit.resizeHeight());
        assertEquals(1.0 / 255, vit.rescaleFactor());
        assertEquals(0, vit.cropHeight());
        // openai/clip-vit-base-patch32: for CLIP a bare int is the shortest edge, crop_size a square.
        PreprocessRecipe clip = PreprocessRecipe.fromHfProcessor(json("{\"feature_extractor_type\": \"CLIPFeatureExtractor\","
                + " \"size\": 224, \"crop_size\": 224, \"do_center_crop\": true, \"resample\": 3}"));
        assertEquals("shortest_edge", clip.resizeMode());
        assertEquals(224, clip.resizeShortestEdge());
        assertEquals(224, clip.cropWidth());
        assertEquals(PreprocessRecipe.OPENAI_CLIP_MEAN, clip.mean());
        // Defaults of an otherwise empty BiT config: shortest edge 224, bicubic, crop 224.
        PreprocessRecipe bit = PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"BitImageProcessorFast\"}"));
        assertEquals(224, bit.resizeShortestEdge());
        assertEquals("bicubic", bit.interpolation());
        assertEquals(224, bit.cropHeight());
    }

    @Test
    void hfDeitAndSwinProcessorsReadTheirConfigsLikeTransformers() throws Exception {
        // The form of facebook/deit-*-distilled-patch16-224: DeiT reads a bare int size as a square (resize to
        // 256 x 256, not the shortest edge), then crops 224, bicubic.
        PreprocessRecipe deit = PreprocessRecipe.fromHfProcessor(json("{\"feature_extractor_type\": \"DeiTFeatureExtractor\","
                + " \"crop_size\": 224, \"do_center_crop\": true, \"do_normalize\": true, \"do_resize\": true,"
                + " \"image_mean\": [0.485, 0.456, 0.406], \"image_std\": [0.229, 0.224, 0.225], \"resample\": 3,"
                + " \"size\": 256}"));
        assertEquals("fixed", deit.resizeMode());
        assertEquals(256, deit.resizeHeight());
        assertEquals(256, deit.resizeWidth());
        assertEquals("bicubic", deit.interpolation());
        assertEquals(224, deit.cropHeight());
        assertEquals(224, deit.cropWidth());
        assertEquals("trunc", deit.cropRounding());
        assertEquals(List.of(0.485, 0.456, 0.406), deit.mean());
        assertEquals("floor", PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"DeiTImageProcessor\"}"),
                "pil").cropRounding());
        // DeiTImageProcessor's own defaults: 256 x 256, crop 224, bicubic, mean = std = 0.5.
        PreprocessRecipe defaults = PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"DeiTImageProcessorFast\"}"));
        assertEquals(256, defaults.resizeHeight());
        assertEquals(224, defaults.cropWidth());
        assertEquals("bicubic", defaults.interpolation());
        assertEquals(List.of(0.5, 0.5, 0.5), defaults.std());
        // microsoft/swin-*: transformers maps model_type swin to ViTImageProcessor; 224 x 224 bicubic, no crop.
        PreprocessRecipe swin = PreprocessRecipe.fromHfProcessor(json("{\"feature_extractor_type\": \"ViTFeatureExtractor\","
                + " \"do_normalize\": true, \"do_resize\": true, \"image_mean\": [0.485, 0.456, 0.406],"
                + " \"image_std\": [0.229, 0.224, 0.225], \"resample\": 3, \"size\": 224}"));
        assertEquals("fixed", swin.resizeMode());
        assertEquals(224, swin.outputHeight());
        assertEquals("bicubic", swin.interpolation());
        assertEquals(0, swin.cropHeight());
    }

    @Test
    void hfSwitchesOffRescaleAndNormalise() throws Exception {
        PreprocessRecipe r = PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ViTImageProcessor\","
                + " \"do_rescale\": false, \"do_normalize\": false}"));
        assertEquals(1.0, r.rescaleFactor());
        assertEquals(List.of(0.0, 0.0, 0.0), r.mean());
        assertEquals(List.of(1.0, 1.0, 1.0), r.std());
        PreprocessRecipe single = PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ViTImageProcessor\","
                + " \"image_mean\": 0.5, \"image_std\": 0.25}"));
        assertEquals(List.of(0.5, 0.5, 0.5), single.mean());
        assertEquals(List.of(0.25, 0.25, 0.25), single.std());
    }

    @Test
    void hfRejectsWhatIsNotReproduced() throws Exception {
        ObjectNode lanczos = (ObjectNode) hfConfig("vit").deepCopy();
        lanczos.put("resample", 1);
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(lanczos), "LANCZOS");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ConvNextImageProcessor\"}")),
                "ConvNextImageProcessor");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(json("{\"size\": {\"height\": 224, \"width\": 224}}")),
                "image_processor_type");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"CLIPImageProcessor\","
                + " \"size\": {\"shortest_edge\": 224, \"longest_edge\": 448}}")), "longest_edge");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ViTImageProcessor\","
                + " \"resample\": 0}")), "NEAREST");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ViTImageProcessor\","
                + " \"image_mean\": [0.5, 0.5]}")), "image_mean");
        assertMessage(() -> PreprocessRecipe.fromHfProcessor(hfConfig("vit"), "tensorflow"), "backend");
        assertEquals("nearest", PreprocessRecipe.fromHfProcessor(json("{\"image_processor_type\": \"ViTImageProcessor\","
                + " \"resample\": 0}"), "pil").interpolation());
    }

    @Test
    void jsonRoundTripKeepsTheRecordAndOlderRecipesReadAsPil() throws Exception {
        PreprocessRecipe hf = PreprocessRecipe.fromHfProcessor(hfConfig("dinov2"));
        String text = Fixtures.JSON.writeValueAsString(hf);
        assertEquals(hf, Fixtures.JSON.readValue(text, PreprocessRecipe.class));
        assertFalse(text.contains("outputHeight") || text.contains("effectiveBackend"), text);

        // A recipe written before the backend component existed.
        String old = "{\"resizeMode\":\"shortest_edge\",\"resizeShortestEdge\":248,\"resizeHeight\":0,\"resizeWidth\":0,"
                + "\"interpolation\":\"bicubic\",\"cropHeight\":224,\"cropWidth\":224,\"cropRounding\":\"round\","
                + "\"rescaleFactor\":0.00392156862745098,\"mean\":[0.5,0.5,0.5],\"std\":[0.5,0.5,0.5],"
                + "\"applyExifOrientation\":false}";
        PreprocessRecipe read = Fixtures.JSON.readValue(old, PreprocessRecipe.class);
        assertNull(read.backend());
        assertEquals("pil", read.effectiveBackend());
        assertFalse(Fixtures.JSON.writeValueAsString(read).contains("backend"));
        assertTrue(read.withApplyExifOrientation(true).applyExifOrientation());
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(fragment), "message should mention '" + fragment + "': " + e.getMessage());
    }
}
