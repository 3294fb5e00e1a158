package org.vitfit.convert.safetensors;

import java.util.Map;

/** Element sizes of the safetensors dtypes and the exact widening of the 16-bit float formats. */
final class Dtypes {

    private Dtypes() {
    }

    /** Byte-sized dtypes of the safetensors format; the sub-byte ones (F4, F6_*) are not supported. */
    private static final Map<String, Integer> SIZES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1),
            Map.entry("F8_E5M2", 1), Map.entry("F8_E4M3", 1), Map.entry("F8_E8M0", 1),
            Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /** Bytes per element, or -1 for a dtype this reader does not know. */
    static int sizeOf(String dtype) {
        Integer size = SIZES.get(dtype);
        return size == null ? -1 : size;
    }

    static boolean isFloat(String dtype) {
        return "F32".equals(dtype) || "F16".equals(dtype) || "BF16".equals(dtype);
    }

    /** IEEE binary16 to binary32; every half value, subnormals and NaN payloads included, is representable. */
    static float halfToFloat(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            // Subnormal (or zero): mantissa * 2^-24, exact in float32 because the result is a normal float.
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
    }

    /** bfloat16 is the upper half of a binary32, so widening is a shift. */
    static float bfloat16ToFloat(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xFFFF) << 16);
    }
}
