package org.vitfit.extract;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.io.OutputKind;
import org.vitfit.io.OutputMarker;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.io.SafeOutput;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An extract that is refused changes nothing in the output directory; a cache never overlaps its inputs. */
class OutputSafetyTest {

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

    /** Every file below {@code dir} with its bytes: two equal snapshots mean nothing changed. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                String rel = dir.relativize(p).toString();
                out.put(rel, Files.isDirectory(p) ? "<dir>"
                        : org.vitfit.runtime.Hashing.sha256(Files.readAllBytes(p)));
            }
        }
        return out;
    }

    @Test
    void refusedExtractIntoAUsersFolderChangesNothingThere() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 2);
        Path project = Files.createDirectories(tmp.resolve("project/src"));
        Files.writeString(project.resolve("Main.java"), "class Main {}\n");
        Path out = project.getParent();
        Files.writeString(out.resolve("README.md"), "# my project\n");
        // Files that happen to be named like cache files are the user's all the same.
        Files.writeString(out.resolve("vectors-000001.bin"), "my vectors");
        Files.writeString(out.resolve("index-000001.jsonl"), "{\"mine\": true}\n");
        Files.writeString(out.resolve("deletions-000002.jsonl"), "");
        Files.writeString(out.resolve("errors.jsonl.partial"), "mine too");
        Map<String, String> before = snapshot(out);

        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> extract(data, out));
        assertTrue(e.getMessage().startsWith(out + " already exists and was not written by vitfit as a"),
                e.getMessage());
        assertTrue(e.getMessage().contains("README.md"), e.getMessage());
        assertEquals(before, snapshot(out), "a refused run must leave the directory byte-identical");
        assertFalse(Files.exists(out.resolve("write.lock")));
    }

    @Test
    void outputOverlappingTheInputOrTheModelIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 2);
        Map<String, String> before = snapshot(data);
        OutputRefusedException inside = assertThrows(OutputRefusedException.class,
                () -> extract(data, data.resolve("cache")));
        assertTrue(inside.getMessage().contains("lies inside the --input " + data), inside.getMessage());
        OutputRefusedException same = assertThrows(OutputRefusedException.class, () -> extract(data, data));
        assertTrue(same.getMessage().contains("is also the --input"), same.getMessage());
        assertEquals(before, snapshot(data));

        Map<String, String> modelBefore = snapshot(model);
        OutputRefusedException inModel = assertThrows(OutputRefusedException.class,
                () -> extract(data, model.resolve("cache")));
        assertTrue(inModel.getMessage().contains("--model"), inModel.getMessage());
        assertEquals(modelBefore, snapshot(model));
    }

    @Test
    void aCacheWithoutAMarkerIsAdoptedAndAnotherKindOfOutputRefused() throws IOException {
        Path data = TestData.petSubset(tmp.resolve("data"), 1, 2);
        Path cache = tmp.resolve("cache");
        extract(data, cache);
        assertTrue(SafeOutput.isOurs(cache, OutputKind.CACHE), "a new cache carries the marker");

        // A cache written before markers existed: recognised by its checksummed header, adopted.
        Files.delete(cache.resolve(OutputMarker.FILE_NAME));
        ExtractSummary again = extract(data, cache);
        assertEquals(2, again.unchanged());
        assertTrue(SafeOutput.isOurs(cache, OutputKind.CACHE));

        Path head = Files.createDirectories(tmp.resolve("head"));
        OutputMarker.write(head, OutputKind.HEAD);
        Files.writeString(head.resolve("head.json"), "{}");
        Map<String, String> before = snapshot(head);
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> extract(data, head));
        assertTrue(e.getMessage().startsWith(head + " is a vitfit head, not a"), e.getMessage());
        assertEquals(before, snapshot(head));
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(2, c.rows().size());
        }
    }
}
