package org.vitfit.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The one place that opens ONNX Runtime sessions, so every command picks the execution provider and the session
 * settings the same way: CUDA when asked for and available, otherwise CPU with a one-line warning.
 *
 * <p>Settings ({@link Tuning}): full graph optimisation; intra-op threads as given (0 = one per core) and one
 * inter-op thread, since a ViT is a chain of operators with nothing to run side by side; the CPU memory arena and
 * memory-pattern planning on, so repeated batches of one size reuse the same buffers instead of allocating; and,
 * for a converted model directory on CPU, ONNX Runtime's optimised graph cached on disk ({@link OptimizedModelCache}),
 * so the next start-up loads it with optimisation off.
 */
public final class OnnxSessions {

    /** Set to {@code false} (system property) or {@code 0} (environment {@code VITFIT_ORT_CACHE}) to never cache. */
    public static final String CACHE_PROPERTY = "vitfit.ortCache";

    private OnnxSessions() {
    }

    /** An open session together with the device it actually runs on (which may differ from the one asked for). */
    public record Opened(OrtSession session, Device device) implements AutoCloseable {
        @Override
        public void close() throws OrtException {
            session.close();
        }
    }

    /**
     * How a session is set up.
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose (one per core)
     * @param interOpThreads threads running independent operators side by side; 0 lets it choose
     * @param memoryArena    ONNX Runtime's CPU arena allocator (keeps freed blocks for the next batch)
     * @param memoryPattern  plan every intermediate buffer once per input shape and reuse the plan
     * @param optimizedModelCache cache the optimised graph next to a converted model ({@code vitfit-model.json}
     *                       beside it) when running on CPU
     * @param config         extra {@code SessionOptions.addConfigEntry} entries, e.g.
     *                       {@code session.intra_op.allow_spinning=0}
     */
    public record Tuning(int intraOpThreads, int interOpThreads, boolean memoryArena, boolean memoryPattern,
                         boolean optimizedModelCache, Map<String, String> config) {
        /** Session entries that only steer the thread pools; ONNX Runtime's graph transformers never read them. */
        static final Set<String> RUN_TIME_ONLY = Set.of("session.intra_op.allow_spinning",
                "session.inter_op.allow_spinning", "session.force_spinning_stop", "session.intra_op_thread_affinities",
                "session.dynamic_block_base");

        public Tuning {
            config = Map.copyOf(config);
        }

        /** The settings every command uses, with {@code intraOpThreads} (0 = one per core). */
        public static Tuning defaults(int intraOpThreads) {
            return new Tuning(intraOpThreads, 1, true, true, cacheEnabled(), Map.of());
        }

        public Tuning withConfig(Map<String, String> entries) {
            return new Tuning(intraOpThreads, interOpThreads, memoryArena, memoryPattern, optimizedModelCache, entries);
        }

        public Tuning withOptimizedModelCache(boolean on) {
            return new Tuning(intraOpThreads, interOpThreads, memoryArena, memoryPattern, on, config);
        }

        /**
         * What shapes the optimised graph (part of the cache key). Thread counts and the session entries in
         * {@link #RUN_TIME_ONLY} do not: they change how the graph is run, not the graph, so {@code extract} (spinning
         * off) and {@code predict} (spinning on) share one cache entry instead of rebuilding it in turn.
         */
        String graphSettings() {
            Map<String, String> shaping = new TreeMap<>(config);
            shaping.keySet().removeAll(RUN_TIME_ONLY);
            return "level=ALL;config=" + shaping;
        }
    }

    /**
     * Opens {@code model} on {@code wanted}.
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(Path model, Device wanted, int intraOpThreads) throws OrtException {
        return open(model, wanted, Tuning.defaults(intraOpThreads));
    }

    /**
     * Opens {@code model} on {@code wanted} with extra session configuration entries
     * ({@code SessionOptions.addConfigEntry}, e.g. {@code session.intra_op.allow_spinning=0}).
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(Path model, Device wanted, int intraOpThreads, Map<String, String> sessionConfig)
            throws OrtException {
        return open(model, wanted, Tuning.defaults(intraOpThreads).withConfig(sessionConfig));
    }

    /** Opens {@code model} on {@code wanted} with {@code tuning}. */
    public static Opened open(Path model, Device wanted, Tuning tuning) throws OrtException {
        return open(new FileSource(model), wanted, tuning);
    }

    /**
     * Opens a model held in memory (e.g. read from an archive entry) on {@code wanted}, so it never has to be
     * unpacked to a temporary file.
     *
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static Opened open(byte[] model, Device wanted, int intraOpThreads) throws OrtException {
        return open((env, options) -> env.createSession(model, options), wanted,
                Tuning.defaults(intraOpThreads).withOptimizedModelCache(false));
    }

    /** Opens a model held in memory with {@code tuning} (the optimised-model cache does not apply to it). */
    public static Opened open(byte[] model, Device wanted, Tuning tuning) throws OrtException {
        return open((env, options) -> env.createSession(model, options), wanted, tuning.withOptimizedModelCache(false));
    }

