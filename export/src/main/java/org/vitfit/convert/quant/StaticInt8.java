package org.vitfit.convert.quant;

import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.graph.OnnxGraph;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * Static int8 ({@code vitfit convert --precision int8 --calibration DIR}): the matrix products of the blocks run on
 * int8 operands whose activation scales were measured on the user's images ({@link Calibrator}), written in the
 * standard QDQ form (QuantizeLinear / DequantizeLinear around float ops) that ONNX Runtime turns into its integer
 * kernels, except for the self-attention, written as ONNX Runtime's own QAttention:
 * <pre>
 *   linear:    x [N,T,in] -> Reshape [N*T, in] -> QDQ(uint8, sx, zx)
 *              Gemm(., DequantizeLinear(Wq int8, ws[out], axis 1), DequantizeLinear(b int32, sx*ws[out]))
 *              -> Reshape [N, T, out]                => com.microsoft.QGemm, bias and float output fused
 *   attention: com.microsoft.QAttention(QuantizeLinear(x, sx, zx), Wqkv int8, b float, sx, ws[3D], zx, 0)
 *              -> the merged heads [N, T, D]         (qkv in int8; scores, softmax and context in float)
 * </pre>
 * So a calibrated int8 model runs in ONNX Runtime (as everything in vitfit does), not in other ONNX runtimes.
 * Activations are uint8 with a zero point (LayerNorm and GELU outputs are not centred), weights int8 symmetric (U8S8,
 * the fast pair on x86). Quantising x is one elementwise pass with a fixed scale, where dynamic quantisation first
 * scans x for its range; the 2-D Gemm form lets ONNX Runtime fuse the bias, which its MatMul form (3-D) leaves to a
 * separate Add.
 *
 * <p>The inputs of qkv, fc1 and fc2 are smoothed first ({@link Smoothing}); fc2 carries the division as a Mul. What
 * stays float is decided by the {@link QuantPlan}. Layers without a calibration range (the classification head, the
 * pooler: one row per image) use {@link DynamicInt8}.
 */
final class StaticInt8 implements LinearEmitter {

    private final Calibration calibration;
    private final Smoothing smoothing;
    private final QuantPlan plan;
    private final int tokens;
    private final float margin;

    StaticInt8(Calibration calibration, Smoothing smoothing, QuantPlan plan, int tokens) {
        this.calibration = calibration;
        this.smoothing = smoothing;
        this.plan = plan;
        this.tokens = tokens;
        this.margin = margin(calibration.images());
    }

    /**
     * How much wider than measured the activation ranges are made: the largest value in n images underestimates the
     * largest value the model will meet, and a clipped activation costs far more than a coarser step. Measured on the
     * bundled ViT-Tiny (worst embedding cosine with fp32, 21 images not used for calibration; measured when the
     * attention scores were int8 too, before QAttention): 32 calibration images
     * 0.975 at 1.0, 0.989 at 1.25, 0.992 at 1.5; 256 images 0.9937 at 1.0, 0.9938 at 1.25, 0.985 at 1.5. So
     * {@code 1 + 2.5 / sqrt(n)}: 1.44 at 32 images, 1.16 at 256.
     */
    static float margin(int images) {
        return (float) (1 + 2.5 / Math.sqrt(Math.max(1, images)));
    }

