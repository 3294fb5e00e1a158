package org.vitfit.finetune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.heads.SplitAssignment;
import org.vitfit.heads.Splits;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The fine-tuning run: checks the output and inputs, scans the images, splits them (head-trainer's {@link Splits}),
 * trains what {@link TrainableParameters} says with one ONNX Runtime step per mini-batch, validates and checkpoints
 * every epoch ({@link Checkpoint}), stops early on validation loss, and writes the kept epoch's model
 * ({@link FinetuneOutput}). Re-running the same command after a crash continues after the last completed epoch and
 * gives the same result as an uninterrupted run (data order and augmentation are seeded per epoch); after a crash
 * while the output was written, it writes the output again.
 */
public final class Finetuner {

    /** Where in the output the fine-tuned classifier is written as a head directory. */
    public static final String HEAD_DIR = FinetuneOutput.HEAD_DIR;
    /** Checkpoint-and-cache directory beside the output: {@code <output>.finetune-state}. */
    public static final String STATE_SUFFIX = ".finetune-state";

    /**
     * The outcome: the written model (null when the run stopped before its last epoch), the per-epoch history, the
     * epoch kept and the written model's validation and (with a test split) test score.
     */
    public record Result(ModelDescriptor model, List<EpochRecord> history, int bestEpoch, Double validationScore,
                         Double testScore, String device, boolean stoppedEarly, int trainRows, int valRows,
                         int testRows) {
    }

    private Finetuner() {
    }

    public static Result run(Path model, Path input, Path output, FinetuneOptions o, PrintStream log)
            throws IOException, OrtException {
        return run(model, input, output, o, log, Integer.MAX_VALUE);
    }

    /** {@code stopAfterEpochs} ends the run after that many epochs of this call, as a crash would (for tests). */
    static Result run(Path model, Path input, Path output, FinetuneOptions o, PrintStream log, int stopAfterEpochs)
            throws IOException, OrtException {
        output = output.toAbsolutePath().normalize();
        Path stateDir = output.resolveSibling(output.getFileName() + STATE_SUFFIX);
        // The one place that says which families fine-tune (Swin and distilled DeiT are refused with a reason).
        Converter.Loaded loaded = loadModel(model).requireFineTunable();
        VitParameters vit = loaded.parameters();
        List<SafeOutput.Input> inputs = new ArrayList<>(List.of(SafeOutput.Input.of("--input", input),
                SafeOutput.Input.of("--model", model)));
        if (!Path.of(loaded.source()).toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            inputs.add(SafeOutput.Input.of("checkpoint of --model", Path.of(loaded.source())));
        }
        // Refuse before any work: the output and the checkpoint directory must be writable as what they are.
        SafeOutput.checkDirectory(output, OutputKind.FINETUNE, o.overwrite(), inputs);
        SafeOutput.checkInPlace(stateDir, OutputKind.FINETUNE_STATE, Checkpoint::isEarlierState, inputs);

        ImageDecoder decoder = ImageDecoder.forRecipe(loaded.preprocessing());
        LabelledImages data = LabelledImages.scan(input, o.multiLabel(), decoder);
        for (LabelledImages.Skipped s : data.skipped()) {
            log.printf("skipped %s (%s): %s%n", s.path(), s.reason(), s.message());
        }
        SplitAssignment split = Splits.assign(data, o.multiLabel(), 1 - o.valFraction(), o.valFraction(), 0, o.seed());
        int[] train = split.train();
        int[] val = split.validation();
        int[] test = split.test();
        if (train.length == 0 || val.length == 0) {
            throw new IllegalArgumentException(input + ": " + train.length + " training and " + val.length
                    + " validation images (" + split.origin() + "); fine-tuning needs both");
        }
        List<String> labels = data.classes();
        int trainBlocks = o.trainBlocks(vit.blocks().size());
        TrainableParameters initial = TrainableParameters.of(vit, initialHead(loaded, labels), trainBlocks, o.lora(),
                o.seed());
        String fingerprint = fingerprint(o, loaded, data, split);
        Preprocessor preprocessor = new Preprocessor(loaded.preprocessing());
        PixelBatches plain = new PixelBatches(data, decoder, preprocessor, null);
        TrainingGraph.Loss loss = o.multiLabel() ? TrainingGraph.Loss.SIGMOID_BINARY_CROSS_ENTROPY
                : TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY;

        try (Checkpoint checkpoint = Checkpoint.open(stateDir, inputs)) {
            Checkpoint.State state = checkpoint.read(fingerprint);
            List<EpochRecord> history = state == null ? new ArrayList<>() : new ArrayList<>(state.history());
            int bestEpoch = state == null ? -1 : state.bestEpoch();
            String device = o.device().toString();
            boolean stoppedEarly = !history.isEmpty() && stoppedEarly(history, bestEpoch, o);
            boolean finished = stoppedEarly || history.size() >= o.epochs();
            log.printf(Locale.ROOT, "fine-tuning %s: %s; %d train / %d val / %d test images (%s), %d classes%n",
                    loaded.source(), describe(initial), train.length, val.length, test.length, split.origin(),
                    labels.size());
            if (state != null && finished) {
                log.printf("training had finished after epoch %d (%s); writing the output%n", state.epochsDone(),
                        checkpoint.directory());
            } else if (state != null) {
                log.printf("resuming after epoch %d (step %d) from %s%n", state.epochsDone(), state.steps(),
                        checkpoint.directory());
            }
            if (!finished) {
                Training t = new Training(o, loaded, data, initial, loss, checkpoint, log, fingerprint, labels.size(),
                        preprocessor, decoder, plain);
                device = t.run(train, val, state, history, stopAfterEpochs);
                bestEpoch = t.bestEpoch;
                stoppedEarly = t.stoppedEarly;
                if (!stoppedEarly && history.size() < o.epochs()) {
                    return new Result(null, history, bestEpoch, null, null, device, false, train.length, val.length,
                            test.length);
                }
            }
            TrainableParameters best = initial.withFlat(checkpoint.readBest(bestEpoch, initial.size()));
            VitParameters tunedVit = best.toVit(vit);
            Converter.Loaded tuned = new Converter.Loaded(tunedVit, loaded.preprocessing(), labels,
                    weightsSha256(loaded, best), "finetune:" + loaded.source());
            Map<String, Object> report = report(o, device, initial, data, split, labels, bestEpoch, stoppedEarly,
                    history);
            FinetuneOutput.Written w = FinetuneOutput.write(output, o.overwrite(), inputs, tuned, data, val, test,
                    plain, o, report);
            double valScore = FinetuneOutput.headlineScore(w.validation());
            Double testScore = w.test() == null ? null : FinetuneOutput.headlineScore(w.test());
            log.println(w.validation().headline());
            if (w.test() != null) {
                log.println(w.test().headline());
            }
            log.printf("wrote %s (epoch %d of %d kept); the checkpoint in %s can be deleted once you no longer need "
                    + "to resume%n", output, bestEpoch, history.size(), checkpoint.directory());
            return new Result(w.model(), history, bestEpoch, valScore, testScore, device, stoppedEarly, train.length,
                    val.length, test.length);
        }
    }

    /** The epochs loop; its sessions and caches live only while it trains. */
    private static final class Training {
        final FinetuneOptions o;
        final Converter.Loaded loaded;
        final LabelledImages data;
        final TrainableParameters initial;
        final TrainingGraph.Loss loss;
        final Checkpoint checkpoint;
        final PrintStream log;
        final String fingerprint;
        final int classes;
        final Preprocessor preprocessor;
        final PixelBatches plain;
        final PixelBatches augmented;
        int bestEpoch = -1;
        double bestValLoss = Double.POSITIVE_INFINITY;
        boolean stoppedEarly;

        Training(FinetuneOptions o, Converter.Loaded loaded, LabelledImages data, TrainableParameters initial,
                 TrainingGraph.Loss loss, Checkpoint checkpoint, PrintStream log, String fingerprint, int classes,
                 Preprocessor preprocessor, ImageDecoder decoder, PixelBatches plain) {
            this.o = o;
            this.loaded = loaded;
            this.data = data;
            this.initial = initial;
            this.loss = loss;
            this.checkpoint = checkpoint;
            this.log = log;
            this.fingerprint = fingerprint;
            this.classes = classes;
            this.preprocessor = preprocessor;
            this.plain = plain;
            this.augmented = o.augment() ? new PixelBatches(data, decoder, preprocessor,
                    new RandomCropFlip(o.cropScaleMin())) : plain;
        }

        /** Trains until the last epoch, early stopping or {@code stopAfterEpochs}; returns the device used. */
        String run(int[] train, int[] val, Checkpoint.State state, List<EpochRecord> history, int stopAfterEpochs)
                throws IOException, OrtException {
            TrainableParameters start = initial;
            float[] m = null;
            float[] v = null;
            long steps = 0;
            int startEpoch = 0;
            if (state != null) {
                float[][] saved = checkpoint.readCurrent(state.epochsDone(), initial.size());
                start = initial.withFlat(saved[0]);
                m = saved[1];
                v = saved[2];
                steps = state.steps();
                startEpoch = state.epochsDone();
                bestEpoch = state.bestEpoch();
                bestValLoss = state.bestValLoss();
            }
            long stepsPerEpoch = (train.length + o.batchSize() - 1) / o.batchSize();
            long totalSteps = stepsPerEpoch * o.epochs();
            long warmup = Math.round(o.warmupFraction() * totalSteps);
            String device;
            try (FrozenPrefix prefix = FrozenPrefix.open(loaded.parameters(), initial, loaded.weightsSha256(),
                    o.device(), o.threads());
                 PrefixCache cache = prefix == null ? null : PrefixCache.fill(checkpoint.prefixCache(), data,
                         o.augment() ? val : concat(train, val), prefix, plain, loaded.preprocessing(), o.batchSize(),
                         log);
                 TrainingSession session = new TrainingSession(start, loss, o.device(), o.threads(), m, v, steps);
                 Inputs inputs = new Inputs(prefix, cache, o.batchSize())) {
                device = session.device().toString();
                log.printf("%d epochs x %d steps of %d images on %s%n", o.epochs(), stepsPerEpoch, o.batchSize(),
                        device);
                int ran = 0;
                for (int epoch = startEpoch; epoch < o.epochs() && !stoppedEarly && ran < stopAfterEpochs;
                     epoch++, ran++) {
                    long t0 = System.nanoTime();
                    int[] order = shuffled(train, new Random(o.seed() * 1_000_003L + epoch));
                    SplitScore trainScore = new SplitScore(classes, o.multiLabel());
                    double lastLr = 0;
                    long seed = o.seed() ^ (epoch * 0x9E3779B97F4A7C15L);
                    // The next batch is decoded, augmented and preprocessed while the current step runs.
                    Future<Inputs.Prepared> next = inputs.prepare(augmented, batchRows(order, 0), seed, 0);
                    for (int from = 0; from < order.length; from += o.batchSize()) {
                        Future<Inputs.Prepared> current = next;
                        int[] rows = batchRows(order, from);
                        int n = rows.length;
                        int after = from + o.batchSize();
                        next = after < order.length ? inputs.prepare(augmented, batchRows(order, after), seed, after)
                                : null;
                        float[] targets = targets(rows);
                        double f = o.schedule().factor(session.steps(), warmup, totalSteps);
                        lastLr = o.lrBackbone() * f;
                        TrainingSession.Hyper h = new TrainingSession.Hyper((float) lastLr, (float) (o.lrHead() * f),
                                (float) o.weightDecay(), 0.9f, 0.999f, 1e-8f, (float) o.maxGradNorm());
                        try (Inputs.Batch b = inputs.batch(current)) {
                            TrainingSession.StepResult r = session.step(b.tensor(), n, targets, h);
                            trainScore.add(r.logits(), targets, n, r.loss());
                        }
                    }
                    double trainSeconds = (System.nanoTime() - t0) / 1e9;
                    SplitScore valScore = new SplitScore(classes, o.multiLabel());
                    for (int from = 0; from < val.length; from += o.batchSize()) {
                        int[] rows = batchRows(val, from);
                        try (Inputs.Batch b = inputs.batch(inputs.prepare(plain, rows, 0, 0))) {
                            valScore.add(session.logits(b.tensor()), targets(rows), rows.length, Double.NaN);
                        }
                    }
                    int done = epoch + 1;
                    if (valScore.loss() < bestValLoss) {
                        bestValLoss = valScore.loss();
                        bestEpoch = done;
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    EpochRecord rec = new EpochRecord(done, trainScore.loss(), trainScore.score(), valScore.loss(),
                            valScore.score(), seconds, trainSeconds, lastLr);
                    history.add(rec);
                    checkpoint.write(new Checkpoint.State(fingerprint, done, session.steps(), bestEpoch, bestValLoss,
                            history), session.parameters(), session.firstMoment(), session.secondMoment());
                    String score = o.multiLabel() ? "micro-F1" : "accuracy";
                    log.printf(Locale.ROOT, "epoch %d/%d: train loss %.4f %s %.4f | val loss %.4f %s %.4f | %.1f s "
                                    + "(%.1f img/s)%n", done, o.epochs(), rec.trainLoss(), score, rec.trainScore(),
                            rec.valLoss(), score, rec.valScore(), seconds, train.length / trainSeconds);
                    stoppedEarly = stoppedEarly(history, bestEpoch, o);
                    if (stoppedEarly) {
                        log.printf("stopping early: no better validation loss for %d epochs%n", o.patience());
                    }
                }
            }
            return device;
        }

        private int[] batchRows(int[] all, int from) {
            return Arrays.copyOfRange(all, from, Math.min(all.length, from + o.batchSize()));
        }

        private float[] targets(int[] rows) {
            float[] t = new float[rows.length * classes];
            for (int i = 0; i < rows.length; i++) {
                System.arraycopy(data.target(rows[i]), 0, t, i * classes, classes);
            }
            return t;
        }
    }

    /**
     * Where a batch's graph input comes from: preprocessed pixels (full fine-tuning), the frozen prefix run on
     * (augmented) pixels, or the prefix outputs cached on disk when nothing is augmented. The CPU side (reading,
     * decoding, augmenting, preprocessing, or copying cached rows) runs on a background thread into one of two
     * buffer slots, so the next batch is ready when a step ends; a slot is reused only after the step that read it.
     */
    private static final class Inputs implements AutoCloseable {
        private final FrozenPrefix prefix;
        private final PrefixCache cache;
        private final int batch;
        private final FloatBuffer[] pixels = new FloatBuffer[2];
        private final float[][] cached = new float[2][];
        private final ExecutorService loader = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "vitfit-batch-loader");
            t.setDaemon(true);
            return t;
        });
        private int slot;

        Inputs(FrozenPrefix prefix, PrefixCache cache, int batch) {
            this.prefix = prefix;
            this.cache = cache;
            this.batch = batch;
        }

        /** A batch's CPU-side data: preprocessed pixels, or cached prefix outputs. */
        record Prepared(int n, PixelBatches source, FloatBuffer pixels, float[] cached) {
        }

        /** One batch's input tensor, and the prefix result that owns it when there is one. */
        record Batch(OnnxTensor tensor, FrozenPrefix.Output owner) implements AutoCloseable {
            @Override
            public void close() {
                if (owner != null) {
                    owner.close();
                } else {
                    tensor.close();
                }
            }
        }

        /** Starts preparing {@code rows} in the next free slot. */
        Future<Prepared> prepare(PixelBatches source, int[] rows, long seed, int position) {
            int s = slot;
            slot = 1 - slot;
            int n = rows.length;
            if (cache != null && !source.augments()) {
                if (cached[s] == null) {
                    cached[s] = new float[batch * prefix.floatsPerRow()];
                }
                float[] dst = cached[s];
                return loader.submit(() -> {
                    cache.read(rows, dst);
                    return new Prepared(n, source, null, dst);
                });
            }
            if (pixels[s] == null) {
                pixels[s] = TrainingSession.direct(batch * source.floatsPerImage());
            }
            FloatBuffer view = TrainingSession.view(pixels[s], n * source.floatsPerImage());
            return loader.submit(() -> {
                source.fill(rows, view, seed, position, false);
                return new Prepared(n, source, view, null);
            });
        }

        /** Waits for a prepared batch and makes its graph input (running the frozen prefix when there is one). */
        Batch batch(Future<Prepared> pending) throws OrtException {
            Prepared p;
            try {
                p = pending.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while preparing a batch", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
            }
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            if (p.cached() != null) {
                return new Batch(OnnxTensor.createTensor(env, FloatBuffer.wrap(p.cached(), 0,
                        p.n() * prefix.floatsPerRow()), prefix.shape(p.n())), null);
            }
            if (prefix == null) {
                return new Batch(OnnxTensor.createTensor(env, p.pixels(), p.source().shape(p.n())), null);
            }
            FrozenPrefix.Output out = prefix.run(p.pixels(), p.source().shape(p.n()));
            return new Batch(out.tensor(), out);
        }

        @Override
        public void close() {
            loader.shutdownNow();
        }
    }

    // ---------------------------------------------------------------- model and data

    /** A checkpoint directory, or a converted model directory whose source checkpoint is still on disk. */
    static Converter.Loaded loadModel(Path model) throws IOException {
        if (Files.exists(model.resolve(ModelDescriptor.FILE_NAME))) {
            ModelDescriptor d = ModelDescriptor.read(model);
            Path source = d.source() == null ? null : Path.of(d.source());
            if (source == null || !Files.isDirectory(source)) {
                throw new IllegalArgumentException(model + " is a converted model whose checkpoint (" + d.source()
                        + ") is not a local directory; pass the checkpoint directory to --model instead");
            }
            Converter.Loaded l = Converter.load(source, new Converter.Options(d.source(), false, null));
            if (!l.weightsSha256().equals(d.weightsSha256())) {
                throw new IllegalArgumentException(source + " changed since " + model + " was converted (weights sha256 "
                        + l.weightsSha256() + " vs " + d.weightsSha256() + "); pass the checkpoint directory instead");
            }
            return l;
        }
        return Converter.load(model, Converter.Options.defaults());
    }

    /** The model's own classifier when it already has exactly these classes, otherwise a zero-initialised one. */
    private static VitParameters.Linear initialHead(Converter.Loaded loaded, List<String> labels) {
        VitParameters p = loaded.parameters();
        int in = p.projection() != null ? (int) p.projection().dim(1) : p.spec().hiddenSize();
        if (p.head() != null && labels.equals(loaded.labels()) && p.head().weight().dim(0) == in
                && !p.spec().headOnClsAndPatchMean()) {
            return p.head();
        }
        return new VitParameters.Linear(new Tensor(new float[in * labels.size()], new long[] {in, labels.size()}),
                new Tensor(new float[labels.size()], new long[] {labels.size()}));
    }

    /**
     * What a resumed run must share with the interrupted one: the settings, the model's weights and every image
     * of every split with its content hash and labels, so added, removed, replaced or relabelled photos are noticed.
     */
    static String fingerprint(FinetuneOptions o, Converter.Loaded loaded, LabelledImages data, SplitAssignment split) {
        MessageDigest md = Hashing.sha256();
        md.update((o.fingerprint() + "\n" + loaded.weightsSha256() + "\n" + String.join("\u0001", data.classes()) + "\n")
                .getBytes(StandardCharsets.UTF_8));
        String[] names = {"train", "val", "test"};
        int[][] parts = {split.train(), split.validation(), split.test()};
        for (int p = 0; p < parts.length; p++) {
            for (int r : parts[p]) {
                LabelledImages.Image img = data.image(r);
                md.update((names[p] + "\u0000" + img.path() + "\u0000" + img.sha256() + "\u0000"
                        + String.join("\u0001", img.labels()) + "\n").getBytes(StandardCharsets.UTF_8));
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The identity recorded for the fine-tuned weights: the base checkpoint and the trained values. */
    private static String weightsSha256(Converter.Loaded base, TrainableParameters tuned) {
        MessageDigest md = Hashing.sha256();
        md.update(base.weightsSha256().getBytes(StandardCharsets.UTF_8));
        ByteBuffer b = ByteBuffer.allocate(tuned.size() * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(tuned.flat());
        md.update(b.array());
        return HexFormat.of().formatHex(md.digest());
    }

    static String describe(TrainableParameters p) {
        int depth = p.spec().numLayers();
        String what;
        if (p.lora() != null) {
            what = String.format(Locale.ROOT, "LoRA r=%d alpha=%s on %s of the last %d of %d blocks + classifier",
                    p.lora().rank(), trim(p.lora().alpha()), p.lora().targetList(), p.trainBlocks(), depth);
        } else if (p.trainBlocks() == depth) {
            what = "every layer (full fine-tuning)";
        } else if (p.trainBlocks() == 0) {
            what = "the classifier only (backbone frozen)";
        } else {
            what = "the last " + p.trainBlocks() + " of " + depth + " blocks + final norm + classifier";
        }
        return String.format(Locale.ROOT, "training %s, %,d weights (%,d frozen)", what, p.size(), p.frozenCount());
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static Map<String, Object> report(FinetuneOptions o, String device, TrainableParameters initial,
                                              LabelledImages data, SplitAssignment split, List<String> labels,
                                              int bestEpoch, boolean stoppedEarly, List<EpochRecord> history) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("options", o);
        r.put("device", device);
        r.put("trained", describe(initial));
        r.put("trainableWeights", initial.size());
        r.put("augmentation", o.augment() ? "random crop (torchvision RandomResizedCrop box, area " + o.cropScaleMin()
                + "-1, aspect 3/4-4/3) + horizontal flip, then the model's preprocessing" : "none");
        r.put("split", split.origin());
        r.put("trainRows", split.train().length);
        r.put("valRows", split.validation().length);
        r.put("testRows", split.test().length);
        r.put("labels", labels);
        r.put("skippedImages", data.skipped());
        r.put("bestEpoch", bestEpoch);
        r.put("stoppedEarly", stoppedEarly);
        r.put("history", history);
        return r;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static int[] shuffled(int[] rows, Random r) {
        int[] a = rows.clone();
        for (int i = a.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }

    private static boolean stoppedEarly(List<EpochRecord> history, int bestEpoch, FinetuneOptions o) {
        return o.patience() > 0 && history.get(history.size() - 1).epoch() - bestEpoch >= o.patience();
    }
}
