package org.vitfit.classify;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.Finite;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * An exported classifier ready to use from any Java application: loads a {@code .vitfit} file (or a bare
 * {@code classifier.onnx}, whose metadata carries the same description), decodes and preprocesses images exactly as
 * training did, and runs the fused backbone + head graph.
 *
 * <pre>{@code
 * try (VitClassifier classifier = VitClassifier.load(Path.of("pets.vitfit"))) {
 *     Classification c = classifier.classify(Path.of("cat.jpg"));
 *     c.top(3).forEach(s -> System.out.println(s.label() + " " + s.score()));
 * }
 * }</pre>
 *
 * <p>Thread-safe: any number of threads may classify at once (the preprocessor is immutable and ONNX Runtime
 * sessions allow concurrent runs). {@link #close()} frees native memory; call it once no call is in flight.
 */
public final class VitClassifier implements AutoCloseable {

    /** Images per ONNX Runtime run in {@link #classifyBatch}, which bounds the memory of one run. */
    public static final int MAX_RUN_BATCH = 32;

    private static final byte[] ZIP_MAGIC = {'P', 'K', 3, 4};

    private final ClassifierDescriptor descriptor;
    private final Preprocessor preprocessor;
    private final ImageDecoder decoder;
    private final OnnxSessions.Opened opened;
    private final Set<String> outputs;
    private final String source;

    private VitClassifier(ClassifierDescriptor descriptor, OnnxSessions.Opened opened, String source)
            throws IOException {
        this.descriptor = descriptor;
        this.opened = opened;
        this.source = source;
        this.preprocessor = new Preprocessor(descriptor.preprocessing());
        this.decoder = ImageDecoder.forRecipe(descriptor.preprocessing());
        Set<String> wanted = new LinkedHashSet<>(List.of(ClassifierDescriptor.OUTPUT_LOGITS,
                ClassifierDescriptor.OUTPUT_PROBABILITIES));
        if (descriptor.multiLabel()) {
            wanted.add(ClassifierDescriptor.OUTPUT_LABELS_MASK);
        }
        this.outputs = Set.copyOf(wanted);
        checkGraph();
    }

    /** Loads {@code file} on the CPU, letting ONNX Runtime choose the thread count. */
    public static VitClassifier load(Path file) throws IOException {
        return load(file, Device.CPU, 0);
    }

    /**
     * Loads a {@code .vitfit} file or a bare {@code classifier.onnx}.
     *
     * @param device         {@link Device#CPU} or a CUDA device; CUDA falls back to the CPU with a one-line warning
     *                       when the CUDA build of ONNX Runtime or the GPU is missing
     * @param intraOpThreads threads ONNX Runtime may use inside one operator; 0 lets it choose
     */
    public static VitClassifier load(Path file, Device device, int intraOpThreads) throws IOException {
        Objects.requireNonNull(device, "device");
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no classifier file there; export one with 'vitfit export'");
        }
        if (startsWithZipMagic(file)) {
            return loadArchive(file, device, intraOpThreads);
        }
        return loadBareOnnx(file, device, intraOpThreads);
    }

    private static boolean startsWithZipMagic(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return Arrays.equals(in.readNBytes(ZIP_MAGIC.length), ZIP_MAGIC);
        }
    }

    private static VitClassifier loadArchive(Path file, Device device, int threads) throws IOException {
        return open(ClassifierArchive.readArchive(file), file, ClassifierDescriptor.ONNX_ENTRY, device, threads);
    }

    private static VitClassifier loadBareOnnx(Path file, Device device, int threads) throws IOException {
        ClassifierArchive.Contents contents;
        try {
            contents = ClassifierArchive.readBareOnnx(file);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("not a valid ONNX model")) {
                throw new IOException(file + ": neither a .vitfit file nor an ONNX model ("
                        + e.getMessage().substring(e.getMessage().indexOf("not a valid ONNX model")) + ")", e);
            }
            throw e;
        }
        return open(contents, file, null, device, threads);
    }

    /** Runs exactly the bytes that were checked, not the file again (it could change in between). */
    private static VitClassifier open(ClassifierArchive.Contents contents, Path file, String entry, Device device,
                                      int threads) throws IOException {
        OnnxSessions.Opened opened;
        try {
            opened = OnnxSessions.open(contents.onnx(), device, threads);
        } catch (OrtException e) {
            throw new IOException(file + (entry == null ? "" : "!" + entry) + ": ONNX Runtime cannot load it: "
                    + e.getMessage(), e);
        }
        return create(contents.descriptor(), opened, file.toString());
    }

    /** Takes ownership of {@code opened}: closes it when the graph does not match the description. */
    private static VitClassifier create(ClassifierDescriptor d, OnnxSessions.Opened opened, String source)
            throws IOException {
        try {
            return new VitClassifier(d, opened, source);
        } catch (IOException | RuntimeException e) {
            closeQuietly(opened, e);
            throw e;
        }
    }

    private static void closeQuietly(OnnxSessions.Opened opened, Exception primary) {
        try {
            opened.close();
        } catch (OrtException suppressed) {
            primary.addSuppressed(suppressed);
        }
    }

    /** The graph must take the described input and give one probability per label; checked once on load. */
    private void checkGraph() throws IOException {
        try {
            Map<String, NodeInfo> in = opened.session().getInputInfo();
            NodeInfo input = in.get(descriptor.input());
            if (input == null || in.size() != 1) {
                throw new IOException(source + ": the graph's inputs " + in.keySet() + " are not the single input '"
                        + descriptor.input() + "' its description names");
            }
            long[] inShape = ((TensorInfo) input.getInfo()).getShape();
            if (inShape.length != 4 || inShape[2] != descriptor.imageHeight() || inShape[3] != descriptor.imageWidth()) {
                throw new IOException(source + ": input shape " + Arrays.toString(inShape) + " does not match the "
                        + "described image size " + descriptor.imageHeight() + "x" + descriptor.imageWidth());
            }
            Map<String, NodeInfo> out = opened.session().getOutputInfo();
            for (String name : outputs) {
                if (!out.containsKey(name)) {
                    throw new IOException(source + ": the graph has no '" + name + "' output (it has " + out.keySet() + ")");
                }
            }
            long[] probShape = ((TensorInfo) out.get(ClassifierDescriptor.OUTPUT_PROBABILITIES).getInfo()).getShape();
            if (probShape.length != 2 || probShape[1] != descriptor.labels().size()) {
                throw new IOException(source + ": probabilities have shape " + Arrays.toString(probShape) + " but there are "
                        + descriptor.labels().size() + " labels");
            }
        } catch (OrtException e) {
            throw new IOException(source + ": cannot inspect the graph: " + e.getMessage(), e);
        }
    }

    public ClassifierDescriptor descriptor() {
        return descriptor;
    }

    public List<String> labels() {
        return descriptor.labels();
    }

    public boolean multiLabel() {
        return descriptor.multiLabel();
    }

    /** The device the session actually runs on (CPU when CUDA was asked for but is unavailable). */
    public Device device() {
        return opened.device();
    }

    /** Decodes the image file the way training did (PIL semantics, EXIF per the recipe) and classifies it. */
    public Classification classify(Path image) throws IOException {
        return classify(decoder.decode(image));
    }

    /** Reads the whole stream (not closed), decodes it and classifies it. */
    public Classification classify(InputStream encodedImage) throws IOException {
        return classify(decoder.decode(encodedImage, "input stream"));
    }

    /** Classifies an image already decoded; any {@link BufferedImage} type is accepted. */
    public Classification classify(BufferedImage image) throws IOException {
        return classifyBatch(List.of(image)).get(0);
    }

    /** Decodes and classifies image files; answers are in input order. */
    public List<Classification> classifyFiles(List<Path> images) throws IOException {
        List<BufferedImage> decoded = new ArrayList<>(images.size());
        for (Path p : images) {
            decoded.add(decoder.decode(p));
        }
        return classifyBatch(decoded);
    }

    /** Classifies decoded images in batched runs; answers are in input order. */
    public List<Classification> classifyBatch(List<BufferedImage> images) throws IOException {
        List<Classification> all = new ArrayList<>(images.size());
        for (int from = 0; from < images.size(); from += MAX_RUN_BATCH) {
            all.addAll(run(images.subList(from, Math.min(images.size(), from + MAX_RUN_BATCH))));
        }
        return all;
    }

    private List<Classification> run(List<BufferedImage> images) throws IOException {
        int n = images.size();
        int per = preprocessor.floatsPerImage();
        FloatBuffer batch = ByteBuffer.allocateDirect(n * per * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < n; i++) {
            preprocessor.apply(images.get(i), batch, i * per);
        }
        return classifyPixels(batch, n);
    }

    /**
     * Classifies {@code n} images already preprocessed with this classifier's recipe
     * ({@code descriptor().preprocessing()}, e.g. by parallel decoders): {@code [n, 3, H, W]} float32 from index 0
     * of {@code pixels}, which may be longer (a batch buffer reused for a last, shorter batch) and is not modified.
     * Answers are in input order.
     */
    public List<Classification> classifyPixels(FloatBuffer pixels, int n) throws IOException {
        long[] shape = {n, 3, descriptor.imageHeight(), descriptor.imageWidth()};
        int k = descriptor.labels().size();
        // A view: a direct buffer is read in place by ONNX Runtime, without a copy.
        FloatBuffer view = pixels.duplicate();
        view.position(0).limit(Math.toIntExact(n * 3L * descriptor.imageHeight() * descriptor.imageWidth()));
        try (OnnxTensor input = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), view, shape);
             OrtSession.Result result = opened.session().run(Map.of(descriptor.input(), input), outputs)) {
            float[][] probabilities = rows(result, ClassifierDescriptor.OUTPUT_PROBABILITIES, n, k);
            float[][] logits = rows(result, ClassifierDescriptor.OUTPUT_LOGITS, n, k);
            boolean[][] mask = descriptor.multiLabel()
                    ? (boolean[][]) result.get(ClassifierDescriptor.OUTPUT_LABELS_MASK).orElseThrow().getValue()
                    : null;
            List<Classification> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                requireFinite(probabilities[i], ClassifierDescriptor.OUTPUT_PROBABILITIES, i, n);
                requireFinite(logits[i], ClassifierDescriptor.OUTPUT_LOGITS, i, n);
                out.add(new Classification(descriptor.labels(), probabilities[i], logits[i], active(probabilities[i],
                        mask == null ? null : mask[i])));
            }
            return out;
        } catch (OrtException e) {
            throw new IOException(source + ": ONNX Runtime failed on a batch of " + n + ": " + e.getMessage(), e);
        }
    }

    /**
     * "Finite or refused": a NaN score would still name an arbitrary label as the best one, so no answer is given.
     * Damaged weights are caught on load; this catches a graph that overflows on some input.
     */
    private void requireFinite(float[] row, String output, int image, int batch) {
        int j = Finite.firstNonFinite(row);
        if (j >= 0) {
            throw new Finite.NonFiniteException(source + ": the classifier computed " + row[j] + " for '" + output
                    + "' of label '" + descriptor.labels().get(j) + "' (image " + (image + 1) + " of " + batch
                    + "), so it gives no answer for that image; its weights may be unusable - re-export it from a "
                    + "head whose training ended with a finite loss");
        }
    }

    private static float[][] rows(OrtSession.Result result, String name, int n, int k) {
        FloatBuffer fb = ((OnnxTensor) result.get(name).orElseThrow()).getFloatBuffer();
        float[][] rows = new float[n][k];
        for (float[] row : rows) {
            fb.get(row);
        }
        return rows;
    }

    private List<String> active(float[] probabilities, boolean[] mask) {
        List<String> labels = descriptor.labels();
        if (mask == null) {
            int best = 0;
            for (int j = 1; j < probabilities.length; j++) {
                if (probabilities[j] > probabilities[best]) {
                    best = j;
                }
            }
            return List.of(labels.get(best));
        }
        List<String> active = new ArrayList<>();
        for (int j = 0; j < mask.length; j++) {
            if (mask[j]) {
                active.add(labels.get(j));
            }
        }
        return List.copyOf(active);
    }

    @Override
    public void close() throws IOException {
        try {
            opened.close();
        } catch (OrtException e) {
            throw new IOException(source + ": cannot release the ONNX Runtime session: " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "VitClassifier[" + source + ", " + descriptor.task() + ", " + descriptor.labels().size() + " labels, "
                + opened.device() + "]";
    }
}
