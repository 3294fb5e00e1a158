package org.vitfit.spark;

import org.apache.spark.launcher.JavaModuleOptions;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.jar.JarFile;

/**
 * A Spark standalone cluster on 127.0.0.1 made of Spark's own daemons ({@code deploy.master.Master},
 * {@code deploy.worker.Worker}) in separate JVMs, from a {@code SPARK_HOME} whose {@code jars/} holds the Maven
 * artifacts of Spark's distribution; applications go in through {@code deploy.SparkSubmit}, as {@code spark-submit}
 * runs it. Every process it starts (and the executors the workers start) is killed by {@link #close}, also when the
 * test fails or times out, and by a shutdown hook if the JVM is stopped first.
 */
final class StandaloneCluster implements AutoCloseable {

    /** What a Spark JVM needs on Java 17: the options {@code bin/spark-class} adds. */
    static final List<String> MODULE_OPTIONS = List.of(JavaModuleOptions.defaultModuleOptionArray());

    final Path home;
    final Path logs;
    final int masterPort;
    private final Map<String, String> env;
    private final List<Process> processes = new ArrayList<>();
    private final List<Process> workers = new ArrayList<>();
    private final Thread hook = new Thread(this::killAll);

    private StandaloneCluster(Path home, Path logs, int masterPort, Map<String, String> env) {
        this.home = home;
        this.logs = logs;
        this.masterPort = masterPort;
        this.env = env;
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Lays out {@code work/spark-home} from the jars listed in {@code classpathFile}, starts a master and
     * {@code workers} workers (one core and {@code workerMemory} for executors each) and waits until all workers
     * have registered.
     */
    static StandaloneCluster start(Path work, Path classpathFile, int workers, String workerMemory, Duration timeout)
            throws IOException, InterruptedException {
        Path home = work.resolve("spark-home");
        Path jars = Files.createDirectories(home.resolve("jars"));
        for (String jar : Files.readString(classpathFile).trim().split(java.io.File.pathSeparator)) {
            Path p = Path.of(jar);
            checkIsSparksOwn(p);
            Files.createSymbolicLink(jars.resolve(p.getFileName()), p);
        }
        Path conf = Files.createDirectories(home.resolve("conf"));
        // INFO from the scheduler (task starts, finishes and losses are what the test reads), warnings elsewhere
        Files.writeString(conf.resolve("log4j2.properties"), """
                rootLogger.level = warn
                rootLogger.appenderRef.stderr.ref = console
                appender.console.type = Console
                appender.console.name = console
                appender.console.target = SYSTEM_ERR
                appender.console.layout.type = PatternLayout
                appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
                logger.scheduler.name = org.apache.spark.scheduler
                logger.scheduler.level = info
                logger.deploy.name = org.apache.spark.deploy
                logger.deploy.level = info
                logger.executor.name = org.apache.spark.executor.Executor
                logger.executor.level = info
                """);
        Path logs = Files.createDirectories(work.resolve("logs"));
        Map<String, String> env = Map.of(
                "SPARK_HOME", home.toString(),
                "SPARK_CONF_DIR", conf.toString(),
                "SPARK_SCALA_VERSION", "2.13",
                "SPARK_LOCAL_IP", "127.0.0.1",
                "SPARK_LOCAL_DIRS", Files.createDirectories(work.resolve("scratch")).toString());
        int port = freePort();
        StandaloneCluster c = new StandaloneCluster(home, logs, port, env);
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            Process master = c.daemon("master", List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", Integer.toString(port), "--webui-port", Integer.toString(freePort())));
            c.awaitLog(master, logs.resolve("master.log"), l -> l.contains("I have been elected leader"), deadline);
            for (int i = 1; i <= workers; i++) {
                Process w = c.daemon("worker-" + i, List.of("org.apache.spark.deploy.worker.Worker", "--host",
                        "127.0.0.1", "--port", "0", "--webui-port", Integer.toString(freePort()), "--cores", "1",
                        "--memory", workerMemory, "--work-dir",
                        Files.createDirectories(work.resolve("worker-" + i)).toString(), c.masterUrl()));
                c.workers.add(w);
            }
            for (int i = 1; i <= workers; i++) {
                c.awaitLog(c.workers.get(i - 1), logs.resolve("worker-" + i + ".log"),
                        l -> l.contains("Successfully registered with master"), deadline);
            }
            return c;
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    String masterUrl() {
        return "spark://127.0.0.1:" + masterPort;
    }

    /** The worker JVMs, in start order: their descendants are the executors they launched. */
    List<Process> workers() {
        return List.copyOf(workers);
    }

    /** The executor JVM a worker runs now, if any. */
    static Optional<ProcessHandle> executorOf(Process worker) {
        return worker.descendants().filter(p -> p.info().commandLine().orElse("")
                .contains("org.apache.spark.executor.CoarseGrainedExecutorBackend")).findFirst();
    }

    /** The {@code --executor-id} of an executor process. */
    static String executorId(ProcessHandle executor) {
        List<String> args = Arrays.asList(executor.info().arguments().orElse(new String[0]));
        int i = args.indexOf("--executor-id");
        return i >= 0 && i + 1 < args.size() ? args.get(i + 1) : "?";
    }

    /**
     * Starts {@code SparkSubmit} with {@code args} in {@code cwd}, its output in {@code logs/NAME.log}. The driver
     * runs in this process (client mode), so the caller sees its exit status.
     */
    Process submit(String name, Path cwd, String driverMemory, List<String> args) throws IOException {
        List<String> cmd = java(driverMemory);
        cmd.add("org.apache.spark.deploy.SparkSubmit");
        cmd.addAll(args);
        return start(name, cmd, cwd);
    }

    private Process daemon(String name, List<String> mainAndArgs) throws IOException {
        List<String> cmd = java("256m");
        cmd.addAll(mainAndArgs);
        return start(name, cmd, home);
    }

    private List<String> java(String heap) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx" + heap);
        cmd.addAll(MODULE_OPTIONS);
        cmd.add("-cp");
        cmd.add(home.resolve("conf") + java.io.File.pathSeparator + home.resolve("jars") + "/*");
        return cmd;
    }

    private Process start(String name, List<String> cmd, Path cwd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true)
                .redirectOutput(logs.resolve(name + ".log").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        synchronized (processes) {
            processes.add(p);
        }
        return p;
    }

    /** Waits until a line of {@code log} matches, failing early if {@code process} dies or the deadline passes. */
    void awaitLog(Process process, Path log, Predicate<String> line, long deadlineNanos)
            throws IOException, InterruptedException {
        while (true) {
            if (Files.exists(log) && Files.readAllLines(log).stream().anyMatch(line)) {
                return;
            }
            if (!process.isAlive()) {
                throw new IllegalStateException(log.getFileName() + ": the process exited with " + process.exitValue()
                        + "; last lines:\n" + tail(log, 30));
            }
            if (System.nanoTime() > deadlineNanos) {
                throw new IllegalStateException("timed out waiting in " + log.getFileName() + "; last lines:\n"
                        + tail(log, 30));
            }
            Thread.sleep(200);
        }
    }

    static String tail(Path log, int lines) throws IOException {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        List<String> all = Files.readAllLines(log);
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** A jar of the cluster's own classpath must not carry what only the application jar may bring. */
    private static void checkIsSparksOwn(Path jar) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            for (String forbidden : List.of("org/vitfit/", "ai/onnxruntime/", "org/tribuo/", "picocli/",
                    "com/github/lbfgs4j/", "org/apache/commons/csv/", "org/apache/commons/imaging/")) {
                if (j.stream().anyMatch(e -> e.getName().startsWith(forbidden))) {
                    throw new IllegalStateException(jar + " holds " + forbidden + " classes: it is not part of "
                            + "Spark's distribution, and would hide a class missing from the shaded jar; exclude it "
                            + "in spark/pom.xml (spark-cluster-classpath)");
                }
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Kills every process this cluster started and their descendants (executors), children first. */
    private void killAll() {
        List<Process> all;
        synchronized (processes) {
            all = new ArrayList<>(processes);
        }
        for (Process p : all) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : all) {
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    @Override
    public void close() {
        killAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs (or ran) anyway
        }
    }
}
