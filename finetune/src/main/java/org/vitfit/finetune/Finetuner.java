package org.vitfit.finetune;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.extract.InputItem;
import org.vitfit.extract.InputScanner;
import org.vitfit.extract.InputSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.LinearHeads;
import org.vitfit.heads.Normalization;
import org.vitfit.heads.Thresholds;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.ModelDescriptor;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.stream.IntStream;

/**
 * The fine-tuning loop: mini-batches with augmentation, one ONNX Runtime training step per batch, validation
 * and a resumable checkpoint every epoch, early stopping on validation loss, and at the end a converted model
 * directory (backbone + the fine-tuned classifier as {@code logits}) written with the best epoch's weights.
 *
 * <p>The checkpoint lives in {@code <output>.finetune-state/}: {@code state.json} (settings fingerprint, epoch,
 * step, history, best epoch, and the names of the two weight files), {@code current-E.bin} (parameters and AdamW
 * moments after epoch E) and {@code best-E.bin} (parameters of the best epoch E). The weight files carry their epoch
 * in the name and {@code state.json} is replaced last, so a crash at any point leaves a state.json whose files
 * match it; files it no longer names are deleted afterwards.
 * Re-running the same command after a crash continues after the last completed epoch and gives the same
 * result as an uninterrupted run (data order and augmentation are seeded per epoch).
 */
public final class Finetuner {

    /** Where in the output the fine-tuned classifier is written as a head directory. */
    public static final String HEAD_DIR = "head";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One epoch's figures; {@code valScore} is accuracy (multi-class) or micro-F1 at 0.5 (multi-label). */
    public record EpochRecord(int epoch, double trainLoss, double trainScore, double valLoss, double valScore,
                              double seconds, double lrBackbone) {
    }

    /** The outcome: the written model, the per-epoch history, the epoch kept and, with a test split, its score. */
    public record Result(ModelDescriptor model, List<EpochRecord> history, int bestEpoch, Double testScore,
                         String device, boolean stoppedEarly, int trainRows, int valRows, int testRows) {
    }

    private record Rows(List<Path> files, List<float[]> targets) {
        int size() {
            return files.size();
        }
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
        if (Files.exists(output) && !o.overwrite()) {
            throw new FileAlreadyExistsException(output.toString(), null, "output exists; choose another --output "
                    + "or pass --overwrite");
        }
        Converter.Loaded loaded = loadModel(model).requireFineTunable();
        VitParameters vit = loaded.parameters();
        InputSet inputs = InputScanner.scan(input, List.of(), List.of());
        List<String> labels = labels(inputs, o.multiLabel());
        Map<String, Rows> splits = split(inputs, labels, o);
        Rows train = splits.get("train");
        Rows val = splits.get("val");
        Rows test = splits.get("test");
        if (train.size() == 0 || val.size() == 0) {
            throw new IllegalArgumentException(input + ": " + train.size() + " training and " + val.size()
                    + " validation images; fine-tuning needs both");
        }

        TrainableParameters initial = TrainableParameters.of(vit, initialHead(loaded, labels));
        List<String> stateOrder = new ArrayList<>();
        Map<String, Integer> sizes = new LinkedHashMap<>();
        for (TrainableParameters.Param p : initial.params()) {
            stateOrder.add(p.name());
            sizes.put(p.name(), p.size());
        }
        List<String> momentOrder = new ArrayList<>();
        for (TrainableParameters.Param p : initial.params()) {
            for (String k : List.of(TrainingGraph.firstMomentName(p.name()), TrainingGraph.secondMomentName(p.name()))) {
                momentOrder.add(k);
                sizes.put(k, p.size());
            }
        }
        List<String> fullOrder = new ArrayList<>(stateOrder);
        fullOrder.addAll(momentOrder);

