package org.vitfit.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.EmbeddingCache;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    /** Redirected to a pipe (a CI log), stderr gets plain progress lines: no frames, no escape codes. */
    @Test
    void progressToAPipeIsPlainLines() throws Exception {
        Path in = images();
        Path cache = tmp.resolve("piped");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), VitfitCli.class.getName(),
                "extract", "--model", model.toString(), "--input", in.toString(), "--output", cache.toString(),
                "--threads", "1").start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), err);
        assertFalse(err.contains("\r") || err.contains("\u001b"), "frames or escape codes in a pipe: " + err);
        assertTrue(err.contains("extracting 4 images, running on cpu"), err);
        assertTrue(err.lines().anyMatch(l -> l.matches("extract: 4/4 images \\(100%\\), [0-9.]+ img/s")), err);
        assertTrue(new String(out, StandardCharsets.UTF_8).contains("embedded 3 images"));

        CliRun again = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                cache.toString());
        assertTrue(again.out().contains("nothing to embed, checked 4 images at "), again.out());
        assertFalse(again.out().contains(" 0.0 img/s"), again.out());
    }

    @Test
    void refusedOutputsPruneAndManifestOptionsThroughTheCommandLine() throws IOException {
        Path in = images();
        Path project = Files.createDirectories(tmp.resolve("project"));
        Files.writeString(project.resolve("Main.java"), "class Main {}");
        CliRun refused = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                project.toString());
        assertEquals(1, refused.exit());
        assertTrue(refused.err().startsWith("error: " + project + " already exists and was not written by vitfit"),
                refused.err());
        try (Stream<Path> s = Files.list(project)) {
            assertEquals(1, s.count(), "a refused run leaves the directory as it was");
        }
        CliRun inside = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                in.resolve("cache").toString());
        assertEquals(1, inside.exit());
        assertTrue(inside.err().contains("lies inside the --input " + in), inside.err());

        CliRun batch = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                tmp.resolve("b").toString(), "--batch-size", "1000000");
        assertEquals(1, batch.exit());
        assertTrue(batch.err().startsWith("error: --batch-size must be between 1 and 4096, got 1000000"), batch.err());
        // 100,000 decode threads ran out of direct memory with a stack trace
        CliRun threads = CliRun.vitfit("extract", "--model", model.toString(), "--input", in.toString(), "--output",
                tmp.resolve("t").toString(), "--threads", "100000");
        assertEquals(1, threads.exit());
        assertTrue(threads.err().startsWith("error: --threads must be between 1 and 256, got 100000"), threads.err());
        assertFalse(Files.exists(tmp.resolve("t")));

        // A manifest with its own column names and a pandas-style list column, then a narrower manifest.
        Path shared = CliRun.shared().resolve("datasets/oxford-pets-370/pug");
        List<Path> pugs;
        try (Stream<Path> s = Files.list(shared)) {
            pugs = s.sorted().limit(3).toList();
        }
        Path csv = tmp.resolve("photos.csv");
        Files.writeString(csv, "file,tags,fold\n"
                + pugs.get(0) + ",\"['pug', 'dog']\",train\n"
                + pugs.get(1) + ",\"['pug']\",val\n"
                + pugs.get(2) + ",[],test\n");
        Path cache = tmp.resolve("manifest-cache");
        CliRun m = CliRun.vitfit("extract", "--model", model.toString(), "--input", csv.toString(), "--output",
                cache.toString(), "--path-column", "file", "--labels-column", "tags", "--split-column", "fold");
        assertEquals(0, m.exit(), m.err());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(List.of("pug", "dog"), c.row(pugs.get(0).toString()).orElseThrow().labels());
            assertEquals("val", c.row(pugs.get(1).toString()).orElseThrow().split());
        }
        Files.writeString(csv, "file,tags,fold\n" + pugs.get(0) + ",\"['pug', 'dog']\",train\n");
        CliRun kept = CliRun.vitfit("extract", "--model", model.toString(), "--input", csv.toString(), "--output",
                cache.toString(), "--path-column", "file", "--labels-column", "tags", "--split-column", "fold");
        assertTrue(kept.out().contains("kept 2 cached rows that this listing does not name (from another --input, "
                + "--include or a removed file); pass --prune to delete them"), kept.out());
        CliRun pruned = CliRun.vitfit("extract", "--model", model.toString(), "--input", csv.toString(), "--output",
                cache.toString(), "--path-column", "file", "--labels-column", "tags", "--split-column", "fold",
                "--prune");
        assertTrue(pruned.out().contains("pruned 2 cached rows that this listing does not name (--prune)"),
                pruned.out());
        assertTrue(pruned.out().contains("cache holds 1 rows"), pruned.out());

        CliRun wrong = CliRun.vitfit("extract", "--model", model.toString(), "--input", csv.toString(), "--output",
                cache.toString());
        assertEquals(1, wrong.exit());
        assertTrue(wrong.err().startsWith("error: photos.csv line 1: no 'path' column (columns: file, tags, fold); "
                + "name the column holding the image paths with --path-column"), wrong.err());
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
