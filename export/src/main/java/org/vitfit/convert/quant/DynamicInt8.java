package org.vitfit.convert.quant;

import org.vitfit.convert.LinearEmitter;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.graph.OnnxGraph;

import java.util.Map;

/**
 * Dynamic int8 ({@code vitfit convert --precision int8} without {@code --calibration}): weights quantised per output
 * column ahead of time ({@link QuantizedWeight}), activations per tensor at run time, in standard ONNX ops in exactly
 * the shape ONNX Runtime's optimiser fuses ({@code MatMulIntegerToFloatFusion}, then {@code
 * DynamicQuantizeMatMulFusion}) into one {@code com.microsoft.DynamicQuantizeMatMul} kernel per layer:
 * <pre>
 *   DynamicQuantizeLinear(x) -> xq (uint8), xs, xzp
 *   MatMulInteger(xq, Wq int8 [in,out], xzp, 0) -> int32
 *   Cast(float) * Mul(xs, ws [out]) + b
 * </pre>
 * uint8 activations with int8 weights (U8S8) is the combination ONNX Runtime's x86 kernels are fastest at; with
 * AVX-512 VNNI / AVX-VNNI the int32 accumulation cannot saturate. On x86 CPUs without VNNI, MLAS's AVX2 U8S8 kernel
 * sums pairs of products in int16 and can saturate for extreme inputs; the int8 accuracy guard (cosine against fp32)
 * is the check for that.
 *
 * <p>fc2 stays float: its input comes straight out of the MLP activation, is not normalised and carries a few huge
 * channels, so per-tensor activation quantisation flattens everything else. Measured on the bundled ViT-Tiny (21 real
 * images): int8 fc2 layers took the worst embedding cosine with fp32 to 0.915 (block 7's fc2 alone to 0.924), while
 * keeping every fc2 float keeps it at 0.993. Static quantisation ({@link StaticInt8}) smooths those channels first.
 */
public final class DynamicInt8 implements LinearEmitter {

    public static final DynamicInt8 INSTANCE = new DynamicInt8();

    private DynamicInt8() {
    }

    @Override
    public LinearEmitter forActivationInput() {
        return FLOAT;
    }

    @Override
    public String emit(OnnxGraph g, String name, String x, VitParameters.Linear l) {
        String[] w = QuantizedWeight.perColumn(l.weight()).addTo(g, name, false);
        String[] dq = g.ops("DynamicQuantizeLinear", name + ".input_quant", Map.of(), 3, x);
        String acc = g.op("MatMulInteger", name + ".matmul_int", dq[0], w[0], dq[2], w[2]);
        String accF = g.op("Cast", name + ".matmul_float", Map.of("to", 1L), acc);
        String scale = g.op("Mul", name + ".output_scale", dq[1], w[1]);
        String y = g.op("Mul", name + ".matmul", accF, scale);
        if (l.bias() == null) {
            return y;
        }
        return g.op("Add", name, y, g.floatInitializer(name + ".bias", l.bias().data(), l.bias().shape()));
    }
}
