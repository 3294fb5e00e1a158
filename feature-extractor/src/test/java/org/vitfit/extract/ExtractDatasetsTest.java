package org.vitfit.extract;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheHeader;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.VectorDtype;
import org.vitfit.onnx.Device;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundled ViT-Tiny over the shared datasets and golden images, end to end through the cache. */
class ExtractDatasetsTest {

    @TempDir
    static Path tmp;

    static Path model;
    static ModelDescriptor descriptor;

    @BeforeAll
    static void convert() throws IOException {
        model = TestData.model();
        descriptor = ModelDescriptor.read(model);
    }

    @Test
    void goldenImagesMatchTimmClsEmbeddings() throws IOException {
        Path images = TestData.shared().resolve("fixtures/hf-golden/images");
        float[] golden = TestData.readF32(TestData.shared().resolve("fixtures/timm-golden/fixture_images/cls_embedding.f32"));
        List<String> order = List.of("img0.png", "img1.png", "img2.png", "img3.jpg");
        for (VectorDtype dtype : VectorDtype.values()) {
            Path out = tmp.resolve("golden-" + dtype);
            ExtractSummary s = Extractor.run(ExtractOptions.builder(model, images, out).dtype(dtype).batchSize(3)
                    .build(), ExtractListener.NONE);
            assertEquals(4, s.embedded());
            try (EmbeddingCache c = EmbeddingCache.open(out)) {
                assertEquals(dtype.label(), c.header().dtype());
                for (int i = 0; i < order.size(); i++) {
                    float[] v = c.vector(c.row(order.get(i)).orElseThrow());
                    double cos = TestData.cosine(v, 0, golden, i * 192, 192);
                    assertTrue(cos >= 0.999, dtype + " " + order.get(i) + ": cosine " + cos);
                    System.out.printf("golden %s %s 1 - cosine = %.2e%n", dtype, order.get(i), 1 - cos);
                }
            }
        }
    }

    @Test
    void petsFolderGivesBreedLabelsAndVectorsThatFindTheirBreed() throws Exception {
        Path pets = TestData.shared().resolve("datasets/oxford-pets-370");
        Path out = tmp.resolve("pets");
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, pets, out).build(), ExtractListener.NONE);
        System.out.println("pets: " + String.join(" / ", s.describe()));
        assertEquals(370, s.embedded());
        assertEquals(0, s.failed());
        assertEquals(370, s.cacheRows());

        try (EmbeddingCache c = EmbeddingCache.open(out)) {
            CacheHeader h = c.header();
            assertEquals(descriptor.onnxSha256(), h.modelSha256());
            assertEquals(descriptor.preprocessing(), h.preprocessing());
            assertEquals(192, c.dimension());
            assertEquals(370, h.count());
            Map<String, Integer> perBreed = new TreeMap<>();
            for (CacheRow r : c.rows()) {
                String breed = r.path().substring(0, r.path().indexOf('/'));
                assertEquals(List.of(breed), r.labels());
                perBreed.merge(breed, 1, Integer::sum);
            }
            assertEquals(37, perBreed.size());
            assertTrue(perBreed.values().stream().allMatch(n -> n == 10), perBreed.toString());

            // Each cached vector must be its own image's: recompute a few one at a time, outside the pipeline.
            ImagePreparer preparer = new ImagePreparer(descriptor.preprocessing(), Long.MAX_VALUE);
            try (BatchEmbedder single = new BatchEmbedder(model, descriptor, Device.CPU, 1, 0)) {
                for (int i : new int[] {0, 77, 211, 369}) {
                    CacheRow r = c.rows().get(i);
                    byte[] bytes = Files.readAllBytes(pets.resolve(r.path()));
                    assertEquals(Hashing.sha256(bytes), r.sha256());
                    assertEquals(bytes.length, r.size());
                    preparer.prepare(bytes, r.path(), single.inputBuffer(), 0);
                    float[] expected = new float[192];
                    single.embed(1, expected, 0);
                    assertArrayEquals(expected, c.vector(r), 1e-4f, r.path());
                }
            }

            double accuracy = leaveOneOutNearestNeighbourAccuracy(c);
            System.out.printf("pets 1-NN leave-one-out breed accuracy %.3f%n", accuracy);
            // Chance is 1/37; ImageNet features separate most breeds.
            assertTrue(accuracy > 0.6, "1-NN accuracy " + accuracy);
        }

        ExtractSummary again = Extractor.run(ExtractOptions.builder(model, pets, out).build(), ExtractListener.NONE);
        assertEquals(370, again.unchanged());
        assertEquals(0, again.embedded());
        assertEquals(370, again.cacheRows());
    }

    @Test
    void cocoManifestGivesMultiLabelsAndSplits() throws IOException {
        Path manifest = TestData.shared().resolve("datasets/coco-mini-multilabel/labels.csv");
        Path out = tmp.resolve("coco");
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, manifest, out).dtype(VectorDtype.F16).build(),
                ExtractListener.NONE);
        System.out.println("coco: " + String.join(" / ", s.describe()));
        assertEquals(159, s.embedded());

        Map<String, String[]> expected = new HashMap<>();
        List<String> lines = Files.readAllLines(manifest);
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            expected.put(f[0], f);
        }
        try (EmbeddingCache c = EmbeddingCache.open(out)) {
            assertEquals(159, c.rows().size());
            assertEquals(2 * 192 * c.header().rows(), c.rawVectors().remaining());
            int train = 0;
            int multi = 0;
            for (CacheRow r : c.rows()) {
                String[] f = expected.get(r.path());
                assertEquals(List.of(f[1].split("\\|")), r.labels(), r.path());
                assertEquals(f[2], r.split());
                train += "train".equals(r.split()) ? 1 : 0;
                multi += r.labels().size() > 1 ? 1 : 0;
            }
            assertEquals(80, train);
            assertTrue(multi > 100, multi + " multi-label rows");
            // Rows follow manifest order.
            assertEquals(lines.get(1).split(",")[0], c.rows().get(0).path());
        }
    }

    private static double leaveOneOutNearestNeighbourAccuracy(EmbeddingCache c) {
        List<CacheRow> rows = c.rows();
        int n = rows.size();
        float[][] v = new float[n][];
        for (int i = 0; i < n; i++) {
            v[i] = c.vector(rows.get(i));
        }
        int correct = 0;
        for (int i = 0; i < n; i++) {
            int best = -1;
            double bestCos = -2;
            for (int j = 0; j < n; j++) {
                double cos = j == i ? -2 : TestData.cosine(v[i], 0, v[j], 0, v[i].length);
                if (cos > bestCos) {
                    bestCos = cos;
                    best = j;
                }
            }
            correct += rows.get(best).labels().equals(rows.get(i).labels()) ? 1 : 0;
        }
        return correct / (double) n;
    }
}
