package org.vitfit.cli;

import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.extract.DecodeStage;
import org.vitfit.extract.ImageFailure;
import org.vitfit.extract.ImagePreparer;
import org.vitfit.extract.InputItem;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.OptionBounds;
import org.vitfit.runtime.TopK;
import org.vitfit.runtime.VitModel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "predict",
        description = {
                "Classify images with an exported classifier or with a converted model's own head.",
                "",
                "--classifier takes the one-file classifier from 'vitfit export'; --model takes a directory from",
                "'vitfit convert' whose checkpoint has a classification head (e.g. ImageNet: top-5 of 1000 classes).",
                "",
                "Inputs: image files, folders (searched recursively, like 'vitfit extract'), .csv/.jsonl manifests,",
                "globs in quotes ('photos/**/*.jpg'; * stays within a folder, ** crosses folders) and --list files.",
                "Images are decoded in parallel and classified in batches. An image that cannot be read or decoded",
                "is reported as an error entry and the run goes on.",
                "",
                "Output, one entry per image in input order: text (default), JSON Lines (--json), or a file",
                "(--output FILE.csv|FILE.jsonl). Entries give the class index and label of each of the top-k",
                "classes (ImageNet repeats some names, so the index is what identifies a class):",
                "  {\"path\":\"a.jpg\",\"labels\":[\"tabby\"],\"top\":[{\"index\":281,\"label\":\"tabby\",\"score\":0.81},...]}",
                "  {\"path\":\"b.jpg\",\"error\":{\"reason\":\"truncated\",\"message\":\"...\"}}",
                "",
                "Examples:",
                "  vitfit predict --classifier target/pets.vitfit photo.jpg",
                "  vitfit predict --classifier target/pets.vitfit photos/ --output predictions.csv",
                "  vitfit predict --model target/vit-tiny 'samples/*.JPEG' --json",
                "  find photos -name '*.png' | vitfit predict --classifier pets.vitfit --list - --output p.jsonl",
        },
        footer = {
                "",
                "Exit status: 0 every image classified; 3 some images could not be (their entries say why, the",
                "others were classified); 1 an error that stopped the run (nothing written to --output).",
        },
        mixinStandardHelpOptions = true)
final class PredictCommand implements Callable<Integer> {

    /** Exit status when the run finished but some images could not be classified. */
    static final int SOME_FAILED = 3;
    private static final long PROGRESS_NANOS = 10_000_000_000L;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    /** Exactly one of the two: picocli reports a usage error for none or both. */
    static final class Source {
        @Option(names = "--model", required = true, paramLabel = "DIR",
                description = "Directory written by 'vitfit convert' whose checkpoint has a classification head.")
        Path model;

        @Option(names = "--classifier", required = true, paramLabel = "FILE",
                description = "Classifier file written by 'vitfit export' (.vitfit).")
        Path classifier;
    }

    @Parameters(arity = "0..*", paramLabel = "INPUT", description = "Image files, folders, manifests or quoted globs.")
    List<String> inputs = new ArrayList<>();

    @Option(names = "--list", paramLabel = "FILE", description = "A text file with one image path per line (relative "
            + "to the file's folder; '#' starts a comment); '-' reads the paths from standard input. Repeatable.")
    List<String> lists = new ArrayList<>();

