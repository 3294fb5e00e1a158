package org.vitfit.extract;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheMismatchException;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Re-running over a changed input: skip unchanged, embed new, re-embed changed, copy moved, delete gone. */
class IncrementalTest {

    @TempDir
    Path tmp;

    static Path model;

    @BeforeAll
    static void convert() {
        model = TestData.model();
    }

    private ExtractSummary extract(Path input, Path cache) throws IOException {
        return Extractor.run(ExtractOptions.builder(model, input, cache).batchSize(4).build(), ExtractListener.NONE);
    }

    private ExtractSummary extract(ExtractOptions.Builder options) throws IOException {
        return Extractor.run(options.batchSize(4).build(), ExtractListener.NONE);
    }

    @Test
    void addedModifiedMovedAndDeletedImagesAreHandledAndMatchACleanRun() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 3, 4);
        Path cache = tmp.resolve("cache");
        ExtractSummary first = extract(data, cache);
        assertEquals(12, first.embedded());

        Path pets = TestData.shared().resolve("datasets/oxford-pets-370");
        List<Path> aby = sortedFiles(data.resolve("Abyssinian"));
        Files.delete(aby.get(0));
        Files.move(aby.get(1), data.resolve("Bengal/moved-from-abyssinian.jpg"));
        Files.copy(sortedFiles(pets.resolve("Bombay")).get(0), data.resolve("Bengal/new.jpg"));
        Path modified = sortedFiles(data.resolve("Birman")).get(0);
        Files.copy(sortedFiles(pets.resolve("boxer")).get(0), modified, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        ExtractSummary second = extract(data, cache);
        assertEquals(2, second.embedded(), "new.jpg and the modified Birman");
        assertEquals(1, second.changed());
        assertEquals(1, second.copied(), "the moved file keeps its vector under its new path and label");
        assertEquals(0, second.deleted(), "rows outside the listing stay unless --prune is given");
        assertEquals(2, second.keptOutside(), "the deleted file and the moved file's old path");
        assertTrue(second.describe().get(1).startsWith("kept 2 cached rows that this listing does not name"),
                second.describe().toString());
        assertEquals(9, second.unchanged());
        assertEquals(14, second.cacheRows());

        ExtractSummary pruning = extract(ExtractOptions.builder(model, data, cache).prune(true));
        assertEquals(12, pruning.unchanged());
        assertEquals(2, pruning.pruned());
        assertEquals(2, pruning.deleted());
        assertEquals(0, pruning.keptOutside());
        assertEquals(12, pruning.cacheRows());
        assertTrue(pruning.describe().contains("pruned 2 cached rows that this listing does not name (--prune)"),
                pruning.describe().toString());

        ExtractSummary third = extract(data, cache);
        assertEquals(12, third.unchanged());
        assertEquals(0, third.embedded() + third.copied() + third.deleted() + third.keptOutside());
        String rate = third.describe().get(1);
        assertTrue(rate.matches("wall time [0-9.]+ s, nothing to embed, checked 12 images at [0-9.]+ img/s on cpu.*"),
                "a no-op run reports how fast it checked, not 0.0 img/s: " + rate);

        Path clean = tmp.resolve("clean");
        extract(data, clean);
        try (EmbeddingCache inc = EmbeddingCache.open(cache); EmbeddingCache ref = EmbeddingCache.open(clean)) {
            assertEquals(paths(ref), paths(inc));
            for (CacheRow r : ref.rows()) {
                CacheRow i = inc.row(r.path()).orElseThrow();
                assertEquals(r.labels(), i.labels(), r.path());
                assertEquals(r.sha256(), i.sha256(), r.path());
                assertArrayEquals(ref.vector(r), inc.vector(i), 1e-5f, r.path());
            }
            assertEquals(List.of("Bengal"), inc.row("Bengal/moved-from-abyssinian.jpg").orElseThrow().labels());
        }
    }

    /**
     * The case that once cost a user 196 of 200 rows: another --input, or an --include glob, into an existing cache.
     * Rows outside the listing stay live by default; --prune deletes exactly those.
     */
    @Test
    void anotherInputOrIncludeKeepsTheOtherRowsUnlessPruneIsGiven() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 3, 2);
        Path cache = tmp.resolve("cache");
        assertEquals(6, extract(data, cache).embedded());

        ExtractSummary narrowed = extract(ExtractOptions.builder(model, data, cache).include(List.of("Bengal/*")));
        assertEquals(2, narrowed.unchanged());
        assertEquals(4, narrowed.keptOutside());
        assertEquals(0, narrowed.deleted());
        assertEquals(6, narrowed.cacheRows());

        Path other = TestData.petSubset(tmp.resolve("other"), 1, 1);
        Files.move(other.resolve("Abyssinian"), other.resolve("Extra"));
        ExtractSummary another = extract(other, cache);
        assertEquals(0, another.embedded(), "its one image is already cached under another path");
        assertEquals(1, another.copied());
        assertEquals(6, another.keptOutside());
        assertEquals(7, another.cacheRows());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(7, c.rows().size());
            String bengal = "Bengal/" + sortedFiles(data.resolve("Bengal")).get(0).getFileName();
            assertEquals(List.of("Bengal"), c.row(bengal).orElseThrow().labels());
            String extra = "Extra/" + sortedFiles(other.resolve("Extra")).get(0).getFileName();
            assertEquals(List.of("Extra"), c.row(extra).orElseThrow().labels());
        }

        ExtractSummary pruned = extract(ExtractOptions.builder(model, data, cache).include(List.of("Bengal/*"))
                .prune(true));
        assertEquals(5, pruned.pruned(), "everything but the two Bengal rows");
        assertEquals(2, pruned.cacheRows());
    }

    @Test
    void relabelledManifestRowsKeepTheirVectorAndTakeTheNewLabels() throws IOException {
        Path pets = TestData.shared().resolve("datasets/oxford-pets-370");
        List<Path> images = sortedFiles(pets.resolve("pug")).subList(0, 3);
        Path manifest = tmp.resolve("m.jsonl");
        Files.writeString(manifest, images.stream().map(p -> "{\"path\": \"" + p + "\", \"labels\": [\"pug\"]}")
                .collect(Collectors.joining("\n")));
        Path cache = tmp.resolve("cache");
        extract(manifest, cache);
        float[] before;
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            before = c.vector(c.row(images.get(1).toString()).orElseThrow());
        }
        Files.writeString(manifest, String.join("\n",
                "{\"path\": \"" + images.get(0) + "\", \"labels\": [\"pug\"]}",
                "{\"path\": \"" + images.get(1) + "\", \"labels\": [\"dog\", \"pug\"], \"split\": \"val\"}",
                "{\"path\": \"" + images.get(2) + "\", \"labels\": [\"pug\"]}"));
        ExtractSummary s = extract(manifest, cache);
        assertEquals(0, s.embedded());
        assertEquals(1, s.copied());
        assertEquals(2, s.unchanged());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            CacheRow r = c.row(images.get(1).toString()).orElseThrow();
            assertEquals(List.of("dog", "pug"), r.labels());
            assertEquals("val", r.split());
            assertArrayEquals(before, c.vector(r), 0f);
            assertEquals(3, c.rows().size());
        }
    }

    @Test
    void cacheOfAnotherModelOrPreprocessingIsRefusedAndLeftUntouched() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 2);
        Path cache = tmp.resolve("cache");
        extract(data, cache);
        byte[] header = Files.readAllBytes(cache.resolve("header.json"));
        ObjectMapper json = new ObjectMapper();

        Path otherRecipe = copyModel(tmp.resolve("other-recipe"));
        ObjectNode d = (ObjectNode) json.readTree(otherRecipe.resolve(ModelDescriptor.FILE_NAME).toFile());
        ((ObjectNode) d.get("preprocessing")).put("interpolation", "bilinear");
        json.writeValue(otherRecipe.resolve(ModelDescriptor.FILE_NAME).toFile(), d);
        CacheMismatchException e = assertThrows(CacheMismatchException.class, () -> Extractor.run(
                ExtractOptions.builder(otherRecipe, data, cache).build(), ExtractListener.NONE));
        assertTrue(e.getMessage().contains("interpolation \"bicubic\" in the cache, \"bilinear\" now"), e.getMessage());

        // Other model bytes: an unknown protobuf field appended keeps the ONNX file valid but changes its sha256.
        Path otherModel = copyModel(tmp.resolve("other-model"));
        Path onnx = otherModel.resolve(ModelDescriptor.ONNX_FILE_NAME);
        Files.write(onnx, new byte[] {(byte) 0xa0, 0x06, 0x01}, StandardOpenOption.APPEND);
        String sha = Hashing.sha256(onnx);
        ModelDescriptor.read(otherModel).withOnnxSha256(sha).write(otherModel.resolve(ModelDescriptor.FILE_NAME));
        e = assertThrows(CacheMismatchException.class, () -> Extractor.run(
                ExtractOptions.builder(otherModel, data, cache).build(), ExtractListener.NONE));
        assertTrue(e.getMessage().contains(sha), e.getMessage());
        assertTrue(e.getMessage().contains("must not be mixed"), e.getMessage());

        assertArrayEquals(header, Files.readAllBytes(cache.resolve("header.json")));
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(2, c.rows().size());
        }

        // A model.onnx swapped after conversion is caught before it can write vectors under the old identity.
        Files.copy(onnx, copyModel(tmp.resolve("swapped")).resolve(ModelDescriptor.ONNX_FILE_NAME),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        IOException swapped = assertThrows(IOException.class, () -> Extractor.run(
                ExtractOptions.builder(tmp.resolve("swapped"), data, cache).build(), ExtractListener.NONE));
        assertTrue(swapped.getMessage().contains("the model was changed after conversion"), swapped.getMessage());
    }

    /**
     * The model file is hashed once, not on every run: its sha256 is remembered with its size and modification time
     * and trusted while they are unchanged (as git trusts its index). Shown by planting a wrong remembered hash: it is
     * believed until the file's time changes, then the file is hashed again.
     */
    @Test
    void theModelIsHashedOnlyWhenItsFileChanged() throws IOException {
        Path copy = copyModel(tmp.resolve("memo"));
        ExtractOptions options = ExtractOptions.builder(copy, tmp, tmp.resolve("unused")).build();
        Extractor.load(options).close();
        Path stamp = copy.resolve(".ort-cache/model.onnx.source.properties");
        java.util.Properties p = new java.util.Properties();
        try (var in = Files.newInputStream(stamp)) {
            p.load(in);
        }
        assertEquals(ModelDescriptor.read(copy).onnxSha256(), p.getProperty("sha256"));
        p.setProperty("sha256", "0".repeat(64));
        try (var out = Files.newOutputStream(stamp)) {
            p.store(out, null);
        }
        IOException e = assertThrows(IOException.class, () -> Extractor.load(options));
        assertTrue(e.getMessage().contains("has sha256 " + "0".repeat(64)), "the remembered hash was used: "
                + e.getMessage());
        Path onnx = copy.resolve(ModelDescriptor.ONNX_FILE_NAME);
        Files.setLastModifiedTime(onnx, java.nio.file.attribute.FileTime.fromMillis(
                Files.getLastModifiedTime(onnx).toMillis() + 1000));
        Extractor.load(options).close();
    }

    private static Path copyModel(Path to) throws IOException {
        Files.createDirectories(to);
        for (String f : List.of(ModelDescriptor.FILE_NAME, ModelDescriptor.ONNX_FILE_NAME)) {
            Files.copy(model.resolve(f), to.resolve(f));
        }
        return to;
    }

    private static List<Path> sortedFiles(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    private static Map<String, List<String>> paths(EmbeddingCache c) {
        return c.rows().stream().collect(Collectors.toMap(CacheRow::path, CacheRow::labels));
    }
}
