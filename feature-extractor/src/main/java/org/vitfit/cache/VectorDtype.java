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
