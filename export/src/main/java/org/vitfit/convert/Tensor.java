package org.vitfit.convert;

import java.util.Arrays;

/** A float32 tensor held in memory while the graph is built. */
public record Tensor(float[] data, long[] shape) {

    public Tensor {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != data.length) {
            throw new IllegalArgumentException(data.length + " values for shape " + Arrays.toString(shape));
        }
    }

    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int rank() {
        return shape.length;
    }

    public Tensor reshape(long... newShape) {
        return new Tensor(data, newShape);
    }

    /** [out, in] (PyTorch Linear layout) to [in, out] (what ONNX MatMul wants on the right). */
    public Tensor transpose2d() {
        if (shape.length != 2) {
            throw new IllegalStateException("transpose2d on rank " + shape.length);
        }
        int rows = (int) shape[0];
        int cols = (int) shape[1];
        float[] t = new float[data.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = data[r * cols + c];
            }
        }
        return new Tensor(t, new long[] {cols, rows});
    }

    /** Stacks tensors along dimension 0 (for fusing separate q, k, v projections into one). */
    public static Tensor concat0(Tensor... parts) {
        long rows = 0;
        int total = 0;
        for (Tensor p : parts) {
            rows += p.shape[0];
            total += p.data.length;
        }
        float[] out = new float[total];
        int at = 0;
        for (Tensor p : parts) {
            System.arraycopy(p.data, 0, out, at, p.data.length);
            at += p.data.length;
        }
        long[] shape = parts[0].shape.clone();
        shape[0] = rows;
        return new Tensor(out, shape);
    }
}
