package org.vitfit.bench;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Where a model's time goes, and which of two graphs is faster, on the same random batch: the tools behind the
 * int8 figures of {@code benchmarks/README.md} that are not rows of the comparison table.
 *
 * <ul>
 *   <li>{@code profile MODEL.onnx BATCH THREADS RUNS}: ONNX Runtime's own profiler
 *       ({@code SessionOptions.enableProfiling}) over RUNS runs after a warm-up, kernel time summed by operator type
 *       (after ONNX Runtime's graph optimisation: the fused kernels it actually runs). One JSON line: milliseconds per
 *       run and share of the kernel time, per operator.</li>
 *   <li>{@code ab BATCH THREADS ROUNDS MODEL.onnx...}: the models timed in interleaved rounds in one process (every
 *       model once per round, 3 runs each), so the machine's drift lands on all of them; one JSON line per model with
 *       its median milliseconds per batch and the first model's median over it.</li>
 * </ul>
 * Sessions are opened as {@code OnnxSessions} opens them on CPU (all graph optimisations, sequential execution,
 * {@code THREADS} intra-op threads), without the optimised-model cache.
 */
public final class OperatorProfile {

    private static final ObjectMapper JSON = new ObjectMapper();

    private OperatorProfile() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 5 && args[0].equals("profile")) {
            System.out.println(profile(Path.of(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4])));
        } else if (args.length >= 5 && args[0].equals("ab")) {
            List<Path> models = new ArrayList<>();
            for (int i = 4; i < args.length; i++) {
                models.add(Path.of(args[i]));
            }
            for (ObjectNode line : ab(models, Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                    Integer.parseInt(args[3]))) {
                System.out.println(line);
            }
        } else {
            System.err.println("usage: OperatorProfile profile MODEL.onnx BATCH THREADS RUNS\n"
                    + "       OperatorProfile ab BATCH THREADS ROUNDS MODEL.onnx [MODEL.onnx ...]");
            System.exit(2);
        }
    }

    /** Kernel milliseconds per run and share of the total, per operator type, largest first. */
    public static ObjectNode profile(Path model, int batch, int threads, int runs) throws OrtException, IOException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Path dir = Files.createTempDirectory("vitfit-profile-");
        Path trace;
        try (OrtSession.SessionOptions o = options(threads)) {
            o.enableProfiling(dir.resolve("ort").toString());
            try (OrtSession s = env.createSession(model.toString(), o);
                 OnnxTensor x = input(env, s, batch)) {
                Map<String, OnnxTensor> in = Map.of(s.getInputNames().iterator().next(), x);
                s.run(in).close();
                for (int r = 0; r < runs; r++) {
                    s.run(in).close();
                }
                trace = Path.of(s.endProfiling());
            }
        }
        Map<String, Double> micros = new TreeMap<>();
        int modelRuns = 0;
        try {
            for (JsonNode e : JSON.readTree(trace.toFile())) {
                String name = e.path("name").asText();
                if (e.path("cat").asText().equals("Session") && name.equals("model_run")) {
                    modelRuns++;
                } else if (e.path("cat").asText().equals("Node") && name.endsWith("_kernel_time")) {
                    micros.merge(e.path("args").path("op_name").asText(), e.path("dur").asDouble(), Double::sum);
                }
            }
        } finally {
            Files.deleteIfExists(trace);
            Files.deleteIfExists(dir);
        }
        // The profiler counts the warm-up run too; shares do not depend on it, milliseconds per run do.
        double total = micros.values().stream().mapToDouble(Double::doubleValue).sum();
        int counted = Math.max(1, modelRuns);
        ObjectNode out = JSON.createObjectNode().put("impl", "vitfit").put("mode", "profile")
                .put("model", model.toString()).put("batch", batch).put("threads", threads).put("runs", counted)
                .put("kernelMsPerRun", round(total / 1000 / counted));
        ObjectNode ops = out.putObject("ops");
        micros.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).forEach(e ->
                ops.putObject(e.getKey()).put("msPerRun", round(e.getValue() / 1000 / counted))
                        .put("share", round(e.getValue() / total)));
        return out;
    }

    /** Median milliseconds per batch of each model, timed in interleaved rounds. */
    public static List<ObjectNode> ab(List<Path> models, int batch, int threads, int rounds) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int perRound = 3;
        List<OrtSession> sessions = new ArrayList<>();
        List<OnnxTensor> inputs = new ArrayList<>();
        try {
            for (Path m : models) {
                try (OrtSession.SessionOptions o = options(threads)) {
                    OrtSession s = env.createSession(m.toString(), o);
                    sessions.add(s);
                    inputs.add(input(env, s, batch));
                }
            }
            double[][] ms = new double[models.size()][rounds];
            for (int i = 0; i < sessions.size(); i++) {
                run(sessions.get(i), inputs.get(i), 2);
            }
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < sessions.size(); i++) {
                    long t0 = System.nanoTime();
                    run(sessions.get(i), inputs.get(i), perRound);
                    ms[i][r] = (System.nanoTime() - t0) / 1e6 / perRound;
                }
            }
            List<ObjectNode> out = new ArrayList<>();
            double first = CompareHarness.median(ms[0]);
            for (int i = 0; i < models.size(); i++) {
                double median = CompareHarness.median(ms[i]);
                ObjectNode n = JSON.createObjectNode().put("impl", "vitfit").put("mode", "ab")
                        .put("model", models.get(i).toString()).put("batch", batch).put("threads", threads)
                        .put("rounds", rounds).put("msPerBatch", round(median))
                        .put("speedupOverFirst", round(first / median));
                n.putPOJO("reps", ms[i]);
                out.add(n);
            }
            return out;
        } finally {
            for (OnnxTensor t : inputs) {
                t.close();
            }
            for (OrtSession s : sessions) {
                s.close();
            }
        }
    }

    private static void run(OrtSession s, OnnxTensor x, int times) throws OrtException {
        Map<String, OnnxTensor> in = Map.of(s.getInputNames().iterator().next(), x);
        for (int i = 0; i < times; i++) {
            s.run(in).close();
        }
    }

    private static OrtSession.SessionOptions options(int threads) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
        o.setIntraOpNumThreads(threads);
        return o;
    }

    /** A random normal batch for the model's one image input [N, C, H, W] (N and any symbolic size set to batch). */
    private static OnnxTensor input(OrtEnvironment env, OrtSession s, int batch) throws OrtException {
        NodeInfo info = s.getInputInfo().values().iterator().next();
        long[] shape = ((TensorInfo) info.getInfo()).getShape().clone();
        shape[0] = batch;
        long n = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException(info.getName() + ": only the batch size may be symbolic");
            }
            n *= d;
        }
        float[] data = new float[(int) n];
        Random r = new Random(1);
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) r.nextGaussian();
        }
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    private static double round(double v) {
        return Double.parseDouble(String.format(Locale.ROOT, "%.4f", v));
    }
}
