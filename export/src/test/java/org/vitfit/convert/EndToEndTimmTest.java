package org.vitfit.convert;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * From image files to embeddings entirely in Java (decode, preprocess, converted graph) against what timm
 * computed from the same files with Pillow and PyTorch.
 */
class EndToEndTimmTest {

    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void convert() throws IOException {
        model = tmp.resolve("vit-tiny");
        Converter.convert(Golden.root().resolve("models/vit-tiny-patch16-224-augreg"), model);
    }

    private static int argmax(float[] v, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[offset + i] > v[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void askingForCudaOnTheCpuBuildFallsBackToCpu() throws IOException {
        java.io.PrintStream old = System.err;
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(err, true));
        try (VitModel vit = VitModel.open(model, Device.parse("cuda:0"), 1)) {
            assertEquals(Device.CPU, vit.device());
        } finally {
            System.setErr(old);
        }
        String warning = err.toString().strip();
        assertEquals(1, warning.lines().count(), warning);
        assertTrue(warning.startsWith("warning: CUDA device 0 unavailable") && warning.contains("running on CPU"), warning);
    }

    @Test
    void fixtureImagesMatchTimmPixelsAndEmbeddings() throws IOException {
        Path golden = Golden.shared().resolve("fixtures/timm-golden/fixture_images");
        float[] goldenPixels = Golden.f32(golden.resolve("pixel_values.f32"));
        float[] goldenEmb = Golden.f32(golden.resolve("cls_embedding.f32"));
        List<String> files = List.of("img0.png", "img1.png", "img2.png", "img3.jpg");
        int per = 3 * 224 * 224;
        // One 8-bit step after normalisation with std 0.5 is (1/255)/0.5.
        double step = (1.0 / 255) / 0.5;
        ImageDecoder decoder = new ImageDecoder(false);
        try (VitModel vit = VitModel.open(model, Device.CPU, 0)) {
            for (int i = 0; i < files.size(); i++) {
                Path file = Golden.shared().resolve("fixtures/hf-golden/images").resolve(files.get(i));
                BufferedImage img = decoder.decode(file);
                float[] pixels = vit.preprocessor().apply(img);
                double maxDiff = 0;
                for (int j = 0; j < per; j++) {
                    maxDiff = Math.max(maxDiff, Math.abs(pixels[j] - goldenPixels[i * per + j]));
                }
                float[] emb = vit.run(List.of(img), Set.of("embedding")).get("embedding")[0];
                double cos = Golden.cosine(emb, Golden.row(goldenEmb, i, 192));
                System.out.printf("%s: pixel max |diff| %.3f steps, embedding cosine %.6f%n", files.get(i), maxDiff / step, cos);
                if (files.get(i).endsWith(".png")) {
                    assertTrue(maxDiff <= step + 1e-6, files.get(i) + " pixel max |diff| " + maxDiff / step + " steps");
                    assertTrue(cos >= 0.9999, files.get(i) + " cosine " + cos);
                } else {
                    assertTrue(cos >= 0.999, files.get(i) + " cosine " + cos);
                }
            }
        }
    }

    @Test
    void imagenetSamplesKeepTimmTop1() throws IOException {
        Path golden = Golden.shared().resolve("fixtures/timm-golden/imagenet_samples");
        float[] goldenEmb = Golden.f32(golden.resolve("cls_embedding.f32"));
        float[] goldenLogits = Golden.f32(golden.resolve("logits.f32"));
        List<String> names = List.of(
                "n01514668_10054.JPEG", "n01687978_10071.JPEG", "n01735189_11267.JPEG", "n01847000_10087.JPEG",
                "n01855032_1046.JPEG", "n02018795_102.JPEG", "n02025239_1005.JPEG", "n02113978_10037.JPEG",
                "n02125311_10473.JPEG", "n02127052_10040.JPEG", "n02231487_1002.JPEG", "n02412080_10216.JPEG",
                "n02493509_10045.JPEG", "n03032252_101298.JPEG", "n03062245_1030.JPEG", "n03240683_10240.JPEG",
                "n03764736_10075.JPEG");
        ImageDecoder decoder = new ImageDecoder(false);
        try (VitModel vit = VitModel.open(model, Device.CPU, 0)) {
            double worst = 1;
            for (int i = 0; i < names.size(); i++) {
                Path file = Golden.root().resolve("models/vit-tiny-patch16-224-augreg/samples").resolve(names.get(i));
                Map<String, float[][]> r = vit.run(List.of(decoder.decode(file)), Set.of("embedding", "logits"));
                double cos = Golden.cosine(r.get("embedding")[0], Golden.row(goldenEmb, i, 192));
                worst = Math.min(worst, cos);
                assertTrue(cos >= 0.999, names.get(i) + " cosine " + cos);
                assertEquals(argmax(goldenLogits, i * 1000, 1000), argmax(r.get("logits")[0], 0, 1000),
                        names.get(i) + ": top-1 differs from timm's");
            }
            System.out.printf("17 ImageNet JPEGs: worst embedding cosine %.6f, all top-1 equal timm's%n", worst);
        }
    }
}
