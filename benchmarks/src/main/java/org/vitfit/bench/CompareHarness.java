package org.vitfit.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitModel;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The vitfit side of {@code benchmarks/compare/run.sh}: images per second of one converted model, measured the way
 * the PyTorch side measures ({@code torch_vit.py}), one JSON line per measurement on stdout.
 *
 * <ul>
 *   <li>{@code infer}: inference only, {@code reps} timed passes of {@code images} images in batches of {@code batch}
 *       after one warm-up pass. One session, one direct input buffer and one pinned output tensor reused for every
 *       full batch (no per-batch allocation).</li>
 *   <li>{@code e2e}: JPEG files on disk to embeddings, through the real extractor ({@code vitfit extract}: listing,
 *       hashing, parallel decode + preprocess, batched inference, cache writes with fsync'd commits) into a fresh
 *       cache each repetition, after one warm-up run.</li>
 *   <li>{@code startup}: seconds to open a session, without and with the optimised-model cache.</li>
 * </ul>
 *
 * Usage: {@code CompareHarness MODE MODEL_DIR IMAGES_DIR(or -) BATCH THREADS REPS IMAGES [cpu|cuda]}
 */
public final class CompareHarness {

    private CompareHarness() {
    }

    /**
     * One measurement: the median and every repetition, images per second (seconds for start-up); {@code gflop} is the
     * model's work per image (see {@link #gflopPerImage}) and {@code quantization} how an int8 model was made.
     */
    public record Result(String mode, String model, String precision, String device, int batch, int threads,
                         int images, double median, double[] reps, double gflop, String quantization) {
        public String json() {
            StringBuilder r = new StringBuilder();
            for (double v : reps) {
                r.append(r.length() == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v));
            }
            return String.format(Locale.ROOT, "{\"impl\":\"vitfit\",\"mode\":\"%s\",\"model\":\"%s\",\"precision\":\"%s\","
                            + "\"device\":\"%s\",\"batch\":%d,\"threads\":%d,\"images\":%d,\"median\":%.4f,\"reps\":[%s],"
                            + "\"gflop\":%.4f%s}",
                    mode, model, precision, device, batch, threads, images, median, r, gflop,
                    quantization == null ? "" : ",\"quantization\":\"" + quantization + "\"");
        }
    }

    /**
     * Floating-point operations per image of the ViT forward pass up to the embedding, in GFLOP (a multiply-add is two):
     * patch projection, and per block the qkv, projection and MLP products and the two attention products. Norms,
     * softmax and activations are left out (under 1%), as is the classification head (not part of an embedding).
     */
    public static double gflopPerImage(ModelDescriptor d) {
        double t = d.numTokens();
        double dim = d.hiddenSize();
        double patches = (double) (d.imageHeight() / d.patchSize()) * (d.imageWidth() / d.patchSize());
        double patch = 2 * patches * 3 * d.patchSize() * d.patchSize() * dim;
        double linears = 2 * t * dim * (3 * dim + dim + 2 * d.mlpDim());
        double attention = 2 * 2 * t * t * dim;
        return (patch + d.numLayers() * (linears + attention)) / 1e9;
    }

    private static String quantization(ModelDescriptor d) {
        return d.quantization() == null ? null : d.quantization().mode();
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[0].equals("embed")) {
            embed(Path.of(args[1]), Path.of(args[2]), System.out);
            return;
        }
        if (args.length < 7) {
            System.err.println("usage: CompareHarness infer|e2e|startup MODEL_DIR IMAGES_DIR|- BATCH THREADS REPS IMAGES [cpu|cuda]\n"
                    + "       CompareHarness embed MODEL_DIR IMAGES_DIR > OUT.f32");
            System.exit(2);
        }
        String mode = args[0];
        Path model = Path.of(args[1]);
        Path images = args[2].equals("-") ? null : Path.of(args[2]);
        int batch = Integer.parseInt(args[3]);
        int threads = Integer.parseInt(args[4]);
        int reps = Integer.parseInt(args[5]);
        int count = Integer.parseInt(args[6]);
        Device device = Device.parse(args.length > 7 ? args[7] : "cpu");
        Result r = switch (mode) {
            case "infer" -> inference(model, device, batch, threads, reps, count);
            case "e2e" -> endToEnd(model, images, device, batch, threads, reps);
            case "startup" -> startup(model, threads, reps);
            default -> throw new IllegalArgumentException("unknown mode " + mode + ": use infer, e2e or startup");
        };
        System.out.println(r.json());
    }

    public static Result inference(Path modelDir, Device device, int batch, int threads, int reps, int images)
            throws IOException, OrtException {
        ModelDescriptor d = ModelDescriptor.read(modelDir);
        int perImage = 3 * d.imageHeight() * d.imageWidth();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        FloatBuffer in = ByteBuffer.allocateDirect(batch * perImage * Float.BYTES).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        Random random = new Random(1);
        for (int i = 0; i < in.capacity(); i++) {
            in.put(i, (float) random.nextGaussian());
        }
        FloatBuffer out = ByteBuffer.allocateDirect(batch * d.embeddingDim() * Float.BYTES)
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        long[] shape = {batch, 3, d.imageHeight(), d.imageWidth()};
        String actual;
        double[] rates = new double[reps];
        try (OnnxSessions.Opened s = OnnxSessions.open(modelDir.resolve(ModelDescriptor.ONNX_FILE_NAME), device,
                OnnxSessions.Tuning.defaults(threads));
             OnnxTensor input = OnnxTensor.createTensor(env, in, shape);
             OnnxTensor output = OnnxTensor.createTensor(env, out, new long[] {batch, d.embeddingDim()})) {
            actual = s.device().toString();
            int batches = Math.max(1, images / batch);
            Map<String, OnnxTensor> inputs = Map.of("pixel_values", input);
            Map<String, OnnxTensor> pinned = Map.of("embedding", output);
            for (int rep = -1; rep < reps; rep++) {
                long t0 = System.nanoTime();
                for (int b = 0; b < batches; b++) {
                    s.session().run(inputs, pinned).close();
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (rep >= 0) {
                    rates[rep] = batches * batch / seconds;
                }
            }
        }
        return new Result("infer", d.architecture(), d.precision(), actual, batch, threads,
                Math.max(1, images / batch) * batch, median(rates), rates, gflopPerImage(d), quantization(d));
    }

    public static Result endToEnd(Path modelDir, Path images, Device device, int batch, int threads, int reps)
            throws IOException {
        ModelDescriptor d = ModelDescriptor.read(modelDir);
        Path work = Files.createTempDirectory("vitfit-compare-");
        double[] rates = new double[reps];
        long embedded = 0;
        String actual = device.toString();
        try {
            for (int rep = -1; rep < reps; rep++) {
                Path cache = work.resolve("cache-" + (rep + 1));
                ExtractOptions o = ExtractOptions.builder(modelDir, images, cache).batchSize(batch).threads(threads)
                        .ortThreads(threads).device(device).build();
                long t0 = System.nanoTime();
                ExtractSummary s = Extractor.run(o, ExtractListener.NONE);
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (s.failed() > 0 || s.embedded() == 0) {
                    throw new IOException(images + ": " + s.failed() + " images failed, " + s.embedded() + " embedded");
                }
                embedded = s.embedded();
                // The device the extractor really ran on ("cpu (ONNX Runtime ...)" after a CUDA fallback).
                actual = s.device().split(" ", 2)[0];
                if (rep >= 0) {
                    rates[rep] = s.embedded() / seconds;
                }
                deleteTree(cache);
            }
        } finally {
            deleteTree(work);
        }
        return new Result("e2e", d.architecture(), d.precision(), actual, batch, threads, (int) embedded,
                median(rates), rates, gflopPerImage(d), quantization(d));
    }

    /**
     * vitfit's embeddings of the images under {@code images} (sorted paths, decoded and preprocessed by the runtime's
     * decoder and preprocessor, as the extractor does), as little-endian float32 rows: what every peer is checked
     * against before it is timed ({@code compare/parity.py}).
     */
    public static void embed(Path modelDir, Path images, java.io.OutputStream out) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.walk(images)) {
            files = s.filter(f -> f.toString().toLowerCase(Locale.ROOT).matches(".*\\.(jpg|jpeg|png)")).sorted().toList();
        }
        try (VitModel m = VitModel.open(modelDir, Device.CPU, 0)) {
            ImageDecoder decoder = ImageDecoder.forRecipe(m.descriptor().preprocessing());
            for (int from = 0; from < files.size(); from += 8) {
                List<BufferedImage> batch = new ArrayList<>();
                for (Path f : files.subList(from, Math.min(files.size(), from + 8))) {
                    batch.add(decoder.decode(f));
                }
                float[][] e = m.run(batch, Set.of("embedding")).get("embedding");
                ByteBuffer b = ByteBuffer.allocate(e.length * e[0].length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                for (float[] row : e) {
                    for (float v : row) {
                        b.putFloat(v);
                    }
                }
                out.write(b.array());
            }
        }
        out.flush();
    }

    /**
     * Session start-up in seconds: {@code reps[0..n)} without the optimised-model cache, then with it (the first
     * cached open writes the entry and is not counted). The median is of the cached opens.
     */
    public static Result startup(Path modelDir, int threads, int reps) throws OrtException, IOException {
        Path onnx = modelDir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        ModelDescriptor d = ModelDescriptor.read(modelDir);
        OnnxSessions.Tuning plain = OnnxSessions.Tuning.defaults(threads).withOptimizedModelCache(false);
        OnnxSessions.Tuning cached = plain.withOptimizedModelCache(true);
        double[] without = new double[reps];
        double[] with = new double[reps];
        OnnxSessions.open(onnx, Device.CPU, plain).close(); // page cache warm for both
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            OnnxSessions.open(onnx, Device.CPU, plain).close();
            without[i] = (System.nanoTime() - t0) / 1e9;
        }
        OnnxSessions.open(onnx, Device.CPU, cached).close();
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            OnnxSessions.open(onnx, Device.CPU, cached).close();
            with[i] = (System.nanoTime() - t0) / 1e9;
        }
        double[] all = Arrays.copyOf(without, reps * 2);
        System.arraycopy(with, 0, all, reps, reps);
        System.err.printf(Locale.ROOT, "start-up %s %s: %.3f s without the cache, %.3f s with it (medians of %d)%n",
                d.architecture(), d.precision(), median(without), median(with), reps);
        return new Result("startup", d.architecture(), d.precision(), "cpu", 0, threads, 0, median(with), all,
                gflopPerImage(d), quantization(d));
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(walk.sorted(Comparator.reverseOrder()).toList());
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }
}
