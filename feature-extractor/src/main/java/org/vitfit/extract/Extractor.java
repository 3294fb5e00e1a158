package org.vitfit.extract;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.RowMeta;
import org.vitfit.cache.VectorDtype;
import org.vitfit.io.SafeOutput;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Embeds every image of an input into an embedding cache: the {@code vitfit extract} command.
 *
 * <p>Pipeline: {@code threads} workers read, hash, decode and preprocess images into a fixed pool of pixel buffers;
 * the calling thread takes their results back in input order, copies pixels into the one direct batch buffer and
 * runs the model; a writer thread appends the vectors to the cache and commits every {@code commitInterval} ms.
 * Every queue between stages is bounded, so memory does not grow with the collection. Images the cache already
 * holds with the same bytes are skipped without decoding; rows are written in input order, so a resumed run lays
 * out the cache the same way as an uninterrupted one.
 */
public final class Extractor implements AutoCloseable {

    private final ExtractOptions options;
    private final ModelDescriptor model;
    private final ImagePreparer preparer;
    private final BatchEmbedder embedder;
    private final String device;

    private Extractor(ExtractOptions options, ModelDescriptor model, ImagePreparer preparer, BatchEmbedder embedder) {
        this.options = options;
        this.model = model;
        this.preparer = preparer;
        this.embedder = embedder;
        this.device = embedder.device() + " (ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion() + ", "
                + (options.ortThreads() == 0 ? "all cores" : count(options.ortThreads(), "thread"))
                + " for inference, " + count(options.threads(), "decode thread") + ", batch " + options.batchSize()
                + ")";
    }

    /**
     * Runs one extraction; failed images are reported in the summary and the errors file, not thrown. An output that
     * would be refused is refused before the model is loaded, with nothing written.
     */
    public static ExtractSummary run(ExtractOptions options, ExtractListener listener) throws IOException {
        ModelDescriptor model = ModelDescriptor.read(options.modelDir());
        CacheWriter.check(options.output(), identity(model, options), inputsOf(options.modelDir(), options.input()));
        try (Extractor e = load(options)) {
            return e.extract(options.input(), options.output(), listener);
        }
    }

    /**
     * Loads the model of {@code options} (checked against its {@code vitfit-model.json}) once, for one or more
     * {@link #extract} calls with the settings of {@code options}.
     */
    public static Extractor load(ExtractOptions options) throws IOException {
        ModelDescriptor model = ModelDescriptor.read(options.modelDir());
        verifyModelFile(options.modelDir(), model);
        ImagePreparer preparer = new ImagePreparer(model.preprocessing(), options.maxPixels());
        BatchEmbedder embedder = new BatchEmbedder(options.modelDir(), model, options.device(), options.batchSize(),
                options.ortThreads());
        if (embedder.floatsPerImage() != preparer.floatsPerImage()) {
            embedder.close();
            throw new IOException(options.modelDir() + ": the model takes " + model.imageHeight() + "x"
                    + model.imageWidth() + " images but its preprocessing recipe makes "
                    + model.preprocessing().outputHeight() + "x" + model.preprocessing().outputWidth());
        }
        return new Extractor(options, model, preparer, embedder);
    }

    private static CacheIdentity identity(ModelDescriptor model, ExtractOptions options) {
        return new CacheIdentity(model.onnxSha256(), model.source(), model.preprocessing(), model.embeddingDim(),
                options.dtype());
    }

    /** What the cache must not overlap: writing it must never put the images or the model at risk. */
    private static List<SafeOutput.Input> inputsOf(Path modelDir, Path input) {
        return List.of(SafeOutput.Input.of("--input", input), SafeOutput.Input.of("--model", modelDir));
    }

    /** Where the model runs, with the thread and batch settings, for the line that tells the user. */
    public String device() {
        return device;
    }

