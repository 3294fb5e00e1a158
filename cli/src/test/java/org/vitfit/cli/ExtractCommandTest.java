package org.vitfit.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.EmbeddingCache;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code vitfit extract} through the real command line: summary, device line, --strict, clear errors. */
class ExtractCommandTest {

    @TempDir
    static Path tmp;

    static Path model;

    @BeforeAll
    static void convert() {
        Path root = Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
        model = tmp.resolve("vit-tiny");
        CliRun r = CliRun.vitfit("convert", root.resolve("models/vit-tiny-patch16-224-augreg").toString(), "--output",
                model.toString());
        assertEquals(0, r.exit(), r.err());
    }

    private static Path images() throws IOException {
        Path shared = Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
        Path in = Files.createDirectories(tmp.resolve("in-" + System.nanoTime()));
        try (Stream<Path> s = Files.list(shared.resolve("datasets/oxford-pets-370/pug"))) {
            for (Path p : s.sorted().limit(3).toList()) {
                Files.copy(p, in.resolve(p.getFileName()));
            }
        }
        Files.writeString(in.resolve("notes.jpg"), "not an image");
        return in;
    }

    @Test
    void extractPrintsDeviceProgressAndSummaryAndStrictFailsOnBadImages() throws IOException {
        Path in = images();
        Path cache = tmp.resolve("cache");
        CliRun r = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output", cache.toString(),
                "--batch-size", "2", "--threads", "2", "--dtype", "f16");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("extracting 4 images, running on cpu (ONNX Runtime"), r.err());
        assertTrue(r.out().contains("embedded 3 images (0 changed), skipped 0 unchanged, copied 0, deleted 0, failed 1"),
                r.out());
        assertTrue(r.out().contains("img/s on cpu"), r.out());
        assertTrue(r.out().contains("failed images and reasons: " + cache.resolve("errors.jsonl")), r.out());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(3, c.rows().size());
            assertEquals("f16", c.header().dtype());
        }

        CliRun strict = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                cache.toString(), "--strict");
        assertEquals(2, strict.exit(), strict.out() + strict.err());
        assertTrue(strict.out().contains("skipped 3 unchanged"), strict.out());
        assertTrue(strict.err().contains("1 images could not be embedded and --strict was given"), strict.err());

        CliRun clean = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                cache.toString(), "--strict", "--exclude", "notes.*");
        assertEquals(0, clean.exit(), clean.err());
    }

    @Test
    void missingInputAndMismatchedDtypeAreClearErrors() throws IOException {
        Path missing = tmp.resolve("no-such-folder");
        CliRun r = CliRun.vitfit("extract", "--model", model.toString(), "--input", missing.toString(), "--output",
                tmp.resolve("c2").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("error: input " + missing + " does not exist"), r.err());

        Path in = images();
        Path cache = tmp.resolve("c3");
        assertEquals(0, CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                cache.toString()).exit());
        CliRun f16 = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                cache.toString(), "--dtype", "f16");
        assertEquals(1, f16.exit());
        assertTrue(f16.err().contains("vectors stored as f32 in the cache, f16 asked for now"), f16.err());
    }
}
