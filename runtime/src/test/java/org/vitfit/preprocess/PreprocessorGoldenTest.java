package org.vitfit.preprocess;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pixel_values} against what the real timm (Pillow resize) and transformers 5 (torchvision backend)
 * wrote for the same files.
 *
 * <p>Differences are measured in 8-bit steps ({@code |a - b| * std * 255}). PNG pixels decode identically
 * in Java and PIL, so any difference there is a preprocessing bug and PNGs must match bit for bit. JPEGs
 * go through the JDK's libjpeg rather than Pillow's libjpeg-turbo; today they match bit for bit too, but a
 * JDK built with another libjpeg may differ by a step here and there, so they get a small tolerance that
 * still catches colour-management mistakes (an applied ICC profile costs about 5 steps on average).
 */
class PreprocessorGoldenTest {

    private static final Path SHARED = Fixtures.shared();
    private static final ImageDecoder DECODER = new ImageDecoder(false);

    /** Per-image comparison result. */
    private record Diff(String image, double maxSteps, double meanSteps, long exact, long total) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-24s max %.3f steps, mean %.4f steps, %d/%d floats identical",
                    image, maxSteps, meanSteps, exact, total);
        }
    }

    @Test
    void timmImagenetSamplesMatchTimm() throws Exception {
        JsonNode manifest = Fixtures.json(SHARED.resolve("fixtures/timm-golden/manifest.json"));
        PreprocessRecipe recipe = timmRecipe();
        List<Diff> diffs = compare(recipe, manifest.at("/sets/imagenet_samples"),
                SHARED.resolve("models/vit-tiny-patch16-224-augreg/samples"),
                SHARED.resolve("fixtures/timm-golden/imagenet_samples/pixel_values.f32"));
        assertJpegClose("timm imagenet_samples", diffs);
    }

    @Test
    void timmFixtureImagesMatchTimm() throws Exception {
        JsonNode manifest = Fixtures.json(SHARED.resolve("fixtures/timm-golden/manifest.json"));
        List<Diff> diffs = compare(timmRecipe(), manifest.at("/sets/fixture_images"),
                SHARED.resolve("fixtures/hf-golden/images"),
                SHARED.resolve("fixtures/timm-golden/fixture_images/pixel_values.f32"));
        assertMatches("timm fixture_images", diffs);
    }

    @Test
    void vitProcessorMatchesTransformers() throws Exception {
        assertMatches("hf vit", hf("vit"));
    }

    @Test
    void dinov2ProcessorMatchesTransformers() throws Exception {
        assertMatches("hf dinov2", hf("dinov2"));
    }

    @Test
    void clipProcessorMatchesTransformers() throws Exception {
        assertMatches("hf clip_vision", hf("clip_vision"));
    }

    private static PreprocessRecipe timmRecipe() {
        Path root = Path.of(System.getProperty("vitfit.root", "."));
        JsonNode config = Fixtures.json(root.resolve("models/vit-tiny-patch16-224-augreg/config.json"));
        return PreprocessRecipe.fromTimm(config.get("pretrained_cfg"));
    }

    private static List<Diff> hf(String model) throws Exception {
        Path dir = SHARED.resolve("fixtures/hf-golden").resolve(model);
        PreprocessRecipe recipe = PreprocessRecipe.fromHfProcessor(
                Fixtures.json(dir.resolve("processor_slow/preprocessor_config.json")));
        JsonNode manifest = Fixtures.json(SHARED.resolve("fixtures/hf-golden/manifest.json"));
        JsonNode set = Fixtures.JSON.createObjectNode()
                .set("images", manifest.get("images"));
        return compare(recipe, set, SHARED.resolve("fixtures/hf-golden"), dir.resolve("pixel_values_slow.f32"));
    }

    private static List<Diff> compare(PreprocessRecipe recipe, JsonNode set, Path imageDir, Path golden) throws Exception {
        Preprocessor preprocessor = new Preprocessor(recipe);
        float[] expected = Fixtures.f32(golden);
        int per = preprocessor.floatsPerImage();
        int count = set.get("images").size();
        assertEquals((long) count * per, expected.length, golden + " size");
        int plane = per / 3;
        List<Diff> diffs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String name = set.get("images").get(i).asText();
            BufferedImage image = DECODER.decode(imageDir.resolve(name));
            float[] actual = preprocessor.apply(image);
            double max = 0;
            double sum = 0;
            long exact = 0;
            for (int j = 0; j < per; j++) {
                float e = expected[i * per + j];
                double steps = Math.abs(actual[j] - e) * recipe.std().get(j / plane) * 255;
                max = Math.max(max, steps);
                sum += steps;
                if (Float.floatToIntBits(actual[j]) == Float.floatToIntBits(e)) {
                    exact++;
                }
            }
            diffs.add(new Diff(name, max, sum / per, exact, per));
        }
        return diffs;
    }

    /** PNGs must be bit-identical; JPEGs within a decoder's rounding difference. */
    private static void assertMatches(String what, List<Diff> diffs) {
        List<Diff> jpegs = new ArrayList<>();
        for (Diff d : diffs) {
            if (d.image().toLowerCase(Locale.ROOT).endsWith(".png")) {
                System.out.println(what + ": " + d);
                assertEquals(d.total(), d.exact(), what + " " + d + ": PNG must match bit for bit");
            } else {
                jpegs.add(d);
            }
        }
        if (!jpegs.isEmpty()) {
            assertJpegClose(what, jpegs);
        }
    }

    private static void assertJpegClose(String what, List<Diff> diffs) {
        double worstMax = 0;
        double meanOfMeans = 0;
        for (Diff d : diffs) {
            System.out.println(what + ": " + d);
            worstMax = Math.max(worstMax, d.maxSteps());
            meanOfMeans += d.meanSteps() / diffs.size();
            assertTrue(d.meanSteps() <= 0.05 && d.maxSteps() <= 2 + 1e-3,
                    what + " " + d + ": more than a JPEG decoder's rounding difference");
        }
        System.out.printf(Locale.ROOT, "%s: %d JPEGs, worst max %.3f steps, average mean %.4f steps%n",
                what, diffs.size(), worstMax, meanOfMeans);
    }
}