        Path stateDir = output.resolveSibling(output.getFileName() + ".finetune-state");
        Files.createDirectories(stateDir);
        String fingerprint = o.fingerprint() + "|" + loaded.weightsSha256() + "|" + String.join("\u0001", labels)
                + "|" + train.size() + "/" + val.size();
        List<EpochRecord> history = new ArrayList<>();
        int startEpoch = 0;
        long steps = 0;
        int bestEpoch = -1;
        double bestValLoss = Double.POSITIVE_INFINITY;
        TrainableParameters start = initial;
        Map<String, float[]> moments = null;
        Path stateJson = stateDir.resolve("state.json");
        if (Files.exists(stateJson)) {
            JsonNode s = JSON.readTree(stateJson.toFile());
            if (!fingerprint.equals(s.path("fingerprint").asText())) {
                throw new IllegalArgumentException(stateDir + " holds a run with other settings, model or data; "
                        + "delete it to start over or re-run with the same settings to resume");
            }
            Map<String, float[]> all = StateFiles.read(stateDir.resolve(s.path("current").asText()), fullOrder, sizes);
            Map<String, float[]> values = new LinkedHashMap<>();
            moments = new LinkedHashMap<>();
            for (String k : stateOrder) {
                values.put(k, all.get(k));
            }
            for (String k : momentOrder) {
                moments.put(k, all.get(k));
            }
            start = initial.withValues(values);
            startEpoch = s.path("epochsDone").asInt();
            steps = s.path("steps").asLong();
            bestEpoch = s.path("bestEpoch").asInt();
            bestValLoss = s.path("bestValLoss").asDouble();
            for (JsonNode e : s.path("history")) {
                history.add(JSON.treeToValue(e, EpochRecord.class));
            }
            log.printf("resuming after epoch %d (step %d) from %s%n", startEpoch, steps, stateDir);
        }

        Preprocessor preprocessor = new Preprocessor(loaded.preprocessing());
        ImageDecoder decoder = ImageDecoder.forRecipe(loaded.preprocessing());
        TrainingGraph.Loss loss = o.multiLabel() ? TrainingGraph.Loss.SIGMOID_BINARY_CROSS_ENTROPY
                : TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY;
        long stepsPerEpoch = (train.size() + o.batchSize() - 1) / o.batchSize();
        long totalSteps = stepsPerEpoch * o.epochs();
        long warmup = Math.round(o.warmupFraction() * totalSteps);
        boolean stoppedEarly = history.size() > 0 && stoppedEarly(history, bestEpoch, o);
        String device;
        TrainableParameters best;
        try (TrainingSession session = new TrainingSession(vit.spec(), start, loss, o.device(), o.threads(), moments, steps)) {
            device = session.device().toString();
            log.printf("fine-tuning %s on %s: %d train / %d val / %d test images, %d classes, %d epochs x %d steps%n",
                    loaded.source(), device, train.size(), val.size(), test.size(), labels.size(), o.epochs(),
                    stepsPerEpoch);
            int ran = 0;
            for (int epoch = startEpoch; epoch < o.epochs() && !stoppedEarly && ran < stopAfterEpochs; epoch++, ran++) {
                long t0 = System.nanoTime();
                int[] order = shuffled(train.size(), new Random(o.seed() * 1_000_003L + epoch));
                double lossSum = 0;
                long correct = 0;
                double lastLr = 0;
                for (int b = 0; b * o.batchSize() < order.length; b++) {
                    int from = b * o.batchSize();
                    int n = Math.min(o.batchSize(), order.length - from);
                    int[] rows = java.util.Arrays.copyOfRange(order, from, from + n);
                    float[] pixels = pixels(train, rows, preprocessor, decoder, o.augment(), o.cropScaleMin(),
                            o.seed() ^ (epoch * 0x9E3779B97F4A7C15L), from);
                    float[] targets = targets(train, rows, labels.size());
                    double f = o.schedule().factor(session.steps(), warmup, totalSteps);
                    lastLr = o.lrBackbone() * f;
                    TrainingSession.StepResult r = session.step(pixels, n, targets, new TrainingSession.Hyper(
                            (float) lastLr, (float) (o.lrHead() * f), (float) o.weightDecay(), 0.9f, 0.999f, 1e-8f,
                            (float) o.maxGradNorm()));
                    lossSum += r.loss() * n;
                    correct += Math.round(score(r.logits(), targets, n, labels.size(), o.multiLabel()) * n);
                }
                double[] v = evaluate(session, val, preprocessor, decoder, o, labels.size());
                double seconds = (System.nanoTime() - t0) / 1e9;
                EpochRecord rec = new EpochRecord(epoch + 1, lossSum / train.size(), correct / (double) train.size(),
                        v[0], v[1], seconds, lastLr);
                history.add(rec);
                log.printf(Locale.ROOT, "epoch %d/%d: train loss %.4f %s %.4f | val loss %.4f %s %.4f | %.1f s%n",
                        rec.epoch(), o.epochs(), rec.trainLoss(), scoreName(o), rec.trainScore(), rec.valLoss(),
                        scoreName(o), rec.valScore(), seconds);
                Map<String, float[]> current = new LinkedHashMap<>(session.parameterValues());
                if (rec.valLoss() < bestValLoss) {
                    bestValLoss = rec.valLoss();
                    bestEpoch = rec.epoch();
                    StateFiles.write(stateDir.resolve(bestFile(bestEpoch)), stateOrder, current);
                }
                current.putAll(session.momentValues());
                StateFiles.write(stateDir.resolve(currentFile(rec.epoch())), fullOrder, current);
                writeState(stateJson, fingerprint, rec.epoch(), session.steps(), bestEpoch, bestValLoss, history);
                deleteUnreferenced(stateDir, currentFile(rec.epoch()), bestFile(bestEpoch));
                stoppedEarly = stoppedEarly(history, bestEpoch, o);
                if (stoppedEarly) {
                    log.printf("stopping early: no better validation loss for %d epochs%n", o.patience());
                }
            }
            if (!stoppedEarly && history.size() < o.epochs()) {
                return new Result(null, history, bestEpoch, null, device, false, train.size(), val.size(), test.size());
            }
            best = initial.withValues(StateFiles.read(stateDir.resolve(bestFile(bestEpoch)), stateOrder, sizes));
        }