    /** Embeds the images of {@code input} into the cache at {@code output} (created or updated incrementally). */
    public ExtractSummary extract(Path input, Path output, ExtractListener listener) throws IOException {
        long start = System.nanoTime();
        InputSet inputs = InputScanner.scan(input, options.include(), options.exclude(), options.manifest());
        List<InputItem> items = options.limit() > 0 && options.limit() < inputs.items().size()
                ? inputs.items().subList(0, (int) options.limit()) : inputs.items();
        Pipeline pipeline;
        long pruned = 0;
        long prunedUnreadable = 0;
        long kept = 0;
        long cacheRows;
        Path errorsFile;
        List<String> recovery;
        try (CacheWriter writer = CacheWriter.open(output, identity(model, options),
                inputsOf(options.modelDir(), input));
             ErrorLog errors = ErrorLog.begin(writer.directory())) {
            recovery = writer.recoveryNotes();
            if (!recovery.isEmpty()) {
                listener.recovered(recovery);
            }
            listener.started(items.size(), device);
            pipeline = new Pipeline(options, items, writer, preparer, embedder, errors, listener);
            pipeline.execute();
            // Rows the listing does not name may come from another --input or --include: they stay unless the
            // user asks to prune, and only a complete pass over the listing may conclude that an image is gone.
            Set<String> listed = new HashSet<>();
            inputs.items().forEach(i -> listed.add(i.path()));
            for (String path : List.copyOf(writer.livePaths())) {
                if (listed.contains(path)) {
                    continue;
                }
                if (!options.prune()) {
                    kept++;
                } else if (writer.delete(path, "deleted")) {
                    pruned++;
                }
            }
            // Listed images whose bytes could not be read kept their rows during the pass; --prune removes them too.
            if (options.prune()) {
                for (String path : pipeline.unreadableWithRow) {
                    if (writer.delete(path, "deleted")) {
                        prunedUnreadable++;
                    }
                }
            }
            writer.commit();
            errors.finish();
            errorsFile = errors.file();
            cacheRows = writer.liveCount();
        }
        double wall = (System.nanoTime() - start) / 1e9;
        long keptUnreadable = options.prune() ? 0 : pipeline.unreadableWithRow.size();
        return new ExtractSummary(inputs.items().size(), items.size(), pipeline.embedded, pipeline.changed,
                pipeline.unchanged, pipeline.copied, pruned + prunedUnreadable + pipeline.deletedFailed, pruned,
                prunedUnreadable, kept, keptUnreadable, pipeline.failed, cacheRows, wall, device, errorsFile,
                recovery);
    }

    @Override
    public void close() {
        embedder.close();
    }

    private static String count(int n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }

    /** A model.onnx replaced after conversion would silently make vectors that do not match the cache's identity. */
    private static void verifyModelFile(Path modelDir, ModelDescriptor model) throws IOException {
        Path onnx = modelDir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        if (!Files.isRegularFile(onnx)) {
            throw new NoSuchFileException(onnx.toString(), null, "the converted model directory has no "
                    + ModelDescriptor.ONNX_FILE_NAME + "; run 'vitfit convert' again");
        }
        String actual = OnnxSessions.modelSha256(onnx);
        if (!actual.equals(model.onnxSha256())) {
            throw new IOException(onnx + " has sha256 " + actual + " but " + ModelDescriptor.FILE_NAME + " records "
                    + model.onnxSha256() + "; the model was changed after conversion: run 'vitfit convert' again");
        }
    }

    /** One run of the three stages. Counters are written by the writer thread and read after it has ended. */
    private static final class Pipeline {

        private enum Kind { EMBED, UNCHANGED, COPY, FAILED }

        private static final class Result {
            final InputItem item;
            Kind kind;
            /** Null when the file's bytes could not be read: then nothing is known about its content now. */
            String sha256;
            long size;
            CacheRow source;
            String reason;
            String message;
            int vectorOffset;

            Result(InputItem item) {
                this.item = item;
            }

            RowMeta meta() {
                return new RowMeta(item.path(), sha256, size, item.labels(), item.split());
            }
        }

        /** Results in input order and, for the EMBED ones, their vectors; {@code results == null} ends the run. */
        private record Job(List<Result> results, float[] vectors) {
        }

        private static final Job END = new Job(null, null);

        private final ExtractOptions options;
        private final List<InputItem> items;
        private final CacheWriter writer;
        private final ImagePreparer preparer;
        private final BatchEmbedder embedder;
        private final ErrorLog errors;
        private final ExtractListener listener;
        private final Map<String, CacheRow> knownByPath;
        private final Map<String, CacheRow> knownBySha = new HashMap<>();
        private final VectorDtype dtype;

        private final BlockingQueue<Job> jobs = new ArrayBlockingQueue<>(4);
        private DecodeStage<InputItem, Result> decode;
        private volatile Throwable writerFailure;

