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
 * kernels:
 * <pre>
 *   linear:  x [N,T,in] -> Reshape [N*T, in] -> QDQ(uint8, sx, zx)
 *            Gemm(., DequantizeLinear(Wq int8, ws[out], axis 1), DequantizeLinear(b int32, sx*ws[out]))
 *            -> Reshape [N, T, out]                  => com.microsoft.QGemm, bias and float output fused
 *   scores:  QDQ(q, uint8; dequantised with 1/sqrt(hd) folded in) MatMul QDQ(kT, int8)
 *                                                    => com.microsoft.MatMulIntegerToFloat
 * </pre>
 * Activations are uint8 with a zero point (LayerNorm and GELU outputs are not centred), weights and the scores' right
 * operand int8 symmetric (U8S8, the fast pair on x86). Quantising x is one elementwise pass with a fixed scale, where
 * dynamic quantisation first scans x for its range; the 2-D Gemm form lets ONNX Runtime fuse the bias, which its
 * MatMul form (3-D) leaves to a separate Add.
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
     * bundled ViT-Tiny (worst embedding cosine with fp32, 21 images not used for calibration): 32 calibration images
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
        float[] s = smoothing.factors().get(name);
        float[] divisor = smoothing.runtimeDivisors().get(name);
        int in = (int) l.weight().dim(0);
        int out = (int) l.weight().dim(1);
        if (divisor != null) {
            float[] inverse = new float[in];
            for (int i = 0; i < in; i++) {
                inverse[i] = 1f / divisor[i];
            }
            x = g.op("Mul", name + ".smooth", x, g.floatInitializer(name + ".smooth_inverse", inverse, in));
        }
        float lo = 0f;
        float hi = 0f;
        for (int c = 0; c < in; c++) {
            float f = s == null ? 1f : s[c];
            lo = Math.min(lo, r.min()[c] / f);
            hi = Math.max(hi, r.max()[c] / f);
        }
        lo *= margin;
        hi *= margin;
        String rows = g.op("Reshape", name + ".rows", x, g.int64Initializer(name + ".rows_shape", -1, in));
        Uint8 a = Uint8.over(lo, hi);
        String xdq = a.quantDequant(g, name + ".input", rows, 1f);
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

    @Override
    public String attentionScores(OnnxGraph g, String name, String q, String kT, float scale) {
        Calibration.Range rq = calibration.range(name + ".q");
        Calibration.Range rk = calibration.range(name + ".kT");
        if (rq == null || rk == null) {
            return LinearEmitter.super.attentionScores(g, name, q, kT, scale);
        }
        String qdq = Uint8.over(rq.min()[0] * margin, rq.max()[0] * margin).quantDequant(g, name + ".q", q, scale);
        float ks = rk.absMax() > 0 ? rk.absMax() * margin / 127f : 1f;
        String kz = g.int8Initializer(name + ".kT_zero_point", new byte[] {0});
        String ksc = g.scalar(name + ".kT_scale", ks);
        String kq = g.op("QuantizeLinear", name + ".kT_quant", kT, ksc, kz);
        String kdq = g.op("DequantizeLinear", name + ".kT_dequant", kq, ksc, kz);
        return g.op("MatMul", name + ".scores", qdq, kdq);
    }

    /** An asymmetric uint8 quantisation of a range widened to hold 0 (so zero, and zero padding, stay exact). */
    private record Uint8(float scale, int zeroPoint) {
        static Uint8 over(float lo, float hi) {
            lo = Math.min(lo, 0f);
            hi = Math.max(hi, 0f);
            float scale = hi > lo ? (hi - lo) / 255f : 1f;
            return new Uint8(scale, (int) Math.max(0, Math.min(255, Math.round(-lo / scale))));
        }

        /** QuantizeLinear then DequantizeLinear; the dequantised value is multiplied by {@code outScale}. */
        String quantDequant(OnnxGraph g, String name, String x, float outScale) {
            String zp = g.uint8Initializer(name + "_zero_point", new byte[] {(byte) zeroPoint});
            String sc = g.scalar(name + "_scale", scale);
            String q = g.op("QuantizeLinear", name + "_quant", x, sc, zp);
            String dsc = outScale == 1f ? sc : g.scalar(name + "_dequant_scale", scale * outScale);
            return g.op("DequantizeLinear", name + "_dequant", q, dsc, zp);
        }
    }
}
