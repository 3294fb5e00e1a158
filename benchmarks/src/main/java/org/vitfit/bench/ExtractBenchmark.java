package org.vitfit.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.vitfit.convert.Converter;
import org.vitfit.extract.BatchEmbedder;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;
import org.vitfit.extract.ImagePreparer;
import org.vitfit.onnx.Device;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Images per second of the extractor's stages with the bundled ViT-Tiny on real Oxford-IIIT Pet JPEGs: decode +
 * preprocess alone, inference alone, and the whole {@code vitfit extract} pipeline (listing, hashing, decoding,
 * inference, cache writes and commits). Every score is images per second: each invocation handles {@value #IMAGES}
 * images. See benchmarks/README.md for how to run it and the figures.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 4)
@Measurement(iterations = 3, time = 6)
@Fork(1)
public class ExtractBenchmark {

    static final int IMAGES = 128;

    /** The converted model and the images, shared by every benchmark of a fork. */
    @State(Scope.Benchmark)
    public static class Data {
        Path work;
        Path model;
        ModelDescriptor descriptor;
        Path imageFolder;
        List<byte[]> images = new ArrayList<>();

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            Path root = repoRoot();
            Path shared = Path.of(System.getProperty("vitfit.shared", root.resolve("../shared").toString()));
            work = Files.createTempDirectory("vitfit-bench");
            model = work.resolve("vit-tiny");
            descriptor = Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);
            imageFolder = Files.createDirectories(work.resolve("images"));
            // Four photos from each of 32 breeds: the mix of sizes a real collection has.
            try (Stream<Path> breeds = Files.list(shared.resolve("datasets/oxford-pets-370"))) {
                for (Path breed : breeds.sorted().limit(32).toList()) {
                    Path dst = Files.createDirectories(imageFolder.resolve(breed.getFileName().toString()));
                    try (Stream<Path> files = Files.list(breed)) {
                        for (Path f : files.sorted().limit(IMAGES / 32).toList()) {
                            Files.copy(f, dst.resolve(f.getFileName().toString()));
                            images.add(Files.readAllBytes(f));
                        }
                    }
                }
            }
            if (images.size() != IMAGES) {
                throw new IllegalStateException("found " + images.size() + " images in " + shared);
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try (Stream<Path> s = Files.walk(work)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }

        private static Path repoRoot() {
            String root = System.getProperty("vitfit.root");
            Path p = Path.of(root != null ? root : "").toAbsolutePath();
            for (Path d = p; d != null; d = d.getParent()) {
                if (Files.isDirectory(d.resolve("models/vit-tiny-patch16-224-augreg"))) {
                    return d;
                }
            }
            throw new IllegalStateException("run from inside the vitfit checkout (or pass -Dvitfit.root=...): no "
                    + "models/vit-tiny-patch16-224-augreg above " + p);
        }
    }

    /** Decode + preprocess on {@code threads} threads, each into its own pixel buffer. */
    @State(Scope.Benchmark)
    public static class Decode {
        @Param({"1", "2"})
        int threads;

        ImagePreparer preparer;
        ExecutorService pool;
        FloatBuffer[] buffers;

        @Setup(Level.Trial)
        public void setUp(Data data) {
            preparer = new ImagePreparer(data.descriptor.preprocessing(), Long.MAX_VALUE);
            pool = Executors.newFixedThreadPool(threads);
            buffers = new FloatBuffer[threads];
            for (int t = 0; t < threads; t++) {
                buffers[t] = ByteBuffer.allocateDirect(preparer.floatsPerImage() * Float.BYTES)
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            pool.shutdownNow();
        }
    }

    /** One ONNX Runtime session with {@code ortThreads} intra-op threads, fed batches of {@code batchSize}. */
    @State(Scope.Benchmark)
    public static class Infer {
        @Param({"1", "8", "32"})
        int batchSize;

        @Param({"1", "2"})
        int ortThreads;

        BatchEmbedder embedder;
        float[] out;

        @Setup(Level.Trial)
        public void setUp(Data data) throws IOException {
            embedder = new BatchEmbedder(data.model, data.descriptor, Device.CPU, batchSize, ortThreads);
            ImagePreparer preparer = new ImagePreparer(data.descriptor.preprocessing(), Long.MAX_VALUE);
            for (int i = 0; i < batchSize; i++) {
                preparer.prepare(data.images.get(i), "image " + i, embedder.inputBuffer(),
                        i * embedder.floatsPerImage());
            }
            out = new float[batchSize * embedder.dimension()];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            embedder.close();
        }
    }

    /** The whole extract pipeline into a fresh cache per invocation; the model is loaded once per trial. */
    @State(Scope.Benchmark)
    public static class EndToEnd {
        @Param({"8", "32"})
        int batchSize;

        @Param({"1", "2"})
        int threads;

        Extractor extractor;
        Path caches;
        int run;

        @Setup(Level.Trial)
        public void setUp(Data data) throws IOException {
            caches = Files.createDirectories(data.work.resolve("caches-" + batchSize + "-" + threads));
            extractor = Extractor.load(ExtractOptions.builder(data.model, data.imageFolder, caches)
                    .batchSize(batchSize).threads(threads).build());
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            extractor.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(IMAGES)
    public void decodePreprocess(Data data, Decode s) throws Exception {
        List<Future<?>> parts = new ArrayList<>();
        for (int t = 0; t < s.threads; t++) {
            int first = t;
            parts.add(s.pool.submit(() -> {
                for (int i = first; i < IMAGES; i += s.threads) {
                    s.preparer.prepare(data.images.get(i), "image " + i, s.buffers[first], 0);
                }
                return null;
            }));
        }
        for (Future<?> f : parts) {
            f.get();
        }
    }

    @Benchmark
    @OperationsPerInvocation(IMAGES)
    public float inference(Infer s) throws Exception {
        for (int done = 0; done < IMAGES; done += s.batchSize) {
            s.embedder.embed(s.batchSize, s.out, 0);
        }
        return s.out[0];
    }

    @Benchmark
    @OperationsPerInvocation(IMAGES)
    public long endToEnd(Data data, EndToEnd s) throws IOException {
        ExtractSummary summary = s.extractor.extract(data.imageFolder, s.caches.resolve("run-" + s.run++),
                ExtractListener.NONE);
        if (summary.embedded() != IMAGES) {
            throw new IllegalStateException("embedded " + summary.embedded() + " of " + IMAGES);
        }
        return summary.embedded();
    }
}
