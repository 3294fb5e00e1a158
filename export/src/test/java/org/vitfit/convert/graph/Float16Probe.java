package org.vitfit.convert.graph;

/** Test access to {@link OnnxGraph}'s package-private float16 rounding. */
public final class Float16Probe {
    private Float16Probe() {
    }

    public static short bits(float f) {
        return OnnxGraph.toFloat16(f);
    }
}
