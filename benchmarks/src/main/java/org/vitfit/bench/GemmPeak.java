package org.vitfit.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The machine's measured matrix-multiply peak through ONNX Runtime's own kernels, on the threads a benchmark uses: the
 * physical reference every throughput figure is compared with (achieved GFLOP/s over this peak). One square product
 * {@code [S, S] x [S, S]} per kernel, sessions opened the way vitfit opens them ({@link OnnxSessions}), the median of
 * {@code reps} timed runs of at least {@code seconds} each after a warm-up:
 * <ul>
 *   <li>{@code fp32}: MatMul (MLAS SGEMM);</li>
 *   <li>{@code int8}: the two int8 kernels vitfit's int8 models run on: QGemm (static int8: uint8 activations with a
 *       fixed scale times int8 weights per column, float output; what {@code --calibration} models use) and
 *       DynamicQuantizeMatMul (dynamic int8). Integer operations per second are reported as GFLOP/s: one
 *       multiply-add is two operations, as for float.</li>
 * </ul>
 * Usage: {@code GemmPeak [--threads N] [--size S] [--reps R] [--seconds T]}; one JSON line per kernel on stdout, e.g.
 * {@code {"impl":"peak","precision":"fp32","kernel":"onnxruntime MatMul","threads":2,"size":2048,"gflops":212.4,...}}.
 */
public final class GemmPeak {

    private GemmPeak() {
    }

    /** One kernel's measured rate. */
    public record Peak(String precision, String kernel, int threads, int size, double gflops, double[] reps) {
        public String json() {
            StringBuilder r = new StringBuilder();
            for (double v : reps) {
                r.append(r.length() == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.1f", v));
            }
            return String.format(Locale.ROOT, "{\"impl\":\"peak\",\"precision\":\"%s\",\"kernel\":\"%s\",\"threads\":%d,"
                            + "\"size\":%d,\"gflops\":%.1f,\"reps\":[%s],\"onnxruntime\":\"%s\"}", precision, kernel,
                    threads, size, gflops, r, OrtEnvironment.getEnvironment().getVersion());
        }
    }

    public static void main(String[] args) throws Exception {
        int threads = Runtime.getRuntime().availableProcessors();
        int size = 2048;
        int reps = 5;
        double seconds = 1.0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                default -> {
                    System.err.println("usage: GemmPeak [--threads N] [--size S] [--reps R] [--seconds T]");
                    System.exit(2);
                }
            }
        }
        for (Kernel k : Kernel.values()) {
            System.out.println(measure(k, threads, size, reps, seconds).json());
        }
    }

    /** The kernels measured. */
    public enum Kernel {
        FP32_MATMUL("fp32", "onnxruntime MatMul"),
        INT8_QGEMM("int8", "onnxruntime QGemm (static uint8 x int8)"),
        INT8_DYNAMIC("int8", "onnxruntime DynamicQuantizeMatMul (dynamic uint8 x int8)");

        final String precision;
        final String label;

        Kernel(String precision, String label) {
            this.precision = precision;
            this.label = label;
        }
    }

    public static Peak measure(Kernel kernel, int threads, int size, int reps, double seconds) throws OrtException {
        byte[] model = graph(kernel, size).toByteArray();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        FloatBuffer a = ByteBuffer.allocateDirect(size * size * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
        Random random = new Random(3);
        for (int i = 0; i < a.capacity(); i++) {
            a.put(i, (float) random.nextGaussian());
        }
        double flop = 2.0 * size * size * size;
        double[] rates = new double[reps];
        try (OnnxSessions.Opened s = OnnxSessions.open(model, Device.CPU, threads);
             OnnxTensor input = OnnxTensor.createTensor(env, a, new long[] {size, size})) {
            Map<String, OnnxTensor> feed = Map.of("a", input);
            s.session().run(feed).close();
            for (int rep = 0; rep < reps; rep++) {
                int runs = 0;
                long t0 = System.nanoTime();
                long elapsed;
                do {
                    try (OrtSession.Result r = s.session().run(feed)) {
                        runs++;
                    }
                    elapsed = System.nanoTime() - t0;
                } while (elapsed < seconds * 1e9);
                rates[rep] = runs * flop / (elapsed / 1e9) / 1e9;
            }
        }
        return new Peak(kernel.precision, kernel.label, threads, size, CompareHarness.median(rates), rates);
    }

    private static ai.onnx.proto.OnnxMl.ModelProto graph(Kernel kernel, int size) {
        OnnxGraph g = new OnnxGraph("gemm_peak");
        String a = g.floatInput("a", size, size);
        Random random = new Random(5);
        String y;
        if (kernel == Kernel.FP32_MATMUL) {
            float[] w = new float[size * size];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) random.nextGaussian();
            }
            y = g.op("MatMul", "y", a, g.floatInitializer("w", w, size, size));
        } else {
            byte[] q = new byte[size * size];
            for (int i = 0; i < q.length; i++) {
                q[i] = (byte) (random.nextInt(255) - 127);
            }
            float[] scales = new float[size];
            Arrays.fill(scales, 0.01f);
            String wq = g.int8Initializer("w_quant", q, size, size);
            if (kernel == Kernel.INT8_QGEMM) {
                String wz = g.int8Initializer("w_zero", new byte[size], size);
                String ws = g.floatInitializer("w_scale", scales, size);
                String sc = g.scalar("a_scale", 8f / 255);
                String zp = g.uint8Initializer("a_zero", new byte[] {(byte) 128});
                String adq = g.op("DequantizeLinear", "a_dq", g.op("QuantizeLinear", "a_q", a, sc, zp), sc, zp);
                String wdq = g.op("DequantizeLinear", "w_dq", Map.of("axis", 1L), wq, ws, wz);
                y = g.op("Gemm", "y", adq, wdq);
            } else {
                String wz = g.int8Initializer("w_zero", new byte[] {0});
                String ws = g.floatInitializer("w_scale", scales, size);
                String[] dq = g.ops("DynamicQuantizeLinear", "a_q", Map.of(), 3, a);
                String acc = g.op("MatMulInteger", "acc", dq[0], wq, dq[2], wz);
                String accF = g.op("Cast", "acc_f", Map.of("to", 1L), acc);
                y = g.op("Mul", "y", accF, g.op("Mul", "scale", dq[1], ws));
            }
        }
        g.floatOutput(y, "out", size, size);
        return g.toModel("peak", Map.of());
    }
}
