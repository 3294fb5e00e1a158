package org.vitfit.spark;

import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.LocalInputFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.convert.Converter;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.SplitAssignment;
import org.vitfit.heads.Splits;
import org.vitfit.io.Durable;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * vitfit on a real Spark standalone cluster: a master and two workers in their own JVMs on 127.0.0.1, the shaded
 * jar submitted as {@code spark-submit} submits it, the model shipped with {@code --archives} (the driver runs in an
 * empty directory, so nothing reads it from a shared path). One executor is killed with SIGKILL while it embeds;
 * the job must still write every image exactly once, with the single-machine extractor's vectors. Then the MLlib
 * head is trained on the cluster and in local mode, and both must score the same test accuracy.
 */
class StandaloneClusterIT {

    private static final int WORKERS = 2;
    private static final int PARTITIONS = 8;
    private static final Duration START = Duration.ofMinutes(3);
    private static final Duration JOB = Duration.ofMinutes(8);
    /** What binaryFile shows of the planted files (the zero-byte one is skipped by Spark's file scan). */
    private static final int ERROR_ROWS = 2;
    /** Spark's TaskSetManager lines in the driver log: which task (TID) ran which partition where. */
    private static final Pattern STARTED = Pattern.compile(
            "Starting task \\S+ in stage \\S+ \\(TID (\\d+)\\) \\(127\\.0\\.0\\.1, ?executor (\\d+), partition (\\d+)");
    private static final Pattern FINISHED = Pattern.compile("Finished task \\S+ in stage \\S+ \\(TID (\\d+)\\)");
    /** A task lost with the executor, or failed because the map output it read died with it. */
    private static final Pattern LOST = Pattern.compile(
            "Lost task \\S+ in stage \\S+ \\(TID (\\d+)\\) \\([^)]*\\): (ExecutorLostFailure|FetchFailed)");

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void embedsEveryImageOnceDespiteAKilledExecutorAndTrainsTheSameHeadAsLocalMode() throws Exception {
        long t0 = System.nanoTime();
        Path root = Path.of(System.getProperty("vitfit.root", ".."));
        Path shared = Path.of(System.getProperty("vitfit.shared", root.resolve("../shared").toString()));
        Path jar = Path.of(System.getProperty("vitfit.spark.jar"));
        Path classpath = Path.of(System.getProperty("vitfit.spark.classpath"));
        assertTrue(Files.isRegularFile(jar), jar + ": build the shaded jar first (mvn package)");
        Path work = Files.createTempDirectory("vitfit-cluster-it");
        try {
            // the inputs: a converted model zipped for --archives, the pets plus two bad files, the reference cache
            Path model = work.resolve("vit-tiny");
            Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);
            Path modelZip = zip(model, work.resolve("vit-tiny.zip"));
            Path images = copyPets(shared.resolve("datasets/oxford-pets-370"), work.resolve("images"));
            Path reference = work.resolve("reference-cache");
            Extractor.run(ExtractOptions.builder(model, images, reference).batchSize(8).build(), ExtractListener.NONE);
            double setupSeconds = seconds(t0);
            long t1 = System.nanoTime();

            try (StandaloneCluster cluster = StandaloneCluster.start(work, classpath, WORKERS, "900m", START)) {
                System.out.println("cluster: master " + cluster.masterUrl() + ", " + WORKERS
                        + " workers (1 core each), up after " + seconds(t1) + " s");
                // --- embed, with one executor killed mid-job ---------------------------------------------------
                Path driverDir = Files.createDirectories(work.resolve("driver"));
                Path embeddings = work.resolve("embeddings");
                long embedStart = System.nanoTime();
                Process embed = cluster.submit("embed", driverDir, "768m", submitArgs(cluster.masterUrl(), modelZip,
                        jar, "embed", "--model", "vit-tiny", "--input", images.toString(), "--output",
                        embeddings.toString(), "--partitions", Integer.toString(PARTITIONS), "--batch-size", "8",
                        "--threads", "1"));
                Kill kill = killAnExecutorMidTask(cluster, embed, cluster.logs.resolve("embed.log"), embeddings);
                assertTrue(embed.waitFor(JOB.toSeconds(), TimeUnit.SECONDS), "embed did not finish: "
                        + StandaloneCluster.tail(cluster.logs.resolve("embed.log"), 40));
                String embedLog = Files.readString(cluster.logs.resolve("embed.log"));
                assertEquals(0, embed.exitValue(), StandaloneCluster.tail(cluster.logs.resolve("embed.log"), 40));
                double embedSeconds = (System.nanoTime() - embedStart) / 1e9;

                Set<Integer> lostPartitions = lostPartitions(embedLog);
                long executors = Pattern.compile("Executor added: ").matcher(embedLog).results().count();
                assertFalse(lostPartitions.isEmpty(), "the killed executor " + kill.executorId + " was running a task, "
                        + "so at least one task must have been lost and re-run:\n" + embedLog);
                assertTrue(embedLog.contains("vitfit: " + Fixtures.PETS + " images embedded, " + ERROR_ROWS
                        + " failed"), embedLog);

                // exactly once: the importer refuses a path seen twice; every image is there with its folder label
                Path imported = work.resolve("imported-cache");
                ParquetCacheBridge.ImportSummary s = ParquetCacheBridge.importInto(embeddings, imported,
                        new ParquetCacheBridge.ImportOptions(images.toUri().toString(), false));
                assertEquals(Fixtures.PETS, s.imported());
                assertEquals(ERROR_ROWS, s.errorRows());
                long recoveredRows = rowsOfPartitions(embeddings, lostPartitions);
                double maxDiff = maxDifference(reference, imported);
                assertTrue(maxDiff <= 1e-6, "max |difference| to the extractor " + maxDiff);

                // --- train on the cluster and in local mode ----------------------------------------------------
                String[] trainArgs = {"train", "--embeddings", embeddings.toString(), "--fractions", "0.5,0,0.5",
                        "--seed", "7"};
                double clusterAccuracy = train(cluster, "train-cluster", cluster.masterUrl(), modelZip, jar,
                        work.resolve("head-cluster"), trainArgs);
                double localAccuracy = train(cluster, "train-local", "local[2]", modelZip, jar,
                        work.resolve("head-local"), trainArgs);
                assertEquals(localAccuracy, clusterAccuracy, "test accuracy on the cluster vs local mode");
                // and the same number from the single-machine evaluator on the extractor's cache, same split
                EmbeddingSet set = EmbeddingSet.fromCache(reference);
                SplitAssignment split = Splits.assign(set, false, 0.5, 0, 0.5, 7);
                double evaluated = ((ClassificationReport) HeadEvaluator.evaluate(Head.load(work.resolve("head-cluster")),
                        set, split.test(), "test")).accuracy();
                assertEquals(clusterAccuracy, evaluated, 5e-4, "printed vs re-evaluated on the reference cache");

                System.out.printf("""
                        cluster test (StandaloneClusterIT): %d workers x 1 core, %d partitions
                          embed: %d images + %d error rows written once each, %d part files, %.1f s
                          killed executor %s (pid %d, worker %d) with SIGKILL after %d committed task(s); \
                        %d executors launched in all; lost partitions %s re-run: %d rows recovered
                          max |difference| to the single-machine extractor: %s
                          MLlib head, 5-shot pets split (seed 7): test accuracy cluster %.4f, local[2] %.4f, \
                        re-evaluated %.4f
                          wall time %.1f s: cluster start, embed with the kill, 2 trainings (and %.1f s before it: \
                        model conversion, reference extraction)
                        """, WORKERS, PARTITIONS, s.imported(), s.errorRows(), s.files(), embedSeconds,
                        kill.executorId, kill.pid, kill.worker, kill.committedTasks, executors, lostPartitions, recoveredRows,
                        maxDiff, clusterAccuracy, localAccuracy, evaluated, seconds(t1), setupSeconds);
            }
        } finally {
            Durable.deleteTree(work);
        }
    }

    private static List<String> submitArgs(String master, Path modelZip, Path jar, String... app) {
        List<String> args = new ArrayList<>(List.of("--master", master, "--deploy-mode", "client",
                "--class", SparkMain.class.getName(), "--name", "vitfit " + app[0],
                "--conf", "spark.ui.enabled=false",
                "--conf", "spark.executor.memory=640m",
                "--conf", "spark.executor.cores=1",
                "--conf", "spark.task.maxFailures=4",
                "--archives", modelZip + "#vit-tiny",
                jar.toString()));
        args.addAll(Arrays.asList(app));
        return args;
    }

    /** Runs {@code train} with {@code master}, returns the test accuracy it printed. */
    private static double train(StandaloneCluster cluster, String name, String master, Path modelZip, Path jar,
                                Path head, String... trainArgs) throws IOException, InterruptedException {
        List<String> app = new ArrayList<>(Arrays.asList(trainArgs));
        app.addAll(List.of("--output", head.toString()));
        Path cwd = Files.createDirectories(head.resolveSibling(name + "-driver"));
        Process p = cluster.submit(name, cwd, "768m", submitArgs(master, modelZip, jar, app.toArray(String[]::new)));
        Path log = cluster.logs.resolve(name + ".log");
        assertTrue(p.waitFor(JOB.toSeconds(), TimeUnit.SECONDS), name + " did not finish: " + StandaloneCluster.tail(log, 40));
        assertEquals(0, p.exitValue(), StandaloneCluster.tail(log, 40));
        Matcher m = Pattern.compile("vitfit: test: accuracy ([0-9.]+), macro-F1 [0-9.]+ \\((\\d+) examples\\)")
                .matcher(Files.readString(log));
        assertTrue(m.find(), name + " printed no test accuracy: " + StandaloneCluster.tail(log, 20));
        assertEquals(Fixtures.PETS / 2, Integer.parseInt(m.group(2)), "5 of 10 per breed are test rows");
        return Double.parseDouble(m.group(1));
    }

    private record Kill(String executorId, long pid, int worker, long committedTasks) {
    }

    /**
     * Waits until at least one task has committed its output and a worker's executor is running a task of the same
     * job (per the driver's scheduler log), then kills that executor with SIGKILL.
     */
    private static Kill killAnExecutorMidTask(StandaloneCluster cluster, Process driver, Path log, Path output)
            throws Exception {
        long deadline = System.nanoTime() + JOB.toNanos();
        while (System.nanoTime() < deadline) {
            assertTrue(driver.isAlive(), "embed ended before an executor could be killed: " + StandaloneCluster.tail(log, 40));
            long committed = committedTasks(output);
            if (committed >= 1) {
                Set<String> busy = runningExecutors(Files.readString(log));
                for (int w = cluster.workers().size(); w >= 1; w--) {
                    var executor = StandaloneCluster.executorOf(cluster.workers().get(w - 1));
                    if (executor.isPresent() && busy.contains(StandaloneCluster.executorId(executor.get()))) {
                        String id = StandaloneCluster.executorId(executor.get());
                        long pid = executor.get().pid();
                        executor.get().destroyForcibly();      // SIGKILL, as a lost machine or the OOM killer
                        executor.get().onExit().get(30, TimeUnit.SECONDS);
                        return new Kill(id, pid, w, committed);
                    }
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no executor was busy with the job after a task had committed");
    }

    /** Executor ids with a started and not yet finished task, from the driver's scheduler log lines. */
    private static Set<String> runningExecutors(String log) {
        Map<String, String> running = new java.util.HashMap<>();
        Matcher started = STARTED.matcher(log);
        while (started.find()) {
            running.put(started.group(1), started.group(2));
        }
        Matcher finished = FINISHED.matcher(log);
        while (finished.find()) {
            running.remove(finished.group(1));
        }
        return new TreeSet<>(running.values());
    }

    /** The partitions whose tasks were lost with the executor or failed on its lost map output, and so ran again. */
    private static Set<Integer> lostPartitions(String log) {
        Map<String, Integer> partitionOf = new java.util.HashMap<>();
        Matcher started = STARTED.matcher(log);
        while (started.find()) {
            partitionOf.put(started.group(1), Integer.parseInt(started.group(3)));
        }
        Set<Integer> lost = new TreeSet<>();
        Matcher m = LOST.matcher(log);
        while (m.find()) {
            lost.add(partitionOf.get(m.group(1)));
        }
        return lost;
    }

    /** Task outputs the committer has accepted so far (FileOutputCommitter v1: {@code _temporary/0/task_*}). */
    private static long committedTasks(Path output) throws IOException {
        Path jobDir = output.resolve("_temporary").resolve("0");
        if (!Files.isDirectory(jobDir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(jobDir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("task_")).count();
        } catch (java.nio.file.NoSuchFileException e) {
            return 0;    // the job committed meanwhile
        }
    }

    /** Rows in the part files written by the given partitions ({@code part-0000N-...}). */
    private static long rowsOfPartitions(Path dir, Set<Integer> partitions) throws IOException {
        long rows = 0;
        for (Path part : ParquetCacheBridge.parts(dir)) {
            String name = part.getFileName().toString();
            int partition = Integer.parseInt(name.substring("part-".length(), name.indexOf('-', "part-".length())));
            if (partitions.contains(partition)) {
                try (ParquetFileReader r = ParquetFileReader.open(new LocalInputFile(part))) {
                    rows += r.getRecordCount();
                }
            }
        }
        return rows;
    }

    private static double maxDifference(Path reference, Path imported) throws IOException {
        double worst = 0;
        try (EmbeddingCache ref = EmbeddingCache.open(reference); EmbeddingCache got = EmbeddingCache.open(imported)) {
            assertEquals(ref.rows().size(), got.rows().size());
            for (CacheRow r : ref.rows()) {
                CacheRow g = got.row(r.path()).orElse(null);
                assertNotNull(g, "missing " + r.path());
                assertEquals(r.sha256(), g.sha256(), r.path());
                assertEquals(r.labels(), g.labels(), r.path() + ": embed's folder labels are the extractor's");
                float[] a = ref.vector(r);
                float[] b = got.vector(g);
                for (int j = 0; j < a.length; j++) {
                    worst = Math.max(worst, Math.abs(a[j] - b[j]));
                }
            }
        }
        return worst;
    }

    private static Path copyPets(Path pets, Path images) throws IOException {
        try (Stream<Path> files = Files.walk(pets)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Path dst = images.resolve(pets.relativize(f).toString());
                Files.createDirectories(dst.getParent());
                Files.copy(f, dst);
            }
        }
        Files.write(images.resolve(Fixtures.ZERO_BYTE), new byte[0]);
        byte[] jpeg = Files.readAllBytes(images.resolve("Bengal/Bengal_107.jpg"));
        Files.write(images.resolve(Fixtures.TRUNCATED), Arrays.copyOf(jpeg, jpeg.length / 3));
        Files.writeString(images.resolve(Fixtures.TEXT), "this is a text file with an image extension\n");
        return images;
    }

    /** The model directory as {@code --archives} takes it: its files at the top of the zip. */
    private static Path zip(Path dir, Path zip) throws IOException {
        try (OutputStream out = Files.newOutputStream(zip); ZipOutputStream z = new ZipOutputStream(out);
             Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                z.putNextEntry(new ZipEntry(f.getFileName().toString()));
                Files.copy(f, z);
                z.closeEntry();
            }
        }
        return zip;
    }

    private static double seconds(long since) {
        return Math.round((System.nanoTime() - since) / 1e8) / 10.0;
    }
}
