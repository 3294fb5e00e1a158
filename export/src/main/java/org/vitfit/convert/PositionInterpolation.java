package org.vitfit.convert;

/**
 * Resamples a grid of position embeddings the way transformers' DINOv2 does at load time:
 * {@code torch.nn.functional.interpolate(mode="bicubic", align_corners=False)} without antialiasing
 * (cubic convolution with A = -0.75, source index {@code scale * (dst + 0.5) - 0.5}, edge-clamped taps).
 * Baking it into the graph at conversion keeps the runtime graph free of a Resize node.
 */
final class PositionInterpolation {

    private static final double A = -0.75;

    private PositionInterpolation() {
    }

    /**
     * @param grid   [h, w, dim] row-major (token order of a ViT patch grid)
     * @return [outH, outW, dim]
     */
    static float[] bicubic(float[] grid, int h, int w, int dim, int outH, int outW) {
        float[] out = new float[outH * outW * dim];
        double scaleY = (double) h / outH;
        double scaleX = (double) w / outW;
        double[] wy = new double[4];
        double[] wx = new double[4];
        for (int oy = 0; oy < outH; oy++) {
            double sy = scaleY * (oy + 0.5) - 0.5;
            int iy = (int) Math.floor(sy);
            coefficients(sy - iy, wy);
            for (int ox = 0; ox < outW; ox++) {
                double sx = scaleX * (ox + 0.5) - 0.5;
                int ix = (int) Math.floor(sx);
                coefficients(sx - ix, wx);
                int o = (oy * outW + ox) * dim;
                for (int c = 0; c < dim; c++) {
                    double acc = 0;
                    for (int j = 0; j < 4; j++) {
                        int yy = clamp(iy - 1 + j, h);
                        double row = 0;
                        for (int i = 0; i < 4; i++) {
                            int xx = clamp(ix - 1 + i, w);
                            row += wx[i] * grid[(yy * w + xx) * dim + c];
                        }
                        acc += wy[j] * row;
                    }
                    out[o + c] = (float) acc;
                }
            }
        }
        return out;
    }

    private static int clamp(int i, int size) {
        return Math.max(0, Math.min(size - 1, i));
    }

    private static void coefficients(double t, double[] c) {
        c[0] = cubicFar(t + 1);
        c[1] = cubicNear(t);
        c[2] = cubicNear(1 - t);
        c[3] = cubicFar(2 - t);
    }

    private static double cubicNear(double x) {
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    }

    private static double cubicFar(double x) {
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    }
}
