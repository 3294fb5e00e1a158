import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoopTranslator;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.ModelDescriptor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * The DJL side of benchmarks/compare/run.sh: DJL 0.36 with its PyTorch 2.7.1 CPU engine (from Maven Central, offline)
 * running a TorchScript trace of the same ViT with the same weights (torch_vit.py trace), timed the way CompareHarness
 * times vitfit; one JSON line per measurement.
 *
 * <pre>
 *   java -cp DJL_JARS:VITFIT_JARS DjlHarness.java infer MODEL.pt VITFIT_MODEL_DIR BATCH THREADS REPS IMAGES PRECISION
 *   java -cp ...                  DjlHarness.java e2e   MODEL.pt VITFIT_MODEL_DIR BATCH THREADS REPS IMAGES_DIR PRECISION
 *   java -cp ...                  DjlHarness.java embed MODEL.pt VITFIT_MODEL_DIR IMAGES_DIR OUT.f32
 *   java -cp ...                  DjlHarness.java peak  SIZE THREADS REPS
 * </pre>
 *
 * The vitfit model directory only supplies the preprocessing recipe and the input size. End to end, images are decoded
 * and preprocessed by vitfit's own ImageDecoder and Preprocessor (the same pixels vitfit feeds its model, so the
 * embeddings can be compared) on THREADS threads while the main thread runs the model, as a PyTorch DataLoader with
 * worker processes does; there is no cache, hashing or fsync on this side.
 */
public class DjlHarness {

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        if (mode.equals("peak")) {
            peak(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            return;
        }
        Path pt = Path.of(args[1]);
        ModelDescriptor d = ModelDescriptor.read(Path.of(args[2]));
        int threads = mode.equals("embed") ? 1 : Integer.parseInt(args[4]);
        // Nothing is downloaded: the engine's natives come from pytorch-native-cpu on the class path.
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        Criteria<NDList, NDList> criteria = Criteria.builder()
                .setTypes(NDList.class, NDList.class)
                .optModelPath(pt)
                .optEngine("PyTorch")
                .optTranslator(new NoopTranslator())
                .build();
        try (ZooModel<NDList, NDList> model = criteria.loadModel();
             Predictor<NDList, NDList> predictor = model.newPredictor();
             NDManager manager = NDManager.newBaseManager()) {
            switch (mode) {
                case "infer" -> infer(predictor, manager, d, Integer.parseInt(args[3]), threads,
                        Integer.parseInt(args[5]), Integer.parseInt(args[6]), args[7]);
                case "e2e" -> endToEnd(predictor, manager, d, Integer.parseInt(args[3]), threads,
                        Integer.parseInt(args[5]), Path.of(args[6]), args[7]);
                case "embed" -> embed(predictor, manager, d, Path.of(args[3]), Path.of(args[4]));
                default -> throw new IllegalArgumentException("unknown mode " + mode);
            }
        }
    }

    /**
     * PyTorch 2.7.1's own float32 GEMM peak through DJL (its MKL / oneDNN build), a SIZE x SIZE product: on some CPUs it
     * outruns ONNX Runtime's MatMul, and a fraction of peak must be of the fastest product the machine runs. REPS timed
     * runs of at least a second each after a warm-up; one JSON line shaped like GemmPeak's.
     */
    static void peak(int size, int threads, int reps) {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        double flop = 2.0 * size * size * size;
        double[] rates = new double[reps];
        String version;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            version = m.getEngine().getVersion();
            NDArray a = m.randomUniform(-1f, 1f, new Shape(size, size));
            NDArray b = m.randomUniform(-1f, 1f, new Shape(size, size));
            a.matMul(b).close();
            for (int rep = 0; rep < reps; rep++) {
                long t0 = System.nanoTime();
                int n = 0;
                do {
                    a.matMul(b).close();
                    n++;
                } while (System.nanoTime() - t0 < 1_000_000_000L);
                rates[rep] = n * flop / ((System.nanoTime() - t0) / 1e9) / 1e9;
            }
        }
        double[] sorted = rates.clone();
        Arrays.sort(sorted);
        double median = reps % 2 == 1 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
        StringBuilder r = new StringBuilder();
        for (double v : rates) {
            r.append(r.length() == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.1f", v));
        }
        System.out.printf(Locale.ROOT, "{\"impl\":\"peak\",\"precision\":\"fp32\",\"kernel\":\"PyTorch %s matmul (DJL)\","
                + "\"threads\":%d,\"size\":%d,\"gflops\":%.1f,\"reps\":[%s]}%n", version, threads, size, median, r);
    }