    @Override
    public String emit(OnnxGraph g, String name, String x, VitParameters.Linear l) {
        Calibration.Range r = calibration.range(name);
        if (r == null) {
            // Only the one-row-per-image layers go unmeasured in a calibrated graph.
            return name.startsWith("blocks.") ? FLOAT.emit(g, name, x, l) : DynamicInt8.INSTANCE.emit(g, name, x, l);
        }
        if (!plan.quantised(name)) {
            return FLOAT.emit(g, name, x, l);
        }
        int in = (int) l.weight().dim(0);
        int out = (int) l.weight().dim(1);
        x = divideAtRunTime(g, name, x, in);
        String rows = g.op("Reshape", name + ".rows", x, g.int64Initializer(name + ".rows_shape", -1, in));
        Uint8 a = inputQuantisation(name, r, in);
        String[] sz = a.addTo(g, name + ".input");
        String xq = g.op("QuantizeLinear", name + ".input_quant", rows, sz[0], sz[1]);
        String xdq = g.op("DequantizeLinear", name + ".input_dequant", xq, sz[0], sz[1]);
        QuantizedWeight w = QuantizedWeight.perColumn(l.weight());
        String[] wn = w.addTo(g, name, true);
        String wdq = g.op("DequantizeLinear", name + ".weight_dequant", Map.of("axis", 1L), wn[0], wn[1], wn[2]);
        String y;
        if (l.bias() == null) {
            y = g.op("Gemm", name + ".gemm", xdq, wdq);
        } else {
            // int32 bias at scale sx * ws[j]: QGemm adds it to the int32 accumulator (rounding: half an accumulator unit).
            float[] b = l.bias().data();
            float[] bs = new float[out];
            ByteBuffer q = ByteBuffer.allocate(out * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (int c = 0; c < out; c++) {
                bs[c] = a.scale() * w.scales()[c];
                q.putInt((int) Math.max(Integer.MIN_VALUE + 1, Math.min(Integer.MAX_VALUE, Math.round(b[c] / bs[c]))));
            }
            String bq = g.int32Initializer(name + ".bias_quant", q.array(), out);
            String bz = g.int32Initializer(name + ".bias_zero_point", new byte[out * Integer.BYTES], out);
            String bsc = g.floatInitializer(name + ".bias_scale", bs, out);
            String bdq = g.op("DequantizeLinear", name + ".bias_dequant", Map.of("axis", 0L), bq, bsc, bz);
            y = g.op("Gemm", name + ".gemm", xdq, wdq, bdq);
        }
        return g.op("Reshape", name, y, g.int64Initializer(name + ".tokens_shape", -1, tokens, out));
    }

    /**
     * qkv and the attention after it as ONNX Runtime's QAttention: the qkv product on the calibrated uint8 input and
     * the int8 weight, its output laid out by head as it is written, then {@code softmax(q kT / sqrt(hd)) v} in
     * float and the heads merged, in one kernel. Spelled out in standard ops the same work took the bundled ViT-Tiny
     * a QGemm, a Split, four Transposes, two quantisations, a MatMulIntegerToFloat, a Softmax and a float MatMul per
     * block; with the fused kernel the whole calibrated model takes 9% less time (72.8 -> 66.0 ms per batch of 8, 2
     * threads, {@code OperatorProfile ab} on the graphs before and after, 2026-11-30), with the attention products in
     * float instead of the scores in int8.
     */
    @Override
    public String fusedSelfAttention(OnnxGraph g, String name, String x, VitParameters.Linear qkv, int heads) {
        String layer = name + ".qkv";
        Calibration.Range r = calibration.range(layer);
        if (r == null || !plan.quantised(layer)) {
            return null;
        }
        int in = (int) qkv.weight().dim(0);
        int out = (int) qkv.weight().dim(1);
        x = divideAtRunTime(g, layer, x, in);
        String[] sz = inputQuantisation(layer, r, in).addTo(g, layer + ".input");
        String xq = g.op("QuantizeLinear", layer + ".input_quant", x, sz[0], sz[1]);
        String[] wn = QuantizedWeight.perColumn(qkv.weight()).addTo(g, layer, true);
        float[] bias = qkv.bias() == null ? new float[out] : qkv.bias().data();
        String b = g.floatInitializer(layer + ".bias", bias, out);
        return g.msOp("QAttention", name + ".merge", Map.of("num_heads", (long) heads),
                xq, wn[0], b, sz[0], wn[1], "", sz[1], wn[2]);
    }

    /** fc2's smoothing divides its input per channel at run time (see {@link Smoothing}); other layers pass through. */
    private String divideAtRunTime(OnnxGraph g, String name, String x, int in) {
        float[] divisor = smoothing.runtimeDivisors().get(name);
        if (divisor == null) {
            return x;
        }
        float[] inverse = new float[in];
        for (int i = 0; i < in; i++) {
            inverse[i] = 1f / divisor[i];
        }
        return g.op("Mul", name + ".smooth", x, g.floatInitializer(name + ".smooth_inverse", inverse, in));
    }

    /** The uint8 quantisation of {@code name}'s (smoothed) input: the calibrated range, widened by the margin. */
    private Uint8 inputQuantisation(String name, Calibration.Range r, int in) {
        float[] s = smoothing.factors().get(name);
        float lo = 0f;
        float hi = 0f;
        for (int c = 0; c < in; c++) {
            float f = s == null ? 1f : s[c];
            lo = Math.min(lo, r.min()[c] / f);
            hi = Math.max(hi, r.max()[c] / f);
        }
        return Uint8.over(lo * margin, hi * margin);
    }

    /** An asymmetric uint8 quantisation of a range widened to hold 0 (so zero, and zero padding, stay exact). */
    private record Uint8(float scale, int zeroPoint) {
        static Uint8 over(float lo, float hi) {
            lo = Math.min(lo, 0f);
            hi = Math.max(hi, 0f);
            float scale = hi > lo ? (hi - lo) / 255f : 1f;
            return new Uint8(scale, (int) Math.max(0, Math.min(255, Math.round(-lo / scale))));
        }

        /** Adds the scale and the zero point as initializers; returns {scale, zero point}. */
        String[] addTo(OnnxGraph g, String name) {
            return new String[] {g.scalar(name + "_scale", scale),
                    g.uint8Initializer(name + "_zero_point", new byte[] {(byte) zeroPoint})};
        }
    }
}
