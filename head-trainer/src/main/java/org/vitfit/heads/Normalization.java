package org.vitfit.heads;

import com.fasterxml.jackson.annotation.JsonInclude;
import org.tribuo.util.onnx.ONNXContext;
import org.tribuo.util.onnx.ONNXNode;
import org.tribuo.util.onnx.ONNXOperators;
import org.tribuo.util.onnx.ONNXRef;

import java.util.Arrays;
import java.util.Collections;

/**
 * Input normalisation a head applies before its model: optional L2 normalisation of each embedding, then optional
 * standardisation {@code (x - mean) * invStd} with statistics fitted on the training split only (population standard
 * deviation like scikit-learn's StandardScaler; constant components keep scale 1). Stored in {@code head.json} and
 * compiled into {@code head.onnx}.
 *
 * @param l2     whether each vector is first divided by its Euclidean norm (norms below 1e-12 are left alone)
 * @param mean   per-component mean to subtract, or null when not standardising
 * @param invStd per-component 1/std, or null when not standardising
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Normalization(boolean l2, float[] mean, float[] invStd) {

    private static final double MIN_NORM = 1e-12;

    public Normalization {
        if ((mean == null) != (invStd == null)) {
            throw new IllegalArgumentException("standardisation needs both mean and invStd");
        }
        if (mean != null && mean.length != invStd.length) {
            throw new IllegalArgumentException("mean has " + mean.length + " components but invStd " + invStd.length);
        }
    }

    public static Normalization none() {
        return new Normalization(false, null, null);
    }

    public boolean standardize() {
        return mean != null;
    }

    /** Fits on {@code rows} of {@code set}: L2 (when asked) first, then the statistics of the L2-normalised rows. */
    public static Normalization fit(EmbeddingSet set, int[] rows, boolean l2, boolean standardize) {
        if (!standardize) {
            return new Normalization(l2, null, null);
        }
        if (rows.length == 0) {
            throw new IllegalArgumentException("cannot fit standardisation on an empty training split");
        }
        int d = set.dimension();
        Normalization l2Only = new Normalization(l2, null, null);
        double[] sum = new double[d];
        double[] sumSq = new double[d];
        float[] x = new float[d];
        float[] data = set.data();
        for (int r : rows) {
            l2Only.apply(data, r * d, x, 0, d);
            for (int j = 0; j < d; j++) {
                sum[j] += x[j];
            }
        }
        float[] mean = new float[d];
        for (int j = 0; j < d; j++) {
            mean[j] = (float) (sum[j] / rows.length);
        }
        for (int r : rows) {
            l2Only.apply(data, r * d, x, 0, d);
            for (int j = 0; j < d; j++) {
                double c = x[j] - mean[j];
                sumSq[j] += c * c;
            }
        }
        float[] invStd = new float[d];
        for (int j = 0; j < d; j++) {
            double std = Math.sqrt(sumSq[j] / rows.length);
            invStd[j] = std < 1e-12 ? 1f : (float) (1 / std);
        }
        return new Normalization(l2, mean, invStd);
    }

    /** Normalises {@code d} floats of {@code src} from {@code srcOff} into {@code dst} at {@code dstOff}. */
    public void apply(float[] src, int srcOff, float[] dst, int dstOff, int d) {
        if (mean != null && mean.length != d) {
            throw new IllegalArgumentException("normalisation was fitted on " + mean.length
                    + "-dimensional embeddings, got " + d);
        }
        float scale = 1f;
        if (l2) {
            double norm = 0;
            for (int j = 0; j < d; j++) {
                double v = src[srcOff + j];
                norm += v * v;
            }
            norm = Math.sqrt(norm);
            scale = (float) (1 / Math.max(norm, MIN_NORM));
        }
        for (int j = 0; j < d; j++) {
            float v = src[srcOff + j] * scale;
            dst[dstOff + j] = mean == null ? v : (v - mean[j]) * invStd[j];
        }
    }

    /** The same computation as ONNX nodes applied to {@code input} ({@code [batch][d]} floats). */
    ONNXRef<?> writeONNXGraph(ONNXRef<?> input) {
        ONNXContext onnx = input.onnxContext();
        ONNXRef<?> x = input;
        if (l2) {
            ONNXNode sumSq = x.apply(ONNXOperators.MUL, x)
                    .apply(ONNXOperators.REDUCE_SUM, onnx.array("l2_axes", new long[] {1}),
                            Collections.singletonMap("keepdims", 1));
            ONNXNode norm = sumSq.apply(OnnxOps.SQRT).apply(OnnxOps.MAX, onnx.constant("min_norm", (float) MIN_NORM));
            x = x.apply(ONNXOperators.DIV, norm);
        }
        if (mean != null) {
            x = x.apply(ONNXOperators.SUB, onnx.array("standardize_mean", mean))
                    .apply(ONNXOperators.MUL, onnx.array("standardize_inv_std", invStd));
        }
        return x;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && n.l2 == l2 && Arrays.equals(n.mean, mean) && Arrays.equals(n.invStd, invStd);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Boolean.hashCode(l2) + Arrays.hashCode(mean)) + Arrays.hashCode(invStd);
    }

    @Override
    public String toString() {
        return "Normalization[l2=" + l2 + ", standardize=" + standardize() + "]";
    }
}
