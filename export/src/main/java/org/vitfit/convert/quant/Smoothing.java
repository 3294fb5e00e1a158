package org.vitfit.convert.quant;

import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SmoothQuant (Xiao et al., 2023) for a ViT: per input channel {@code j} of a linear layer, the activation is divided
 * by {@code s_j} and the weight row multiplied by it, {@code y = (x / s) (diag(s) W)}, with
 * {@code s_j = max|x_j|^a / max|W_j,:|^(1-a)}. Channels with outliers shrink to the range of the others, so one
 * per-tensor activation scale serves them all, while the weights (quantised per output column) absorb the difference.
 *
 * <p>Where the division is free it is folded into the producer: qkv's input is norm1's output and fc1's is norm2's,
 * so their LayerNorm scale and shift are divided by {@code s} (exact). fc2's input comes out of GELU, which does not
 * commute with a scale, so the division stays an explicit per-channel Mul before the quantisation
 * ({@link #runtimeDivisors}). Nothing else changes: every output of the graph is the same function as before.
 *
 * @param parameters      the weights with the smoothing folded in
 * @param factors         {@code s} per smoothed layer (layer name as in {@link org.vitfit.convert.LinearEmitter})
 * @param runtimeDivisors the layers whose input must still be divided by {@code s} in the graph (fc2)
 */
record Smoothing(VitParameters parameters, Map<String, float[]> factors, Map<String, float[]> runtimeDivisors) {

    /**
     * Migration strength {@code a}. Measured on the bundled ViT-Tiny (worst embedding cosine with fp32 over 21 real
     * images): for qkv, proj and fc1 in int8, 0.9975 at 0.5 and 0.9983 at 0.7; for fc2 alone in int8, 0.948 at 0.5,
     * 0.984 at 0.7, 0.974 at 0.9 (its post-GELU input has channel maxima spread over two orders of magnitude).
     */
    static final double STRENGTH = 0.7;

    static Smoothing apply(VitParameters p, Calibration c, QuantPlan plan) {
        return apply(p, c, plan, STRENGTH, STRENGTH);
    }

    static Smoothing apply(VitParameters p, Calibration c, QuantPlan plan, double strength, double fc2Strength) {
        Map<String, float[]> factors = new HashMap<>();
        Map<String, float[]> runtime = new HashMap<>();
        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < p.blocks().size(); i++) {
            VitParameters.Block b = p.blocks().get(i);
            String name = "blocks." + i;
            float[] sQkv = factors(c.range(name + ".attn.qkv"), b.qkv().weight(), strength);
            float[] sFc1 = factors(c.range(name + ".fc1"), b.fc1().weight(), strength);
            float[] sFc2 = factors(plan.quantised(name + ".fc2") ? c.range(name + ".fc2") : null, b.fc2().weight(),
                    fc2Strength);
            factors.put(name + ".attn.qkv", sQkv);
            factors.put(name + ".fc1", sFc1);
            if (plan.quantised(name + ".fc2")) {
                factors.put(name + ".fc2", sFc2);
                runtime.put(name + ".fc2", sFc2);
            }
            blocks.add(new VitParameters.Block(divide(b.norm1(), sQkv), scaleRows(b.qkv(), sQkv), b.proj(),
                    b.layerScale1(), divide(b.norm2(), sFc1), scaleRows(b.fc1(), sFc1), scaleRows(b.fc2(), sFc2),
                    b.layerScale2()));
        }
        VitParameters smoothed = new VitParameters(p.spec(), p.patchWeight(), p.patchBias(), p.classToken(),
                p.registerTokens(), p.positions(), p.preNorm(), blocks, p.finalNorm(), p.head(), p.pooler(),
                p.projection());
        return new Smoothing(smoothed, factors, runtime);
    }

    /**
     * {@code s_j = max|x_j|^a / max|W_j,:|^(1-a)}, 1 where either side is all zero; kept within [1e-4, 1e4]. All ones
     * for a layer that was not measured (it is not quantised statically, so nothing needs smoothing).
     */
    static float[] factors(Calibration.Range x, Tensor w, double strength) {
        int in = (int) w.dim(0);
        int out = (int) w.dim(1);
        float[] s = new float[in];
        if (x == null) {
            Arrays.fill(s, 1f);
            return s;
        }
        if (x.channels() != in) {
            throw new IllegalStateException("calibration range of " + in + " channels expected, got " + x.channels());
        }
        float[] data = w.data();
        for (int r = 0; r < in; r++) {
            double wMax = 0;
            for (int col = 0; col < out; col++) {
                wMax = Math.max(wMax, Math.abs(data[r * out + col]));
            }
            double xMax = x.absMax(r);
            double v = xMax > 0 && wMax > 0 ? Math.pow(xMax, strength) / Math.pow(wMax, 1 - strength) : 1;
            s[r] = (float) Math.max(1e-4, Math.min(1e4, v));
        }
        return s;
    }

    private static VitParameters.Norm divide(VitParameters.Norm n, float[] s) {
        return new VitParameters.Norm(map(n.weight(), s, true), n.bias() == null ? null : map(n.bias(), s, true));
    }

    private static VitParameters.Linear scaleRows(VitParameters.Linear l, float[] s) {
        Tensor w = l.weight();
        int out = (int) w.dim(1);
        float[] data = w.data().clone();
        for (int r = 0; r < s.length; r++) {
            for (int col = 0; col < out; col++) {
                data[r * out + col] *= s[r];
            }
        }
        return new VitParameters.Linear(new Tensor(data, w.shape()), l.bias());
    }

    private static Tensor map(Tensor t, float[] s, boolean divide) {
        float[] data = t.data().clone();
        for (int i = 0; i < data.length; i++) {
            data[i] = divide ? data[i] / s[i] : data[i] * s[i];
        }
        return new Tensor(data, t.shape());
    }
}
