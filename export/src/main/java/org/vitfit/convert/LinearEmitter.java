package org.vitfit.convert;

import org.vitfit.convert.graph.OnnxGraph;

import java.util.Map;

/**
 * How {@link VitGraphBuilder} writes a linear layer {@code y = x W + b} ({@code W} [in, out]): the one place where
 * the float and the int8 graphs differ.
 */
interface LinearEmitter {

    /** Emits the layer and returns the name of {@code y}. */
    String emit(OnnxGraph g, String name, String x, VitParameters.Linear l);

    /**
     * The emitter for a layer whose input comes straight out of the MLP activation (fc2). That input is not
     * normalised and carries a few huge channels, so per-tensor activation quantisation flattens everything else:
     * measured on the bundled ViT-Tiny (21 real images), int8 fc2 layers took the worst embedding cosine with fp32
     * to 0.915 (block 7's fc2 alone to 0.924), while keeping every fc2 float keeps it at 0.993.
     */
    default LinearEmitter forActivationInput() {
        return this;
    }

    /** MatMul + Add on the float weight (float16 too: the graph decides how its float initializers are stored). */
    LinearEmitter FLOAT = (g, name, x, l) -> {
        String w = g.floatInitializer(name + ".weight", l.weight().data(), l.weight().shape());
        String y = g.op("MatMul", name + ".matmul", x, w);
        if (l.bias() == null) {
            return y;
        }
        return g.op("Add", name, y, g.floatInitializer(name + ".bias", l.bias().data(), l.bias().shape()));
    };

    /**
     * Dynamic quantisation in standard ONNX ops, in exactly the shape ONNX Runtime's optimiser fuses
     * ({@code MatMulIntegerToFloatFusion}, then {@code DynamicQuantizeMatMulFusion}) into one
     * {@code com.microsoft.DynamicQuantizeMatMul} kernel per layer:
     * <pre>
     *   DynamicQuantizeLinear(x) -> xq (uint8), xs, xzp
     *   MatMulInteger(xq, Wq int8 [in,out], xzp, 0) -> int32
     *   Cast(float) * Mul(xs, ws [out]) + b
     * </pre>
     * The weight is quantised symmetrically per output column ({@code ws[j] = max|W[:,j]| / 127}, zero point 0), so a
     * column of small weights keeps its resolution. uint8 activations with int8 weights (U8S8) is the combination
     * ONNX Runtime's x86 kernels are fastest at; with AVX-512 VNNI / AVX-VNNI the int32 accumulation cannot saturate.
     * On x86 CPUs without VNNI, MLAS's AVX2 U8S8 kernel sums pairs of products in int16 and can saturate for
     * extreme inputs; the int8 accuracy guard (cosine against fp32) is the check for that. MLP outputs (fc2) stay
     * float: see {@link #forActivationInput()}.
     */
    LinearEmitter INT8_DYNAMIC = new LinearEmitter() {
        @Override
        public LinearEmitter forActivationInput() {
            return FLOAT;
        }

        @Override
        public String emit(OnnxGraph g, String name, String x, VitParameters.Linear l) {
            Tensor w = l.weight();
            int in = (int) w.dim(0);
            int out = (int) w.dim(1);
            float[] scales = new float[out];
            float[] data = w.data();
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
            String wq = g.int8Initializer(name + ".weight_quant", q, in, out);
            String wZero = g.int8Initializer(name + ".weight_zero_point", new byte[] {0});
            String ws = g.floatInitializer(name + ".weight_scale", scales, out);
            String[] dq = g.ops("DynamicQuantizeLinear", name + ".input_quant", Map.of(), 3, x);
            String acc = g.op("MatMulInteger", name + ".matmul_int", dq[0], wq, dq[2], wZero);
            String accF = g.op("Cast", name + ".matmul_float", Map.of("to", 1L), acc);
            String scale = g.op("Mul", name + ".output_scale", dq[1], ws);
            String y = g.op("Mul", name + ".matmul", accF, scale);
            if (l.bias() == null) {
                return y;
            }
            return g.op("Add", name, y, g.floatInitializer(name + ".bias", l.bias().data(), l.bias().shape()));
        }
    };
}
