package org.vitfit.cache;

/**
 * IEEE 754 binary16 conversions. Java 17 has no {@code Float.floatToFloat16} (that arrived in Java 20), and
 * the cache must round exactly like numpy's {@code astype(float16)} so f16 caches are reproducible anywhere.
 */
final class Half {

    private Half() {
    }

    /** Rounds to the nearest binary16, ties to even; overflow gives infinity, NaN stays NaN. */
    static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) {
            // Keep NaN a NaN even when its payload lives only in the low bits that are dropped.
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            int full = mant | 0x800000;
            int shift = 14 - e;
            int halfMant = full >>> shift;
            int rem = full & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (rem > halfway || (rem == halfway && (halfMant & 1) != 0)) {
                halfMant++;
            }
            return (short) (sign | halfMant);
        }
        int out = sign | (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        // A carry out of the mantissa correctly bumps the exponent (and reaches infinity past 65504).
        if (rem > 0x1000 || (rem == 0x1000 && (out & 1) != 0)) {
            out++;
        }
        return (short) out;
    }

    /** Exact widening; every binary16 value is representable as a float. */
    static float toFloat(short half) {
        int bits = half & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float magnitude = mant * 0x1p-24f;
            return sign != 0 ? -magnitude : magnitude;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
