package org.vitfit.bench;

import org.vitfit.extract.BatchEmbedder;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;
import org.vitfit.extract.ImagePreparer;
import org.vitfit.onnx.Device;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Does the pipeline waste anything? Measures decode + preprocess alone, inference alone and the whole
 * {@code vitfit extract} run round-robin on the same {@value ExtractBenchmark#IMAGES} images, so that all three see
 * the same machine load (JMH runs benchmarks one after the other, which on a shared machine compares different
 * moments). Per round it prints the three rates and {@code end-to-end / (1 / (1/decode + 1/inference))}, the
 * fraction of the no-overlap bound the pipeline reaches; 1.0 means no waste, more means overlap helped. It also
 * prints the process CPU time per image of each stage, which a busy machine disturbs less than wall time: if the
 * pipeline wastes nothing, end-to-end CPU time is the sum of the stages' ({@code cpu ratio} 1.0).
 *
 * <p>Usage: {@code java -cp ... org.vitfit.bench.ExtractEfficiency [ROUNDS] [BATCH]}; every stage uses all cores.
 */
public final class ExtractEfficiency {

    private ExtractEfficiency() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int cores = Runtime.getRuntime().availableProcessors();
        int images = ExtractBenchmark.IMAGES;
        ExtractBenchmark.Data data = new ExtractBenchmark.Data();
        data.setUp();
        ExecutorService pool = Executors.newFixedThreadPool(cores);
        ImagePreparer preparer = new ImagePreparer(data.descriptor.preprocessing(), Long.MAX_VALUE);
        FloatBuffer[] buffers = new FloatBuffer[cores];
        for (int t = 0; t < cores; t++) {
            buffers[t] = ByteBuffer.allocateDirect(preparer.floatsPerImage() * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer();
        }
        try (BatchEmbedder embedder = new BatchEmbedder(data.model, data.descriptor, Device.CPU, batch, 0);
             Extractor extractor = Extractor.load(ExtractOptions.builder(data.model, data.imageFolder,
                     data.work.resolve("unused")).batchSize(batch).threads(cores).build())) {
            for (int i = 0; i < batch; i++) {
                preparer.prepare(data.images.get(i), "image " + i, embedder.inputBuffer(), i * embedder.floatsPerImage());
            }
            float[] out = new float[batch * embedder.dimension()];
            System.out.printf(Locale.ROOT, "%d images, batch %d, %d cores; img/s per round:%n", images, batch, cores);
            System.out.println("round  decode+preprocess  inference  end-to-end  no-overlap bound  e2e/bound"
                    + "  | CPU ms/img: decode  inference  end-to-end  (decode+inference)/e2e");
            List<Double> ratios = new ArrayList<>();
            List<Double> cpuRatios = new ArrayList<>();
            double[][] rates = new double[3][rounds];
            for (int r = -1; r < rounds; r++) {
                long c0 = cpuNanos();
                long t0 = System.nanoTime();
                List<Future<?>> parts = new ArrayList<>();
                for (int t = 0; t < cores; t++) {
                    int first = t;
                    parts.add(pool.submit(() -> {
                        for (int i = first; i < images; i += cores) {
                            preparer.prepare(data.images.get(i), "image " + i, buffers[first], 0);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : parts) {
                    f.get();
                }
                double decode = images / ((System.nanoTime() - t0) / 1e9);
                double decodeCpu = (cpuNanos() - c0) / 1e6 / images;

                c0 = cpuNanos();
                t0 = System.nanoTime();
                for (int done = 0; done < images; done += batch) {
                    embedder.embed(batch, out, 0);
                }
                double inference = images / ((System.nanoTime() - t0) / 1e9);
                double inferenceCpu = (cpuNanos() - c0) / 1e6 / images;

                c0 = cpuNanos();
                t0 = System.nanoTime();
                ExtractSummary s = extractor.extract(data.imageFolder, data.work.resolve("cache-" + r),
                        ExtractListener.NONE);
                double endToEnd = images / ((System.nanoTime() - t0) / 1e9);
                double endToEndCpu = (cpuNanos() - c0) / 1e6 / images;
                if (s.embedded() != images) {
                    throw new IllegalStateException("embedded " + s.embedded() + " of " + images);
                }
                if (r < 0) {
                    continue; // warm-up round
                }
                double bound = 1 / (1 / decode + 1 / inference);
                ratios.add(endToEnd / bound);
                cpuRatios.add((decodeCpu + inferenceCpu) / endToEndCpu);
                rates[0][r] = decode;
                rates[1][r] = inference;
                rates[2][r] = endToEnd;
                System.out.printf(Locale.ROOT, "%5d  %17.1f  %9.1f  %10.1f  %16.1f  %9.3f  | %18.2f  %9.2f  %10.2f"
                        + "  %25.3f%n", r + 1, decode, inference, endToEnd, bound, endToEnd / bound, decodeCpu,
                        inferenceCpu, endToEndCpu, (decodeCpu + inferenceCpu) / endToEndCpu);
            }
            System.out.printf(Locale.ROOT, "median %16.1f  %9.1f  %10.1f  %16s  %9.3f  | %67.3f%n",
                    median(rates[0]), median(rates[1]), median(rates[2]), "",
                    median(ratios.stream().mapToDouble(Double::doubleValue).toArray()),
                    median(cpuRatios.stream().mapToDouble(Double::doubleValue).toArray()));
        } finally {
            pool.shutdownNow();
            data.tearDown();
        }
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }
}
