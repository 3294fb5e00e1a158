import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;
import org.vitfit.finetune.LoraConfig;
import org.vitfit.finetune.TrainableParameters;
import org.vitfit.finetune.TrainingGraph;
import org.vitfit.finetune.TrainingSession;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;

import java.lang.management.ManagementFactory;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;

/**
 * vitfit's side of benchmarks/finetune/run.sh: one measurement per JVM, one JSON line on stdout.
 *
 * <pre>
 *   java -cp CP FinetuneBench.java step CHECKPOINT MODE BATCH THREADS STEPS REPS [PROFILE_DIR]
 *       training-step throughput, MODE = full | blocks2 | lora8, on random inputs of the right kind (pixels for full,
 *       the frozen prefix's tokens for the other two), 10 classes, through TrainingSession as vitfit finetune runs it
 * </pre>
 * The machine's peak is measured by the benchmarks module's GemmPeak (one peak tool for every benchmark).
 * Besides wall-clock rates, the step reports GFLOP per CPU-second of the process: on a machine shared with other work the
 * wall clock measures the other work too, while the ratio of the two CPU-time figures stays close to the quiet one.
 * Model FLOPs per image are the standard accounting (forward, plus twice the forward of what trains for the
 * backward pass), not what vitfit's graph actually computes (its last block skips the non-class tokens).
 */
public final class FinetuneBench {

    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] a) throws Exception {
        switch (a[0]) {
            case "step" -> step(Path.of(a[1]), a[2], Integer.parseInt(a[3]), Integer.parseInt(a[4]),
                    Integer.parseInt(a[5]), Integer.parseInt(a[6]), a.length > 7 ? a[7] : null);
            default -> throw new IllegalArgumentException("unknown command " + a[0]);
        }
    }

    static void step(Path checkpoint, String mode, int batch, int threads, int steps, int reps, String profile)
            throws Exception {
        Converter.Loaded loaded = Converter.load(checkpoint, Converter.Options.defaults());
        VitParameters vit = loaded.parameters();
        VitSpec s = vit.spec();
        int classes = 10;
        int d = s.hiddenSize();
        VitParameters.Linear head = new VitParameters.Linear(new Tensor(new float[d * classes], new long[] {d, classes}),
                new Tensor(new float[classes], new long[] {classes}));
        TrainableParameters layout = switch (mode) {
            case "full" -> TrainableParameters.of(vit, head);
            case "blocks2" -> TrainableParameters.of(vit, head, 2, null, 0);
            case "lora8" -> TrainableParameters.of(vit, head, s.numLayers(),
                    new LoraConfig(8, 16, EnumSet.allOf(LoraConfig.Target.class)), 0);
            default -> throw new IllegalArgumentException("mode " + mode);
        };
        long[] shape = layout.input() == TrainableParameters.Input.PIXELS
                ? new long[] {batch, s.channels(), s.imageHeight(), s.imageWidth()}
                : new long[] {batch, s.numTokens(), d};
        int len = Math.toIntExact(Arrays.stream(shape).reduce(1, (x, y) -> x * y));
        FloatBuffer input = TrainingSession.direct(len);
        input.put(0, random(len, 3));
        float[] targets = new float[batch * classes];
        for (int i = 0; i < batch; i++) {
            targets[i * classes + i % classes] = 1;
        }
        TrainingSession.Opener opener = profile == null
                ? model -> OnnxSessions.open(model, Device.CPU, TrainingSession.tuning(threads))
                : model -> {
                    OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                    o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                    o.setIntraOpNumThreads(threads);
                    o.setInterOpNumThreads(1);
                    o.setMemoryPatternOptimization(false);
                    o.enableProfiling(profile);
                    return new OnnxSessions.Opened(OrtEnvironment.getEnvironment().createSession(model, o), Device.CPU);
                };
        TrainingSession.Hyper h = new TrainingSession.Hyper(1e-5f, 1e-4f, 0.05f, 0.9f, 0.999f, 1e-8f, 1f);
        List<Double> rates = new ArrayList<>();
        double cpuPerStep = 0;
        try (TrainingSession session = new TrainingSession(layout, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, opener,
                null, null, 0);
             OnnxTensor x = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), input, shape)) {
            for (int i = 0; i < 2; i++) {
                session.step(x, batch, targets, h);
            }
            for (int r = 0; r < reps; r++) {
                long t0 = System.nanoTime();
                long c0 = cpuNanos();
                for (int i = 0; i < steps; i++) {
                    session.step(x, batch, targets, h);
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                cpuPerStep = (cpuNanos() - c0) / 1e9 / steps;
                rates.add(batch * steps / seconds);
            }
        }
        double flops = modelFlopsPerImage(s, mode);
        double img = median(rates);
        ObjectNode o = JSON.createObjectNode().put("impl", "vitfit").put("mode", mode).put("batch", batch)
                .put("threads", threads).put("steps", steps).put("imgPerSec", img)
                .put("gflopPerImage", flops / 1e9).put("gflops", img * flops / 1e9)
                .put("trainable", layout.size()).put("cpuSecondsPerStep", cpuPerStep)
                .put("gflopPerCpuSecond", batch * flops / 1e9 / cpuPerStep)
                .put("peakRssMb", status("VmHWM") / 1024.0).put("javaHeapUsedMb", heapMb());
        o.putPOJO("reps", rates);
        System.out.println(o);
    }

    /**
     * Standard training FLOPs per image: the forward pass of what runs (the frozen prefix excluded when it is read
     * from the cache) plus the backward pass, 2x the forward of every layer gradients flow through.
     */
    static double modelFlopsPerImage(VitSpec s, String mode) {
        double t = s.numTokens();
        double d = s.hiddenSize();
        double mlp = s.mlpDim();
        double block = 2 * t * (3 * d * d + d * d + 2 * d * mlp) + 2 * 2 * t * t * d;
        double patch = 2.0 * s.numPatches() * d * s.channels() * s.patchSize() * s.patchSize();
        int depth = s.numLayers();
        return switch (mode) {
            case "full" -> 3 * (patch + depth * block);           // forward + data and weight gradients
            case "blocks2" -> 3 * 2 * block;                       // the prefix is read from the cache
            case "lora8" -> 2 * depth * block;                     // forward + data gradients; adapters are tiny
            default -> throw new IllegalArgumentException(mode);
        };
    }

    static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    static double heapMb() {
        Runtime rt = Runtime.getRuntime();
        return (rt.totalMemory() - rt.freeMemory()) / 1e6;
    }

    /** A field of /proc/self/status in kB (VmHWM: peak resident memory). */
    static long status(String field) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
