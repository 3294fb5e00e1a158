package org.vitfit.extract;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A listed image whose bytes cannot be read now (gone, permission, I/O error) keeps its cached row; one whose bytes
 * were read, changed and no longer embed loses it; only {@code --prune} removes the kept ones.
 *
 * <p>The tests run as root, for whom a {@code chmod 000} file is still readable, so "cannot be read" is made in ways
 * root cannot read either: a directory where the file was (EISDIR), a named pipe (which the reader must refuse
 * before opening it: opening one blocks until a writer comes), and a symbolic link to itself (ELOOP: an
 * IOException from the file system, the path EACCES and EIO take).
 */
class ReadFailureTest {

    @TempDir
    Path tmp;

    static Path model;

    @BeforeAll
    static void convert() {
        model = TestData.model();
    }

    private static ExtractSummary extract(ExtractOptions.Builder options) {
        // A reader that opens the named pipe would wait forever: fail instead of hanging the build.
        return assertTimeoutPreemptively(Duration.ofSeconds(120),
                () -> Extractor.run(options.batchSize(4).build(), ExtractListener.NONE));
    }

    @Test
    void manifestRowsWhoseFilesCannotBeReadAreKeptUntilPrune() throws Exception {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 6);
        List<String> names = sortedNames(data.resolve("Abyssinian"));
        StringBuilder csv = new StringBuilder("path,labels\n");
        names.forEach(n -> csv.append("data/Abyssinian/").append(n).append(",cat\n"));
        Path manifest = Files.writeString(tmp.resolve("list.csv"), csv);
        Path cache = tmp.resolve("cache");
        assertEquals(6, extract(ExtractOptions.builder(model, manifest, cache)).embedded());
        Map<String, float[]> before = vectors(cache);

        String dir = "data/Abyssinian/" + names.get(0);
        String fifo = "data/Abyssinian/" + names.get(1);
        String loop = "data/Abyssinian/" + names.get(2);
        String gone = "data/Abyssinian/" + names.get(3);
        String broken = "data/Abyssinian/" + names.get(4);
        String same = "data/Abyssinian/" + names.get(5);
        Files.delete(tmp.resolve(dir));
        Files.createDirectory(tmp.resolve(dir));
        Files.delete(tmp.resolve(fifo));
        mkfifo(tmp.resolve(fifo));
        Files.delete(tmp.resolve(loop));
        Files.createSymbolicLink(tmp.resolve(loop), tmp.resolve(loop).getFileName());
        Files.delete(tmp.resolve(gone));
        byte[] bytes = Files.readAllBytes(tmp.resolve(broken));
        Files.write(tmp.resolve(broken), Arrays.copyOf(bytes, bytes.length / 3));

        ExtractSummary s = extract(ExtractOptions.builder(model, manifest, cache));
        assertEquals(1, s.unchanged());
        assertEquals(5, s.failed());
        assertEquals(4, s.keptUnreadable(), "directory, pipe, link loop and missing file keep their rows");
        assertEquals(1, s.deleted(), "only the file whose bytes changed and no longer decode");
        assertEquals(5, s.cacheRows());
        assertEquals(Map.of(dir, "unreadable", fifo, "unreadable", loop, "unreadable", gone, "missing",
                broken, "truncated"), errors(cache));
        String log = Files.readString(cache.resolve(EmbeddingCache.ERRORS_FILE));
        assertTrue(log.contains("is a directory, not an image file"), log);
        assertTrue(log.contains("is not a regular file (a named pipe, socket or device)"), log);
        assertTrue(log.contains("ymbolic links"), "ELOOP names itself: " + log);
        assertTrue(s.describe().get(0).endsWith("failed 5 (4 kept their cached rows: unreadable now)"),
                s.describe().toString());
        assertTrue(s.describe().contains("kept 4 cached rows of listed images that cannot be read now (missing, "
                + "unreadable or a broken link; see " + s.errorsFile() + "): their vectors stay until the files can "
                + "be read again; pass --prune to delete them"), s.describe().toString());
        Map<String, float[]> after = vectors(cache);
        assertEquals(Set.of(dir, fifo, loop, gone, same), after.keySet());
        for (String p : after.keySet()) {
            assertArrayEquals(before.get(p), after.get(p), 0f, p);
        }

        ExtractSummary pruned = extract(ExtractOptions.builder(model, manifest, cache).prune(true));
        assertEquals(4, pruned.prunedUnreadable());
        assertEquals(0, pruned.keptUnreadable());
        assertEquals(4, pruned.deleted());
        assertEquals(1, pruned.cacheRows());
        assertTrue(pruned.describe().contains("pruned 4 cached rows of listed images that cannot be read now "
                + "(--prune)"), pruned.describe().toString());
        assertEquals(Set.of(same), vectors(cache).keySet());
    }

    /**
     * A folder and a manifest agree: a file gone from a folder is not listed and its row is kept (outside the
     * listing); a named pipe named like an image is listed and reported, not skipped silently, and keeps its row.
     */
    @Test
    void folderRowsAreKeptLikeManifestRows() throws Exception {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 3);
        List<String> names = sortedNames(data.resolve("Abyssinian"));
        Path cache = tmp.resolve("cache");
        assertEquals(3, extract(ExtractOptions.builder(model, data, cache)).embedded());
        String fifo = "Abyssinian/" + names.get(0);
        String gone = "Abyssinian/" + names.get(1);
        Files.delete(data.resolve(fifo));
        mkfifo(data.resolve(fifo));
        Files.delete(data.resolve(gone));

        ExtractSummary s = extract(ExtractOptions.builder(model, data, cache));
        assertEquals(2, s.listed(), "the pipe is listed");
        assertEquals(Map.of(fifo, "unreadable"), errors(cache));
        assertEquals(1, s.keptUnreadable());
        assertEquals(1, s.keptOutside());
        assertEquals(0, s.deleted());
        assertEquals(3, s.cacheRows());

        ExtractSummary pruned = extract(ExtractOptions.builder(model, data, cache).prune(true));
        assertEquals(1, pruned.prunedUnreadable());
        assertEquals(1, pruned.pruned());
        assertEquals(1, pruned.cacheRows());
    }

    private static void mkfifo(Path at) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("mkfifo", at.toString()).inheritIO().start();
        assertEquals(0, p.waitFor());
    }

    private static List<String> sortedNames(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Map<String, float[]> vectors(Path cache) throws IOException {
        Map<String, float[]> out = new HashMap<>();
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            for (CacheRow r : c.rows()) {
                out.put(r.path(), c.vector(r));
            }
        }
        return out;
    }

    private static Map<String, String> errors(Path cache) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Map<String, String> out = new TreeMap<>();
        for (String line : Files.readAllLines(cache.resolve(EmbeddingCache.ERRORS_FILE))) {
            JsonNode n = json.readTree(line);
            out.put(n.get("path").asText(), n.get("reason").asText());
        }
        return out;
    }
}
