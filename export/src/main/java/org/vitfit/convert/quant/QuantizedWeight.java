package org.vitfit.convert.quant;

import org.vitfit.convert.Tensor;
import org.vitfit.convert.graph.OnnxGraph;

/**
 * A linear layer's weight [in, out] quantised to int8 symmetrically per output column: {@code W[:, j] ~ q[:, j] *
 * scales[j]}, zero point 0, values in [-127, 127] (never -128, so negating a value cannot overflow). A column of small
 * weights keeps its resolution because it gets its own scale.
 */
record QuantizedWeight(byte[] values, float[] scales, int in, int out) {

    static QuantizedWeight perColumn(Tensor w) {
        int in = (int) w.dim(0);
        int out = (int) w.dim(1);
        float[] data = w.data();
        float[] scales = new float[out];
        for (int r = 0; r < in; r++) {
            for (int c = 0; c < out; c++) {
                scales[c] = Math.max(scales[c], Math.abs(data[r * out + c]));
            }
        }
        for (int c = 0; c < out; c++) {
            // An all-zero column quantises to zeros with any scale; 1 avoids dividing by zero.
            scales[c] = scales[c] == 0f ? 1f : scales[c] / 127f;
        }
        byte[] q = new byte[data.length];
        for (int r = 0; r < in; r++) {
            for (int c = 0; c < out; c++) {
                long v = Math.round(data[r * out + c] / scales[c]);
                q[r * out + c] = (byte) Math.max(-127, Math.min(127, v));
            }
        }
        return new QuantizedWeight(q, scales, in, out);
    }

    /** Adds the int8 values, zero point(s) and per-column scales as initializers; returns {values, scales, zero points}. */
    String[] addTo(OnnxGraph g, String name, boolean perColumnZeroPoint) {
        String wq = g.int8Initializer(name + ".weight_quant", values, in, out);
        String wz = perColumnZeroPoint ? g.int8Initializer(name + ".weight_zero_point", new byte[out], out)
                : g.int8Initializer(name + ".weight_zero_point", new byte[] {0});
        String ws = g.floatInitializer(name + ".weight_scale", scales, out);
        return new String[] {wq, ws, wz};
    }
}