    static void infer(Predictor<NDList, NDList> p, NDManager m, ModelDescriptor d, int batch, int threads, int reps,
                      int images, String precision) throws Exception {
        float[] x = new float[batch * 3 * d.imageHeight() * d.imageWidth()];
        Random random = new Random(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        int batches = Math.max(1, images / batch);
        double[] rates = new double[reps];
        for (int rep = -1; rep < reps; rep++) {
            long t0 = System.nanoTime();
            for (int b = 0; b < batches; b++) {
                run(p, m, FloatBuffer.wrap(x), batch, d);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (rep >= 0) {
                rates[rep] = batches * batch / seconds;
            }
        }
        emit("infer", d, precision, batch, threads, batches * batch, rates);
    }

    static void endToEnd(Predictor<NDList, NDList> p, NDManager m, ModelDescriptor d, int batch, int threads, int reps,
                         Path dir, String precision) throws Exception {
        List<Path> files = list(dir);
        double[] rates = new double[reps];
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int rep = -1; rep < reps; rep++) {
                long t0 = System.nanoTime();
                int done = embedAll(p, m, d, files, batch, pool, null);
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (rep >= 0) {
                    rates[rep] = done / seconds;
                }
            }
        } finally {
            pool.shutdownNow();
        }
        emit("e2e", d, precision, batch, threads, files.size(), rates);
    }

    static void embed(Predictor<NDList, NDList> p, NDManager m, ModelDescriptor d, Path dir, Path out) throws Exception {
        List<Path> files = list(dir);
        ByteBuffer all = ByteBuffer.allocate(files.size() * d.embeddingDim() * 4).order(ByteOrder.LITTLE_ENDIAN);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            embedAll(p, m, d, files, 8, pool, all);
        } finally {
            pool.shutdownNow();
        }
        Files.write(out, all.array());
    }

    /** Decodes on {@code pool} (a few batches ahead) while this thread runs the model; returns images embedded. */
    static int embedAll(Predictor<NDList, NDList> p, NDManager m, ModelDescriptor d, List<Path> files, int batch,
                        ExecutorService pool, ByteBuffer sink) throws Exception {
        ImageDecoder decoder = ImageDecoder.forRecipe(d.preprocessing());
        Preprocessor pre = new Preprocessor(d.preprocessing());
        int per = pre.floatsPerImage();
        List<Future<float[]>> pending = new ArrayList<>();
        int next = 0;
        int done = 0;
        int ahead = 4;
        while (done < files.size()) {
            while (pending.size() < ahead && next < files.size()) {
                int from = next;
                int to = Math.min(files.size(), from + batch);
                next = to;
                pending.add(pool.submit(() -> {
                    float[] x = new float[(to - from) * per];
                    FloatBuffer fb = FloatBuffer.wrap(x);
                    for (int i = from; i < to; i++) {
                        pre.apply(decoder.decode(files.get(i)), fb, (i - from) * per);
                    }
                    return x;
                }));
            }
            float[] x = pending.remove(0).get();
            int n = x.length / per;
            float[] e = run(p, m, FloatBuffer.wrap(x), n, d);
            if (sink != null) {
                sink.asFloatBuffer().position(done * d.embeddingDim()).put(e);
            }
            done += n;
        }
        return done;
    }

    /** One batch through the model; returns the embeddings (copied out, so the computation really happened). */
    static float[] run(Predictor<NDList, NDList> p, NDManager m, FloatBuffer x, int n, ModelDescriptor d)
            throws Exception {
        try (NDManager batch = m.newSubManager()) {
            NDArray input = batch.create(x, new Shape(n, 3, d.imageHeight(), d.imageWidth()));
            NDList out = p.predict(new NDList(input));
            return out.singletonOrThrow().toFloatArray();
        }
    }

    static List<Path> list(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(f -> f.toString().toLowerCase(Locale.ROOT).matches(".*\\.(jpg|jpeg|png)")).sorted().toList();
        }
    }

    static void emit(String mode, ModelDescriptor d, String precision, int batch, int threads, int images,
                     double[] rates) {
        double[] sorted = rates.clone();
        Arrays.sort(sorted);
        int k = sorted.length;
        double median = k % 2 == 1 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
        StringBuilder r = new StringBuilder();
        for (double v : rates) {
            r.append(r.length() == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v));
        }
        System.out.printf(Locale.ROOT, "{\"impl\":\"djl-pytorch\",\"mode\":\"%s\",\"model\":\"%s\",\"precision\":\"%s\","
                        + "\"device\":\"cpu\",\"batch\":%d,\"threads\":%d,\"images\":%d,\"median\":%.4f,\"reps\":[%s],"
                        + "\"engine\":\"PyTorch %s\"}%n", mode, d.architecture(), precision, batch, threads, images, median,
                r, ai.djl.engine.Engine.getEngine("PyTorch").getVersion());
    }
}
