package org.vitfit.convert.safetensors;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header.
 *
 * @param name  the tensor name
 * @param dtype the safetensors dtype name; {@code F32}, {@code F16} and {@code BF16} can be read as floats,
 *              the other standard dtypes (e.g. the {@code I64} {@code position_ids} buffers of older CLIP
 *              checkpoints) are validated and listed but not readable
 * @param shape the dimensions, outermost first; empty for a scalar
 * @param begin start of the tensor's bytes, relative to the data section
 * @param end   end (exclusive) of the tensor's bytes, relative to the data section
 */
public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    /** A copy, so that callers cannot change a checkpoint's recorded shape. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements: the product of the dimensions (1 for a scalar). */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Number of bytes in the data section. */
    public long byteSize() {
        return end - begin;
    }

    /** Whether {@link SafetensorsFile#readFloats} can read this tensor. */
    public boolean isFloat() {
        return Dtypes.isFloat(dtype);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype.equals(t.dtype)
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + dtype.hashCode()) + Arrays.hashCode(shape) + Long.hashCode(begin ^ end);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " bytes [" + begin + ", " + end + ")";
    }
}
