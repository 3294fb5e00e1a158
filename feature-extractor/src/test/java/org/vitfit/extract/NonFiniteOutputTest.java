package org.vitfit.extract;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.VectorDtype;
import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model whose output is NaN for some images (the checkpoint-with-NaN-weights case, built here as a tiny ONNX graph
 * since the converter refuses such weights): those images are failed rows with reason {@code non_finite_output}, the
 * next run tries them again, and nothing non-finite ever reaches the cache.
 */
class NonFiniteOutputTest {

    @TempDir
    static Path tmp;

    static Path model;

    /**
     * {@code embedding = concat(log(m), 1e5 * m)} with {@code m} the per-channel mean of the normalised pixels
     * (ViT-Tiny's recipe maps 0..255 to -1..1): a black image gives log(-1) = NaN, a white one 1e5, which f32 holds
     * and f16 (largest 65504) does not, a mid-grey one finite values in both.
     */
    @BeforeAll
    static void buildModel() throws IOException {
        Path vit = TestData.model();
        model = Files.createDirectories(tmp.resolve("nan-probe"));
        OnnxGraph g = new OnnxGraph("nan-probe");
        String x = g.floatInput("pixel_values", "batch", 3, 224, 224);
        String mean = g.op("ReduceMean", "mean", Map.of("axes", new long[] {2, 3}, "keepdims", 0L), x);
        String log = g.op("Log", "log", mean);
        String big = g.op("Mul", "big", mean, g.scalar("scale", 1e5f));
        String embedding = g.op("Concat", "concat", Map.of("axis", 1L), log, big);
        g.floatOutput(embedding, "embedding", "batch", 6);
        Path onnx = model.resolve(ModelDescriptor.ONNX_FILE_NAME);
        Files.write(onnx, g.toModel("test", Map.of()).toByteArray());

        ObjectMapper json = new ObjectMapper();
        ObjectNode d = (ObjectNode) json.readTree(vit.resolve(ModelDescriptor.FILE_NAME).toFile());
        d.put("embeddingDim", 6);
        d.put("onnxSha256", Hashing.sha256(onnx));
        d.putArray("outputs").add("embedding");
        d.remove("labels");
        json.writeValue(model.resolve(ModelDescriptor.FILE_NAME).toFile(), d);
    }

    private static void solid(Path file, int grey) throws IOException {
        BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                img.setRGB(x, y, grey << 16 | grey << 8 | grey);
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }

    private static ExtractSummary extract(Path in, Path cache, VectorDtype dtype) throws IOException {
        return Extractor.run(ExtractOptions.builder(model, in, cache).batchSize(4).dtype(dtype).build(),
                ExtractListener.NONE);
    }

    @Test
    void nanEmbeddingsAreFailedRowsThatTheNextRunRetries() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in"));
        solid(in.resolve("black.png"), 0);
        solid(in.resolve("grey.png"), 191);
        solid(in.resolve("white.png"), 255);
        Path cache = tmp.resolve("cache");

        ExtractSummary first = extract(in, cache, VectorDtype.F32);
        assertEquals(2, first.embedded());
        assertEquals(1, first.failed());
        Map<String, JsonNode> errors = errors(cache);
        assertEquals(List.of("black.png"), List.copyOf(errors.keySet()));
        assertEquals("non_finite_output", errors.get("black.png").get("reason").asText());
        assertTrue(errors.get("black.png").get("message").asText().startsWith("black.png: the model's embedding holds "
                + "NaN at index 0; nothing was stored and the next run tries this image again"), errors.toString());
        assertAllFinite(cache, 2);

        // Not skipped as unchanged: the row was never stored, so the run tries (and reports) it again.
        ExtractSummary second = extract(in, cache, VectorDtype.F32);
        assertEquals(2, second.unchanged());
        assertEquals(1, second.failed());
        assertEquals(List.of("black.png"), List.copyOf(errors(cache).keySet()));

        solid(in.resolve("black.png"), 140);
        ExtractSummary third = extract(in, cache, VectorDtype.F32);
        assertEquals(1, third.embedded(), "the image that failed is embedded once it gives a finite vector");
        assertEquals(0, third.failed());
        assertAllFinite(cache, 3);
    }

    @Test
    void valuesPastTheF16RangeAreFailedRowsInAnF16Cache() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in16"));
        solid(in.resolve("grey.png"), 191);
        solid(in.resolve("white.png"), 255);
        Path cache = tmp.resolve("cache16");
        ExtractSummary s = extract(in, cache, VectorDtype.F16);
        assertEquals(1, s.embedded());
        assertEquals(1, s.failed());
        JsonNode white = errors(cache).get("white.png");
        assertEquals("non_finite_output", white.get("reason").asText());
        assertTrue(white.get("message").asText().contains("holds 100000.0 at index 3, beyond the f16 range (largest "
                + "65504); use --dtype f32 for a new cache"), white.toString());
        assertAllFinite(cache, 1);
    }

    private static void assertAllFinite(Path cache, int rows) throws IOException {
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(rows, c.rows().size());
            for (CacheRow r : c.rows()) {
                assertTrue(Finite.all(c.vector(r)), r.path());
            }
        }
    }

    private static Map<String, JsonNode> errors(Path cache) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Map<String, JsonNode> out = new TreeMap<>();
        for (String line : Files.readAllLines(cache.resolve(EmbeddingCache.ERRORS_FILE))) {
            JsonNode n = json.readTree(line);
            out.put(n.get("path").asText(), n);
        }
        return out;
    }
}