        long embedded;
        long changed;
        long unchanged;
        long copied;
        long failed;
        long deletedFailed;
        /** Listed images whose bytes could not be read this run and that have a cached row (kept unless pruned). */
        final List<String> unreadableWithRow = new ArrayList<>();

        Pipeline(ExtractOptions options, List<InputItem> items, CacheWriter writer, ImagePreparer preparer,
                 BatchEmbedder embedder, ErrorLog errors, ExtractListener listener) {
            this.options = options;
            this.items = items;
            this.writer = writer;
            this.preparer = preparer;
            this.embedder = embedder;
            this.errors = errors;
            this.listener = listener;
            this.dtype = writer.dtype();
            this.knownByPath = writer.liveRowsByPath();
            knownByPath.values().forEach(r -> knownBySha.putIfAbsent(r.sha256(), r));
        }

        void execute() throws IOException {
            // Workers hold one buffer each; the rest lets them run ahead while a batch is inferred.
            int pool = options.threads() + Math.min(options.batchSize(), 64) + 2;
            decode = DecodeStage.start(items, options.threads(), pool, preparer.floatsPerImage(), (item, pixels) -> {
                Result r = new Result(item);
                prepare(r, pixels);
                return r.kind == Kind.EMBED ? DecodeStage.Outcome.withPixels(r) : DecodeStage.Outcome.withoutPixels(r);
            });
            Thread writerThread = new Thread(this::write, "vitfit-cache-writer");
            writerThread.setDaemon(true);
            writerThread.start();
            Throwable failure = null;
            try {
                consume();
            } catch (Throwable t) {
                failure = t;
            } finally {
                // The writer drains what was queued (all of it valid) before it sees END.
                try {
                    decode.close();
                    while (writerThread.isAlive() && !jobs.offer(END, 100, TimeUnit.MILLISECONDS)) {
                        // the writer is busy; try again
                    }
                    writerThread.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    failure = failure != null ? failure : e;
                }
            }
            if (failure == null && writerFailure != null) {
                failure = writerFailure;
            }
            if (failure instanceof IOException io) {
                throw io;
            }
            if (failure instanceof RuntimeException re) {
                throw re;
            }
            if (failure instanceof Error err) {
                throw err;
            }
            if (failure != null) {
                throw new IOException("extraction interrupted: " + failure, failure);
            }
        }

        private void prepare(Result r, FloatBuffer pixels) {
            InputItem item = r.item;
            byte[] bytes;
            try {
                bytes = ImagePreparer.read(item);
            } catch (ImageFailure f) {
                fail(r, f.reason(), f.getMessage());
                return;
            }
            r.size = bytes.length;
            r.sha256 = Hashing.sha256(bytes);
            CacheRow known = knownByPath.get(item.path());
            if (known != null && known.sha256().equals(r.sha256)) {
                boolean sameLabels = known.labels().equals(item.labels()) && Objects.equals(known.split(), item.split());
                r.kind = sameLabels ? Kind.UNCHANGED : Kind.COPY;
                r.source = known;
                return;
            }
            CacheRow sameBytes = knownBySha.get(r.sha256);
            if (sameBytes != null) {
                r.kind = Kind.COPY;
                r.source = sameBytes;
                return;
            }
            try {
                preparer.prepareOrFail(bytes, item.path(), pixels, 0);
            } catch (ImageFailure f) {
                fail(r, f.reason(), f.getMessage());
                return;
            }
            r.kind = Kind.EMBED;
        }

        private static void fail(Result r, String reason, String message) {
            r.kind = Kind.FAILED;
            r.reason = reason;
            r.message = message;
        }

        /** The inference stage, on the calling thread: results in input order, batched for the model. */
        private void consume() throws IOException, InterruptedException {
            int batch = embedder.batchSize();
            List<Result> pending = new ArrayList<>();
            int inBatch = 0;
            for (int index = 0; index < items.size(); index++) {
                if (writerFailure != null) {
                    throw new IOException("writing the cache failed: " + writerFailure.getMessage(), writerFailure);
                }
                DecodeStage.Prepared<InputItem, Result> p = decode.take(index);
                if (p.failure() != null) {
                    throw new IOException("unexpected failure preparing " + p.item().file() + ": " + p.failure(),
                            p.failure());
                }
                Result r = p.value();
                if (p.pixels() != null) {
                    embedder.put(inBatch, p.pixels(), 0);
                    decode.release(p.pixels());
                    r.vectorOffset = inBatch * embedder.dimension();
                    inBatch++;
                }
                pending.add(r);
                if (inBatch == batch || pending.size() >= 4 * batch) {
                    flush(pending, inBatch);
                    pending = new ArrayList<>();
                    inBatch = 0;
                }
            }
            if (!pending.isEmpty()) {
                flush(pending, inBatch);
            }
        }