    @Option(names = "--top-k", defaultValue = "5", paramLabel = "K", description = "Classes per image, at most all of them (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--json", description = "Print one JSON object per image (JSON Lines) instead of text.")
    boolean json;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Write the entries to FILE (.csv or .jsonl) "
            + "instead of the console; written in full, then moved into place.")
    Path output;

    @Option(names = "--format", paramLabel = "csv|jsonl", description = "Format of --output when its name does not say.")
    String format;

    @Option(names = "--overwrite", description = "Replace --output if it is a predictions file vitfit wrote.")
    boolean overwrite;

    @Option(names = "--batch-size", paramLabel = "N", description = "Images per inference call (default: 8 on CPU, 32 on CUDA).")
    Integer batchSize;

    @Option(names = "--threads", paramLabel = "N", description = "Decode threads (default: the number of cores).")
    Integer threads;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda[:N]", description = "Where to run (default ${DEFAULT-VALUE}).")
    String device;

    /** One image on its way to the output: decoded into batch slot {@code slot}, or failed. */
    private record Pending(InputItem item, ImageFailure failure, int slot) {
    }

    /** The runtime's answer for one image of a batch, or why it refused to give one (a non-finite output). */
    private record Scored(Classification classification, String nonFinite) {
    }

    private record Summary(long classified, long failed) {
    }

    @Override
    public Integer call() throws Exception {
        Device dev = Device.parse(device);
        // The bounds of extract, whose decode stage predict runs.
        int batch = OptionBounds.batchSize(batchSize != null ? batchSize : dev.kind() == Device.Kind.CUDA ? 32 : 8);
        int decoders = OptionBounds.decodeThreads(threads != null ? threads
                : Math.min(Runtime.getRuntime().availableProcessors(), OptionBounds.MAX_THREADS));
        // No upper bound: a k past the number of classes lists every class, as the help says.
        OptionBounds.requireAtLeast("--top-k", topK, 1, "classes listed per image");
        if (output == null && (format != null || overwrite)) {
            throw new IllegalArgumentException((format != null ? "--format" : "--overwrite") + " applies to --output, "
                    + "which is not given");
        }
        if (output != null && json) {
            throw new IllegalArgumentException("--json prints to the console; with --output the file's format is "
                    + "used (.jsonl for JSON Lines)");
        }
        PredictionWriter.Format fileFormat = output != null ? PredictionWriter.formatOf(output, format) : null;
        PredictInputs.Listing listing = PredictInputs.collect(inputs, lists);
        List<SafeOutput.Input> sources = new ArrayList<>(listing.sources());
        sources.add(source.classifier != null ? SafeOutput.Input.of("--classifier", source.classifier)
                : SafeOutput.Input.of("--model", source.model));
        if (output != null) {
            // Refused now, before the model is loaded and the images are read.
            SafeOutput.checkFile(output, OutputKind.PREDICTIONS, PredictionWriter::isOurs, overwrite, sources);
        }
        if (listing.duplicates() > 0) {
            System.err.println("note: " + listing.duplicates() + " path(s) named more than once; each file is "
                    + "classified once");
        }

        try (Scorer scorer = source.classifier != null ? Scorer.classifier(source.classifier, dev)
                : Scorer.model(source.model, dev)) {
            Summary s;
            if (output == null) {
                PredictionWriter w = json ? new PredictionWriter.Jsonl(System.out)
                        : new PredictionWriter.Text(System.out, scorer.multiLabel());
                s = run(listing.items(), scorer, w, batch, decoders, false);
                System.out.flush();
            } else {
                int columns = Math.min(topK, scorer.labels().size());
                s = SafeOutput.writeFile(output, OutputKind.PREDICTIONS, PredictionWriter::isOurs, overwrite, sources,
                        tmp -> {
                            try (Writer out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                                return run(listing.items(), scorer, PredictionWriter.create(fileFormat, out, columns),
                                        batch, decoders, true);
                            }
                        });
                System.out.println("wrote " + (s.classified() + s.failed()) + " entries to " + output + " ("
                        + s.classified() + " classified, " + s.failed() + " failed)");
            }
            if (s.failed() > 0) {
                System.err.println(s.failed() + " of " + (s.classified() + s.failed()) + " images could not be "
                        + "classified (their entries say why); the others were");
                return SOME_FAILED;
            }
            return 0;
        }
    }

    /**
     * The batch loop: the extractor's decode stage prepares images on {@code decoders} threads into pooled pixel
     * buffers; here they are taken back in input order, copied into one direct batch buffer and classified
     * {@code batch} at a time; entries are written in input order, failures in their place.
     */
    private Summary run(List<InputItem> items, Scorer scorer, PredictionWriter out, int batch, int decoders,
                        boolean progress) throws IOException {
        ImagePreparer preparer = new ImagePreparer(scorer.recipe(), ImageDecoder.DEFAULT_MAX_PIXELS);
        int floats = preparer.floatsPerImage();
        if (floats != scorer.floatsPerImage()) {
            throw new IOException("the " + scorer.what() + " takes " + scorer.floatsPerImage() / 3 + " pixels per "
                    + "channel but its preprocessing recipe makes " + floats / 3 + "; the file is inconsistent: "
                    + scorer.advice());
        }
        long bytes = (long) batch * floats * Float.BYTES;
        if (bytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--batch-size " + batch + " needs a " + (bytes >> 20) + " MiB input "
                    + "buffer, over the 2 GiB one buffer can hold; use a smaller --batch-size");
        }
        FloatBuffer pixels = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
        long classified = 0;
        long failed = 0;
        long start = System.nanoTime();
        long lastProgress = start;
        List<Pending> pending = new ArrayList<>();
        int inBatch = 0;
        try (DecodeStage<InputItem, ImageFailure> stage = DecodeStage.start(items, decoders, decoders + batch + 2,
                floats, (item, buffer) -> prepare(preparer, item, buffer))) {
            for (int i = 0; i < items.size(); i++) {
                DecodeStage.Prepared<InputItem, ImageFailure> p = stage.take(i);
                if (p.failure() != null) {
                    throw new IOException("unexpected failure preparing " + p.item().file() + ": " + p.failure(),
                            p.failure());
                }
                if (p.pixels() != null) {
                    pixels.put(inBatch * floats, p.pixels(), 0, floats);
                    stage.release(p.pixels());
                    pending.add(new Pending(p.item(), null, inBatch++));
                } else {
                    pending.add(new Pending(p.item(), p.value(), -1));
                }
                // Failures do not wait for a full batch forever: they are written once a few batches' worth pile up.
                if (inBatch == batch || pending.size() >= 4 * batch || i == items.size() - 1) {
                    long[] counts = flush(pending, scorer, pixels, inBatch, floats, out);
                    classified += counts[0];
                    failed += counts[1];
                    pending.clear();
                    inBatch = 0;
                    if (progress && System.nanoTime() - lastProgress > PROGRESS_NANOS) {
                        lastProgress = System.nanoTime();
                        System.err.printf(Locale.ROOT, "predict: %d of %d images, %.1f img/s%n", i + 1, items.size(),
                                (i + 1) / ((lastProgress - start) / 1e9));
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted after " + (classified + failed) + " images");
        }
        return new Summary(classified, failed);
    }

    /** Classifies the batch and writes the pending entries in order; returns {classified, failed}. */
    private long[] flush(List<Pending> pending, Scorer scorer, FloatBuffer pixels, int n, int floats,
                         PredictionWriter out) throws IOException {
        List<Scored> results = n == 0 ? List.of() : classifyBatch(scorer, pixels, n, floats);
        long classified = 0;
        long failed = 0;
        for (Pending e : pending) {
            if (e.failure() != null) {
                out.failed(e.item().path(), e.failure().reason(), e.failure().getMessage());
                failed++;
                continue;
            }
            Scored s = results.get(e.slot());
            if (s.nonFinite() != null) {
                out.failed(e.item().path(), "non_finite_output", e.item().path() + ": " + s.nonFinite());
                failed++;
            } else {
                out.classified(e.item().path(), s.classification(), topK);
                classified++;
            }
        }
        return new long[] {classified, failed};
    }

    /**
     * One run for the batch. The runtime refuses a whole batch when one image's output is not finite ("finite or
     * refused"); then each image is run alone, so the others still get their answer and only that one an error.
     */
    private static List<Scored> classifyBatch(Scorer scorer, FloatBuffer pixels, int n, int floats)
            throws IOException {
        try {
            return scorer.classify(pixels, n).stream().map(c -> new Scored(c, null)).toList();
        } catch (Finite.NonFiniteException batchRefused) {
            List<Scored> one = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                FloatBuffer image = pixels.duplicate();
                image.position(i * floats).limit((i + 1) * floats);
                try {
                    one.add(new Scored(scorer.classify(image.slice(), 1).get(0), null));
                } catch (Finite.NonFiniteException refused) {
                    one.add(new Scored(null, refused.getMessage()));
                }
            }
            return one;
        }
    }

    /** On a decode thread: read and decode one image into {@code pixels}, or say why it cannot be. */
    private static DecodeStage.Outcome<ImageFailure> prepare(ImagePreparer preparer, InputItem item,
                                                             FloatBuffer pixels) {
        try {
            preparer.prepareOrFail(ImagePreparer.read(item), item.path(), pixels, 0);
            return DecodeStage.Outcome.withPixels(null);
        } catch (ImageFailure f) {
            return DecodeStage.Outcome.withoutPixels(f);
        }
    }

    /** What scores the images: an exported classifier, or a converted model's own classification head. */
    private interface Scorer extends AutoCloseable {
        PreprocessRecipe recipe();

        int floatsPerImage();

        List<String> labels();

        /** Sigmoid scores with per-label thresholds (any number of labels per image) rather than a softmax. */
        boolean multiLabel();

        /** Classifies {@code n} preprocessed images from the start of {@code pixels}. */
        List<Classification> classify(FloatBuffer pixels, int n) throws IOException;

        /** "classifier pets.vitfit" or "model vit-tiny", for messages. */
        String what();

        /** What to do when the file is inconsistent. */
        String advice();

        @Override
        void close() throws IOException;

        static Scorer classifier(Path file, Device device) throws IOException {
            VitClassifier c = VitClassifier.load(file, device, 0);
            return new Scorer() {
                public PreprocessRecipe recipe() {
                    return c.descriptor().preprocessing();
                }

                public int floatsPerImage() {
                    return 3 * c.descriptor().imageHeight() * c.descriptor().imageWidth();
                }

                public List<String> labels() {
                    return c.labels();
                }

                public boolean multiLabel() {
                    return c.multiLabel();
                }

                public List<Classification> classify(FloatBuffer pixels, int n) throws IOException {
                    return c.classifyPixels(pixels, n);
                }

                public String what() {
                    return "classifier " + file;
                }

                public String advice() {
                    return "export it again";
                }

                public void close() throws IOException {
                    c.close();
                }
            };
        }

        static Scorer model(Path dir, Device device) throws IOException {
            VitModel vit = VitModel.open(dir, device, 0);
            ModelDescriptor d = vit.descriptor();
            if (!d.outputs().contains("logits") || d.labels() == null) {
                vit.close();
                throw new IllegalArgumentException(dir + " has no classification head with class names; "
                        + "train a head (vitfit train) and export a classifier (vitfit export) instead");
            }
            List<String> labels = List.copyOf(d.labels());
            int floats = 3 * d.imageHeight() * d.imageWidth();
            return new Scorer() {
                public PreprocessRecipe recipe() {
                    return d.preprocessing();
                }

                public int floatsPerImage() {
                    return floats;
                }

                public List<String> labels() {
                    return labels;
                }

                public boolean multiLabel() {
                    return d.multiLabel();
                }

                public List<Classification> classify(FloatBuffer pixels, int n) throws IOException {
                    FloatBuffer view = pixels.duplicate();
                    view.position(0).limit(n * floats);
                    float[][] logits = vit.runPixels(view.slice(), n, Set.of("logits")).get("logits");
                    List<Classification> out = new ArrayList<>(n);
                    for (float[] row : logits) {
                        // A model fine-tuned with --multilabel: one sigmoid per label, active above 0.5.
                        double[] p = d.multiLabel() ? TopK.sigmoid(row) : TopK.softmax(row);
                        float[] probabilities = new float[p.length];
                        int best = 0;
                        List<String> active = new ArrayList<>();
                        for (int j = 0; j < p.length; j++) {
                            probabilities[j] = (float) p[j];
                            best = p[j] > p[best] ? j : best;
                            if (p[j] > 0.5) {
                                active.add(labels.get(j));
                            }
                        }
                        out.add(new Classification(labels, probabilities, row,
                                d.multiLabel() ? active : List.of(labels.get(best))));
                    }
                    return out;
                }

                public String what() {
                    return "model " + dir;
                }

                public String advice() {
                    return "convert the checkpoint again";
                }

                public void close() throws IOException {
                    vit.close();
                }
            };
        }
    }
}
