package org.vitfit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.RowMeta;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code vitfit parquet import|export} as a user runs them: clean console, one-line refusals, --overwrite. */
class ParquetCommandTest {

    @TempDir
    Path tmp;

    private static final int DIM = 4;

    /** A small cache of a made-up model: three labelled rows. */
    private Path cache(String name) throws IOException {
        Path dir = tmp.resolve(name);
        PreprocessRecipe recipe = new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round",
                1.0 / 255, List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false);
        try (CacheWriter w = CacheWriter.open(dir, new CacheIdentity("d".repeat(64), "test", recipe, DIM, null))) {
            for (int i = 1; i <= 3; i++) {
                String path = "cat/" + i + ".jpg";
                w.append(new RowMeta(path, Hashing.sha256(path.getBytes(StandardCharsets.UTF_8)), 10, List.of("cat"),
                        null), new float[] {i, 0, 0, 1}, 0);
            }
        }
        return dir;
    }

    @Test
    void exportAndImportPrintOneLineEachAndNoLibraryLogging() throws Exception {
        Path cache = cache("cache");
        Path out = tmp.resolve("pets.parquet");
        // a real JVM: logging is configured once per process, so only a fresh one shows what a user sees
        Run export = vitfitProcess("parquet", "export", "--cache", cache.toString(), "--output", out.toString());
        assertEquals(0, export.exit(), export.err());
        assertEquals("", export.err(), "no SLF4J or Hadoop lines on the console");
        assertEquals("exported 3 embeddings from " + cache + " to " + out + "\n", export.out());

        Path imported = tmp.resolve("imported");
        Run importRun = vitfitProcess("parquet", "import", "--input", out.toString(), "--cache", imported.toString());
        assertEquals(0, importRun.exit(), importRun.err());
        assertEquals("", importRun.err(), "no SLF4J, Parquet or Hadoop lines on the console");
        assertEquals("imported 3 embeddings (3 new, 0 replaced; 0 already there) from 1 Parquet file(s) into "
                + imported + "; skipped 0 error rows\n", importRun.out());
        try (EmbeddingCache c = EmbeddingCache.open(imported)) {
            assertEquals(List.of("cat"), c.row("cat/2.jpg").orElseThrow().labels());
        }
    }

    @Test
    void refusalsAreOneLineAndChangeNothing() throws IOException {
        Path cache = cache("cache");
        Path out = tmp.resolve("pets.parquet");
        assertEquals(0, CliRun.vitfit("parquet", "export", "--cache", cache.toString(), "-o", out.toString()).exit());

        CliRun again = CliRun.vitfit("parquet", "export", "--cache", cache.toString(), "-o", out.toString());
        assertEquals(1, again.exit());
        assertEquals("error: " + out + " already exists; pass --overwrite to replace it, or choose another output\n",
                again.err());
        CliRun overwrite = CliRun.vitfit("parquet", "export", "--cache", cache.toString(), "-o", out.toString(),
                "--overwrite");
        assertEquals(0, overwrite.exit(), overwrite.err());

        // a Spark output directory whose job never finished
        Path job = Files.createDirectory(tmp.resolve("job"));
        Files.copy(out, job.resolve("part-00000.parquet"));
        Path target = tmp.resolve("new-cache");
        CliRun incomplete = CliRun.vitfit("parquet", "import", "--input", job.toString(), "--cache", target.toString());
        assertEquals(1, incomplete.exit());
        assertTrue(incomplete.err().startsWith("error: " + job + " has no _SUCCESS file: the Spark job that wrote it "
                + "did not finish"), incomplete.err());
        assertEquals(1, incomplete.err().lines().count(), "one line, no stack trace: " + incomplete.err());
        assertFalse(Files.exists(target));

        // paths without the prefix the user asked to strip
        CliRun prefix = CliRun.vitfit("parquet", "import", "--input", out.toString(), "--cache", target.toString(),
                "--strip-prefix", "/data/pets");
        assertEquals(1, prefix.exit());
        assertTrue(prefix.err().contains("nothing imported, no cache created. path does not start with "
                + "--strip-prefix /data/pets (3 rows): pets.parquet row 1 (cat/1.jpg)"), prefix.err());
        assertFalse(Files.exists(target));
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run vitfitProcess(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), VitfitCli.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().remove("VITFIT_DEBUG");
        Process p = pb.start();
        // outputs are a few lines: read after exit is safe
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("vitfit " + String.join(" ", args) + " did not finish in 60 s");
        }
        return new Run(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }
}
