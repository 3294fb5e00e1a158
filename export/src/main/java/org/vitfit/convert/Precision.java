package org.vitfit.convert;

import java.util.Locale;

/**
 * The numeric precision of a converted model. Inputs ({@code pixel_values}) and outputs stay float32 whatever the
 * precision, so callers never change.
 */
public enum Precision {
    /** Float32 weights and compute: bit-for-bit the reference forward pass (within float rounding). */
    FP32,
    /**
     * Float16 weights and compute, for the CUDA execution provider (tensor cores, half the memory traffic). Casts at
     * the graph's edges keep its inputs and outputs float32. On CPU it runs, but ONNX Runtime computes most float16
     * operators by casting to float32 and back, so it is slower there than fp32.
     */
    FP16,
    /**
     * For CPU: int8 weights per output channel and uint8 activations. Dynamic (no calibration images): the qkv,
     * attention-projection, fc1 and head layers, activations quantised per tensor at run time
     * ({@link org.vitfit.convert.quant.DynamicInt8}). Calibrated (static, {@code --calibration}): nearly every product
     * of the blocks, activation scales measured on the user's images and smoothed first
     * ({@link org.vitfit.convert.quant.Quantizing}).
     */
    INT8;

    /** The name used on the command line and in {@code vitfit-model.json}: {@code fp32}, {@code fp16}, {@code int8}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Precision parse(String text) {
        for (Precision p : values()) {
            if (p.label().equalsIgnoreCase(text.trim())) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown precision '" + text + "': use fp32, fp16 or int8");
    }
}