        private void flush(List<Result> results, int toEmbed) throws IOException, InterruptedException {
            float[] vectors = null;
            if (toEmbed > 0) {
                vectors = new float[toEmbed * embedder.dimension()];
                try {
                    embedder.embed(toEmbed, vectors, 0);
                } catch (OrtException e) {
                    throw new IOException("ONNX Runtime failed on a batch of " + toEmbed + " images starting with "
                            + firstEmbedded(results) + ": " + e.getMessage(), e);
                }
                refuseNonFinite(results, vectors);
            }
            Job job = new Job(results, vectors);
            while (!jobs.offer(job, 100, TimeUnit.MILLISECONDS)) {
                if (writerFailure != null) {
                    throw new IOException("writing the cache failed: " + writerFailure.getMessage(), writerFailure);
                }
            }
        }

        /**
         * An embedding holding NaN or an infinity (or a value past f16's range in an f16 cache) is a failed row, never
         * stored: stored, it would be skipped as unchanged by every later run and poison every head trained on it.
         */
        private void refuseNonFinite(List<Result> results, float[] vectors) {
            int dim = embedder.dimension();
            for (Result r : results) {
                if (r.kind != Kind.EMBED) {
                    continue;
                }
                int bad = dtype.firstUnstorable(vectors, r.vectorOffset, r.vectorOffset + dim);
                if (bad >= 0) {
                    float v = vectors[bad];
                    fail(r, "non_finite_output", r.item.path() + ": the model's embedding holds " + v + " at index "
                            + (bad - r.vectorOffset) + dtype.unstorableReason(v) + "; nothing was stored and the next "
                            + "run tries this image again. If every image fails this way the model itself is broken "
                            + "(non-finite weights): convert it again");
                }
            }
        }

        private static String firstEmbedded(List<Result> results) {
            return results.stream().filter(r -> r.kind == Kind.EMBED).findFirst().map(r -> r.item.path()).orElse("?");
        }

        /** The writer stage: appends in input order, commits on a timer. */
        private void write() {
            long done = 0;
            long lastCommit = System.nanoTime();
            long interval = TimeUnit.MILLISECONDS.toNanos(options.commitInterval());
            try {
                while (true) {
                    Job job = jobs.take();
                    if (job.results() == null) {
                        return;
                    }
                    for (Result r : job.results()) {
                        apply(r, job.vectors());
                    }
                    done += job.results().size();
                    listener.progress(done, items.size());
                    if (System.nanoTime() - lastCommit >= interval) {
                        writer.commit();
                        listener.committed(writer.liveCount());
                        lastCommit = System.nanoTime();
                    }
                }
            } catch (Throwable t) {
                writerFailure = t;
            }
        }

        private void apply(Result r, float[] vectors) throws IOException {
            switch (r.kind) {
                case EMBED -> {
                    if (writer.liveRow(r.item.path()).isPresent()) {
                        changed++;
                    }
                    writer.append(r.meta(), vectors, r.vectorOffset);
                    embedded++;
                }
                case COPY -> {
                    writer.appendCopy(r.source, r.meta());
                    copied++;
                }
                case UNCHANGED -> unchanged++;
                case FAILED -> {
                    errors.add(r.item.path(), r.reason, r.message);
                    failed++;
                    if (r.sha256 == null) {
                        // Not read (gone, no permission, an I/O error, a disk not mounted): the row may still
                        // describe the file, and a passing failure must not cost the user a row; --prune removes it.
                        if (writer.liveRow(r.item.path()).isPresent()) {
                            unreadableWithRow.add(r.item.path());
                        }
                    } else if (writer.delete(r.item.path(), "failed")) {
                        // Read, and its bytes differ from the cached row's (same bytes are never decoded): the
                        // cached vector describes content the file no longer has.
                        deletedFailed++;
                    }
                }
                default -> throw new IllegalStateException("result " + r.kind + " never reaches the writer");
            }
        }
    }
}
