package org.vitfit.extract;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 for real: the extractor runs in a child JVM that is killed with {@code destroyForcibly()} (SIGKILL on
 * Unix) at several moments, each run resuming the cache the previous one left. After every kill the cache must open
 * cleanly with only whole, correct rows; the final run must produce exactly the rows of an uninterrupted run.
 */
class CrashSafetyTest {

    private static final int CLASSES = 5;
    private static final int PER_CLASS = 6;
    private static final int TOTAL = CLASSES * PER_CLASS;

    @TempDir
    Path tmp;

    @Test
    void killedRunsResumeToTheSameCacheAsACleanRun() throws Exception {
        Path model = TestData.model();
        Path input = TestData.petSubset(tmp.resolve("pets"), CLASSES, PER_CLASS);
        Path clean = tmp.resolve("clean");
        Extractor.run(ExtractOptions.builder(model, input, clean).batchSize(2).build(), ExtractListener.NONE);
        Map<String, float[]> reference = new HashMap<>();
        try (EmbeddingCache c = EmbeddingCache.open(clean)) {
            assertEquals(TOTAL, c.rows().size());
            c.rows().forEach(r -> reference.put(r.path(), c.vector(r)));
        }

        Path cache = tmp.resolve("cache");
        List<String> recoveries = new ArrayList<>();
        // Moments: model loaded but nothing committed; just after a commit; with appended rows not yet committed
        // (the child pauses there); a few commits further on; racing a commit.
        recoveries.addAll(runAndKill(model, input, cache, 0, line -> line.startsWith("started")));
        checkPartial(cache, reference, 0);
        recoveries.addAll(runAndKill(model, input, cache, 0, line -> committedAtLeast(line, 6)));
        int afterSecond = checkPartial(cache, reference, 6);
        recoveries.addAll(runAndKill(model, input, cache, afterSecond + 4, line -> line.equals("paused")));
        int afterThird = checkPartial(cache, reference, afterSecond);
        assertTrue(afterThird < afterSecond + 4, "the rows appended before the pause must not be committed");
        recoveries.addAll(runAndKill(model, input, cache, 0, line -> committedAtLeast(line, afterThird + 6)));
        int afterFourth = checkPartial(cache, reference, afterThird + 6);
        // Right after rows were appended, racing the commit that follows: either outcome must be whole.
        recoveries.addAll(runAndKill(model, input, cache, 0, line -> line.startsWith("progress ")
                && Integer.parseInt(line.substring(9)) >= afterFourth + 4));
        checkPartial(cache, reference, afterFourth);

        List<String> finalRun = runToEnd(model, input, cache);
        recoveries.addAll(finalRun.stream().filter(l -> l.startsWith("recovered")).toList());
        assertTrue(recoveries.stream().anyMatch(l -> l.contains("uncommitted vectors")),
                "the run after the paused kill must discard the uncommitted tail: " + recoveries);
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(TOTAL, c.rows().size());
            assertEquals(TOTAL, c.header().count());
            Set<String> paths = new HashSet<>();
            for (CacheRow r : c.rows()) {
                assertTrue(paths.add(r.path()), "duplicate row for " + r.path());
                assertNotNull(reference.get(r.path()), "unexpected row " + r.path());
                assertArrayEquals(reference.get(r.path()), c.vector(r), 1e-5f, r.path());
                assertEquals(List.of(r.path().substring(0, r.path().indexOf('/'))), r.labels());
            }
            assertEquals(reference.keySet(), paths);
        }
    }

    private static boolean committedAtLeast(String line, int rows) {
        return line.startsWith("committed ") && Integer.parseInt(line.substring(10)) >= rows;
    }

    /** The cache as a killed run left it: it opens, and every row it has is whole and right. */
    private static int checkPartial(Path cache, Map<String, float[]> reference, int atLeast) throws IOException {
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            int n = c.rows().size();
            System.out.println("after kill: " + n + " committed rows");
            assertTrue(n >= atLeast && n < TOTAL, n + " rows after a kill, expected " + atLeast + ".." + (TOTAL - 1));
            Set<String> paths = new HashSet<>();
            for (CacheRow r : c.rows()) {
                assertTrue(paths.add(r.path()), "duplicate row for " + r.path());
                assertArrayEquals(reference.get(r.path()), c.vector(r), 1e-5f, r.path());
            }
            return n;
        }
    }

    private static Process start(Path model, Path input, Path cache, long pauseAt) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), model.toString(), input.toString(), cache.toString(),
                Long.toString(pauseAt));
        pb.redirectErrorStream(true);
        return pb.start();
    }

    /** Starts a child, kills it with SIGKILL on the first line that matches, returns its recovery lines. */
    private static List<String> runAndKill(Path model, Path input, Path cache, long pauseAt,
                                           Predicate<String> killWhen) throws Exception {
        Process p = start(model, input, cache, pauseAt);
        List<String> out = new ArrayList<>();
        boolean killed = false;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                out.add(line);
                assertFalse(line.startsWith("done"), "the child finished before it could be killed: " + out);
                if (killWhen.test(line)) {
                    p.destroyForcibly();
                    System.out.println("killed child at '" + line + "'; it said " + out);
                    killed = true;
                    break;
                }
            }
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "killed child did not exit");
        assertTrue(killed, "the child ended without reaching the kill point: " + out);
        if (!System.getProperty("os.name", "").startsWith("Windows")) {
            assertEquals(128 + 9, p.exitValue(), "exit status of a process killed by SIGKILL");
        }
        return out.stream().filter(l -> l.startsWith("recovered")).toList();
    }

    private static List<String> runToEnd(Path model, Path input, Path cache) throws Exception {
        Process p = start(model, input, cache, 0);
        List<String> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                out.add(line);
            }
        }
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join("\n", out));
        assertTrue(out.get(out.size() - 1).startsWith("done"), String.join("\n", out));
        return out;
    }
}