        Double testScore = null;
        if (test.size() > 0) {
            try (TrainingSession eval = new TrainingSession(vit.spec(), best, loss, o.device(), o.threads(), null, 0)) {
                testScore = evaluate(eval, test, preprocessor, decoder, o, labels.size())[1];
            }
            log.printf(Locale.ROOT, "test %s of epoch %d: %.4f%n", scoreName(o), bestEpoch, testScore);
        }
        VitParameters tuned = best.toVit(vit, best.head());
        Converter.Loaded out = new Converter.Loaded(tuned, loaded.preprocessing(), labels, sha256(best, stateOrder),
                "finetune:" + loaded.source());
        ModelDescriptor descriptor = Converter.write(out, output, o.overwrite());
        writeHead(output.resolve(HEAD_DIR), best.head(), labels, descriptor, o, bestEpoch);
        Result result = new Result(descriptor, history, bestEpoch, testScore, device, stoppedEarly, train.size(),
                val.size(), test.size());
        writeReport(output.resolve("finetune.json"), result, o, labels);
        log.printf("wrote %s (epoch %d of %d kept)%n", output, bestEpoch, history.size());
        return result;
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
        if (p.head() != null && labels.equals(loaded.labels()) && p.head().weight().dim(0) == in) {
            return p.head();
        }
        return new VitParameters.Linear(new Tensor(new float[in * labels.size()], new long[] {in, labels.size()}),
                new Tensor(new float[labels.size()], new long[] {labels.size()}));
    }

    private static List<String> labels(InputSet inputs, boolean multiLabel) {
        TreeSet<String> all = new TreeSet<>();
        for (InputItem item : inputs.items()) {
            if (!multiLabel && item.labels().size() != 1) {
                throw new IllegalArgumentException(item.path() + ": " + item.labels().size() + " labels; multi-class "
                        + "fine-tuning needs exactly one per image (pass --multilabel for several)");
            }
            all.addAll(item.labels());
        }
        if (all.size() < 2) {
            throw new IllegalArgumentException("the input names " + all.size() + " class(es); fine-tuning needs at least 2");
        }
        return List.copyOf(all);
    }

    /** train / val / test from the input's split column; without a val split, a seeded share of train. */
    private static Map<String, Rows> split(InputSet inputs, List<String> labels, FinetuneOptions o) {
        Map<String, Rows> out = new LinkedHashMap<>();
        for (String s : List.of("train", "val", "test")) {
            out.put(s, new Rows(new ArrayList<>(), new ArrayList<>()));
        }
        List<InputItem> trainItems = new ArrayList<>();
        for (InputItem item : inputs.items()) {
            String s = item.split() == null ? "train" : item.split().toLowerCase(Locale.ROOT);
            switch (s) {
                case "train" -> trainItems.add(item);
                case "val", "valid", "validation" -> add(out.get("val"), item, labels);
                case "test" -> add(out.get("test"), item, labels);
                default -> throw new IllegalArgumentException(item.path() + ": unknown split '" + item.split()
                        + "' (use train, val or test)");
            }
        }
        boolean carve = out.get("val").size() == 0;
        int[] order = shuffled(trainItems.size(), new Random(o.seed()));
        int holdout = carve ? (int) Math.max(1, Math.round(o.valFraction() * trainItems.size())) : 0;
        for (int i = 0; i < order.length; i++) {
            add(out.get(i < holdout ? "val" : "train"), trainItems.get(order[i]), labels);
        }
        return out;
    }

