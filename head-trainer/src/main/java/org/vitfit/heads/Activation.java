package org.vitfit.heads;

/** Hidden-layer non-linearity of the MLP head. GELU is the exact (erf) form PyTorch uses by default. */
public enum Activation {
    GELU,
    RELU;

    private static final double INV_SQRT2 = 0.7071067811865476;
    private static final double INV_SQRT_2PI = 0.3989422804014327;

    float apply(float x) {
        if (this == RELU) {
            return x > 0 ? x : 0f;
        }
        return (float) (0.5 * x * (1.0 + erf(x * INV_SQRT2)));
    }

    /** d activation / d x at pre-activation {@code x}. */
    float derivative(float x) {
        if (this == RELU) {
            return x > 0 ? 1f : 0f;
        }
        double cdf = 0.5 * (1.0 + erf(x * INV_SQRT2));
        double pdf = INV_SQRT_2PI * Math.exp(-0.5 * (double) x * x);
        return (float) (cdf + x * pdf);
    }

    /**
     * Error function through the Chebyshev fit of erfc from Numerical Recipes (fractional error below 1.2e-7 for
     * every x), which is finer than float resolution of GELU's output, so the Java head and ONNX Runtime's Erf agree
     * to about 1e-7.
     */
    static double erf(double x) {
        double z = Math.abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - erfc : erfc - 1.0;
    }
}