    private interface SessionFactory {
        OrtSession create(OrtEnvironment env, OrtSession.SessionOptions options) throws OrtException;
    }

    private record FileSource(Path model) implements SessionFactory {
        @Override
        public OrtSession create(OrtEnvironment env, OrtSession.SessionOptions options) throws OrtException {
            return env.createSession(model.toString(), options);
        }
    }

    private static Opened open(SessionFactory factory, Device wanted, Tuning tuning) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        if (wanted.kind() == Device.Kind.CUDA) {
            try (OrtSession.SessionOptions options = baseOptions(tuning)) {
                options.addCUDA(wanted.id());
                return new Opened(factory.create(env, options), wanted);
            } catch (OrtException | UnsatisfiedLinkError | IllegalArgumentException e) {
                System.err.println("warning: CUDA device " + wanted.id() + " unavailable ("
                        + firstLine(e.getMessage()) + "); running on CPU. Build with -Pgpu on a machine "
                        + "with CUDA 12 and cuDNN 9 to use the GPU.");
            }
        }
        if (factory instanceof FileSource file && tuning.optimizedModelCache() && isConvertedModel(file.model())) {
            return new Opened(openCached(env, file.model(), tuning), Device.CPU);
        }
        try (OrtSession.SessionOptions options = baseOptions(tuning)) {
            return new Opened(factory.create(env, options), Device.CPU);
        }
    }

    /**
     * CPU session through the optimised-model cache: load the cached optimised graph with optimisation off, or
     * optimise the source as usual and let ONNX Runtime write the result into the cache. Any cache problem (read-only
     * directory, damaged entry) falls back to a plain session: the cache only ever saves time.
     */
    private static OrtSession openCached(OrtEnvironment env, Path model, Tuning tuning) throws OrtException {
        OptimizedModelCache cache;
        try {
            cache = OptimizedModelCache.of(model, tuning.graphSettings());
        } catch (IOException e) {
            try (OrtSession.SessionOptions options = baseOptions(tuning)) {
                return env.createSession(model.toString(), options);
            }
        }
        Path entry = cache.validEntry();
        if (entry != null) {
            try (OrtSession.SessionOptions options = baseOptions(tuning)) {
                options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
                return env.createSession(entry.toString(), options);
            } catch (OrtException e) {
                cache.discard(entry);
            }
        }
        Path tmp = null;
        try (OrtSession.SessionOptions options = baseOptions(tuning)) {
            try {
                tmp = cache.newTemporary();
                options.setOptimizedModelFilePath(tmp.toString());
                // ONNX Runtime warns that a level-3 graph is hardware specific; the cache key holds the CPU.
                options.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
            } catch (IOException e) {
                tmp = null;
            }
            OrtSession session = env.createSession(model.toString(), options);
            if (tmp != null) {
                try {
                    cache.commit(tmp);
                } catch (IOException e) {
                    // not cached this time; the session itself is fine
                }
            }
            return session;
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a leftover temporary is removed by a later commit
                }
            }
        }
    }

    /**
     * The sha256 of a model file, hashed only when its size, modification time or file key changed since it was last
     * hashed (remembered beside the optimised-model cache, the way git's index trusts unchanged stat data), so a
     * command checking a model against its {@code vitfit-model.json} does not read hundreds of MB on every run.
     */
    public static String modelSha256(Path model) throws IOException {
        return OptimizedModelCache.modelSha256(model);
    }

    /** Only converted model directories get a cache: temporary graphs (fine-tuning) would only fill the disk. */
    private static boolean isConvertedModel(Path model) {
        Path parent = model.toAbsolutePath().getParent();
        return parent != null && Files.isRegularFile(parent.resolve("vitfit-model.json"));
    }

    private static boolean cacheEnabled() {
        String prop = System.getProperty(CACHE_PROPERTY);
        String env = System.getenv("VITFIT_ORT_CACHE");
        return !"false".equalsIgnoreCase(prop) && !"0".equals(env) && !"false".equalsIgnoreCase(env);
    }

    private static OrtSession.SessionOptions baseOptions(Tuning tuning) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        if (tuning.intraOpThreads() > 0) {
            options.setIntraOpNumThreads(tuning.intraOpThreads());
        }
        if (tuning.interOpThreads() > 0) {
            options.setInterOpNumThreads(tuning.interOpThreads());
        }
        options.setCPUArenaAllocator(tuning.memoryArena());
        options.setMemoryPatternOptimization(tuning.memoryPattern());
        for (Map.Entry<String, String> e : tuning.config().entrySet()) {
            options.addConfigEntry(e.getKey(), e.getValue());
        }
        return options;
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "no detail";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