    private static void add(Rows rows, InputItem item, List<String> labels) {
        float[] t = new float[labels.size()];
        for (String l : item.labels()) {
            t[labels.indexOf(l)] = 1f;
        }
        rows.files().add(item.file());
        rows.targets().add(t);
    }

    private static int[] shuffled(int n, Random r) {
        int[] a = IntStream.range(0, n).toArray();
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        return a;
    }

    /** Decodes, augments (random resized crop, horizontal flip) and preprocesses rows in parallel. */
    private static float[] pixels(Rows data, int[] rows, Preprocessor pre, ImageDecoder decoder, boolean augment,
                                  double cropScaleMin, long seed, int offset) {
        int per = pre.floatsPerImage();
        float[] out = new float[rows.length * per];
        FloatBuffer buffer = FloatBuffer.wrap(out);
        IntStream.range(0, rows.length).parallel().forEach(i -> {
            Path file = data.files().get(rows[i]);
            BufferedImage img;
            try {
                img = decoder.decode(file);
            } catch (ImageDecodeException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage() + "; remove or replace the image", e);
            }
            if (augment) {
                img = Augment.apply(img, new Random(seed + 31L * (offset + i)), cropScaleMin);
            }
            pre.apply(img, buffer.duplicate(), i * per);
        });
        return out;
    }

    private static float[] targets(Rows data, int[] rows, int classes) {
        float[] t = new float[rows.length * classes];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(data.targets().get(rows[i]), 0, t, i * classes, classes);
        }
        return t;
    }

    /** {loss, score} of the session's current parameters on {@code data}, without augmentation. */
    private static double[] evaluate(TrainingSession s, Rows data, Preprocessor pre, ImageDecoder decoder,
                                     FinetuneOptions o, int classes) throws OrtException {
        double lossSum = 0;
        double scoreSum = 0;
        for (int from = 0; from < data.size(); from += o.batchSize()) {
            int n = Math.min(o.batchSize(), data.size() - from);
            int[] rows = IntStream.range(from, from + n).toArray();
            float[] targets = targets(data, rows, classes);
            float[] logits = s.logits(pixels(data, rows, pre, decoder, false, 1, 0, 0), n);
            lossSum += loss(logits, targets, n, classes, o.multiLabel()) * n;
            scoreSum += score(logits, targets, n, classes, o.multiLabel()) * n;
        }
        return new double[] {lossSum / data.size(), scoreSum / data.size()};
    }

    static double loss(float[] z, float[] t, int n, int classes, boolean multiLabel) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (multiLabel) {
                for (int c = 0; c < classes; c++) {
                    double x = z[i * classes + c];
                    sum += (Math.max(x, 0) - x * t[i * classes + c] + Math.log1p(Math.exp(-Math.abs(x)))) / classes;
                }
            } else {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, z[i * classes + c]);
                }
                double lse = 0;
                for (int c = 0; c < classes; c++) {
                    lse += Math.exp(z[i * classes + c] - max);
                }
                lse = max + Math.log(lse);
                for (int c = 0; c < classes; c++) {
                    sum -= t[i * classes + c] * (z[i * classes + c] - lse);
                }
            }
        }
        return sum / n;
    }

    /** Accuracy (multi-class) or micro-F1 at logit 0 (multi-label) of one batch. */
    static double score(float[] z, float[] t, int n, int classes, boolean multiLabel) {
        if (!multiLabel) {
            int correct = 0;
            for (int i = 0; i < n; i++) {
                int arg = 0;
                for (int c = 1; c < classes; c++) {
                    if (z[i * classes + c] > z[i * classes + arg]) {
                        arg = c;
                    }
                }
                if (t[i * classes + arg] > 0.5f) {
                    correct++;
                }
            }
            return correct / (double) n;
        }
        int tp = 0;
        int fp = 0;
        int fn = 0;
        for (int k = 0; k < n * classes; k++) {
            boolean predicted = z[k] > 0;
            boolean actual = t[k] > 0.5f;
            tp += predicted && actual ? 1 : 0;
            fp += predicted && !actual ? 1 : 0;
            fn += !predicted && actual ? 1 : 0;
        }
        return tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
    }

    private static String scoreName(FinetuneOptions o) {
        return o.multiLabel() ? "micro-F1" : "accuracy";
    }

    private static boolean stoppedEarly(List<EpochRecord> history, int bestEpoch, FinetuneOptions o) {
        return o.patience() > 0 && history.get(history.size() - 1).epoch() - bestEpoch >= o.patience();
    }

    // ---------------------------------------------------------------- files

    /**
     * The fine-tuned classifier as a linear head directory (head-trainer's format) bound to the written model, so
     * {@code vitfit export --model OUTPUT --head OUTPUT/head} makes a classifier file without retraining anything.
     */
    private static void writeHead(Path dir, VitParameters.Linear head, List<String> labels, ModelDescriptor model,
                                  FinetuneOptions o, int bestEpoch) throws IOException {
        int d = (int) head.weight().dim(0);
        int k = labels.size();
        float[][] weights = new float[k][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < k; j++) {
                weights[j][i] = head.weight().data()[i * k + j];
            }
        }
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("head", "linear");
        training.put("trainer", "vitfit-finetune");
        training.put("multilabel", o.multiLabel());
        training.put("epochs", o.epochs());
        training.put("keptEpoch", bestEpoch);
        training.put("lrHead", o.lrHead());
        training.put("lrBackbone", o.lrBackbone());
        Head h = LinearHeads.fromWeights(o.multiLabel() ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, weights,
                head.bias().data(), Normalization.none(), o.multiLabel() ? Thresholds.fixed(k) : null, model.onnxSha256(),
                "vitfit finetune, trained jointly with the backbone (epoch " + bestEpoch + ")", training);
        h.save(dir);
    }

    /** Parameters and AdamW moments after {@code epoch} (1-based). */
    static String currentFile(int epoch) {
        return "current-" + epoch + ".bin";
    }

    /** Parameters of the best epoch so far. */
    static String bestFile(int epoch) {
        return "best-" + epoch + ".bin";
    }

    /** Removes the weight files of earlier epochs, once the new state.json no longer names them. */
    private static void deleteUnreferenced(Path stateDir, String current, String best) throws IOException {
        try (var files = Files.list(stateDir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.endsWith(".bin") && !name.equals(current) && !name.equals(best)) {
                    Files.delete(f);
                }
            }
        }
    }

    private static void writeState(Path file, String fingerprint, int epochsDone, long steps, int bestEpoch,
                                   double bestValLoss, List<EpochRecord> history) throws IOException {
        ObjectNode s = JSON.createObjectNode();
        s.put("fingerprint", fingerprint);
        s.put("epochsDone", epochsDone);
        s.put("steps", steps);
        s.put("bestEpoch", bestEpoch);
        s.put("bestValLoss", bestValLoss);
        s.put("current", currentFile(epochsDone));
        s.put("best", bestFile(bestEpoch));
        ArrayNode h = s.putArray("history");
        history.forEach(e -> h.add(JSON.valueToTree(e)));
        StateFiles.writeString(file, JSON.writeValueAsString(s));
    }

    private static void writeReport(Path file, Result r, FinetuneOptions o, List<String> labels) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.set("options", JSON.valueToTree(o));
        root.put("device", r.device());
        root.put("trainRows", r.trainRows());
        root.put("valRows", r.valRows());
        root.put("testRows", r.testRows());
        root.set("labels", JSON.valueToTree(labels));
        root.put("bestEpoch", r.bestEpoch());
        root.put("stoppedEarly", r.stoppedEarly());
        if (r.testScore() != null) {
            root.put("testScore", r.testScore());
        }
        root.set("history", JSON.valueToTree(r.history()));
        Files.writeString(file, JSON.writeValueAsString(root));
    }

    private static String sha256(TrainableParameters p, List<String> order) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String name : order) {
                float[] v = p.value(name);
                ByteBuffer b = ByteBuffer.allocate(v.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                md.update(b.array());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
