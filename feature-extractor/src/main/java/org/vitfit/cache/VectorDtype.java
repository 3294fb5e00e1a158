package org.vitfit.cache;

import java.util.Locale;

/** How vectors are stored on disk; readers always get float32. */
public enum VectorDtype {
    F32("f32", 4, 1),
    F16("f16", 2, 2);

    private final String label;
    private final int bytes;
    private final int code;

    VectorDtype(String label, int bytes, int code) {
        this.label = label;
        this.bytes = bytes;
        this.code = code;
    }

    /** The name used in {@code header.json} and on the command line. */
    public String label() {
        return label;
    }

    public int bytesPerValue() {
        return bytes;
    }

    /** The number stored in the vectors file header. */
    int code() {
        return code;
    }

    /**
     * The index of the first value in {@code values[from, to)} this dtype cannot store as a finite number (NaN, an
     * infinity, or for f16 a magnitude that rounds past 65504), or -1 when all can be stored.
     */
    public int firstUnstorable(float[] values, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = values[i];
            if (!Float.isFinite(v) || (this == F16 && !Float.isFinite(Half.toFloat(Half.fromFloat(v))))) {
                return i;
            }
        }
        return -1;
    }

    /** Why {@link #firstUnstorable} picked {@code value}: empty for NaN and infinities. */
    public String unstorableReason(float value) {
        return Float.isFinite(value) ? ", beyond the f16 range (largest 65504); use --dtype f32 for a new cache" : "";
    }

    public static VectorDtype parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        for (VectorDtype d : values()) {
            if (d.label.equals(s) || (d == F32 && s.equals("float32")) || (d == F16 && s.equals("float16"))) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown vector dtype '" + text + "': use f32 or f16");
    }

    static VectorDtype fromCode(int code) {
        for (VectorDtype d : values()) {
            if (d.code == code) {
                return d;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return label;
    }
}
