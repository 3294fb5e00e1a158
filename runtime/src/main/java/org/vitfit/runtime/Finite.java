package org.vitfit.runtime;

/**
 * "Finite or refused": vitfit never writes or prints a NaN or an infinity as a result. Every stage that produces
 * numbers (conversion, embedding, head training, prediction) checks them here and refuses with a message that
 * says where the non-finite value came from and what to change.
 */
public final class Finite {

    /** A computed result holds NaN or an infinity; the message names it and says what to do. */
    public static final class NonFiniteException extends ArithmeticException {
        public NonFiniteException(String message) {
            super(message);
        }
    }

    private Finite() {
    }

    /** The index of the first NaN or infinite value, or -1 when all are finite. */
    public static int firstNonFinite(float[] values) {
        return firstNonFinite(values, 0, values.length);
    }

    /** The index of the first non-finite value in {@code values[from, to)}, or -1. */
    public static int firstNonFinite(float[] values, int from, int to) {
        for (int i = from; i < to; i++) {
            // Multiplying by zero maps every finite value to 0 and NaN/inf to NaN: one comparison per value.
            if (values[i] * 0f != 0f) {
                return i;
            }
        }
        return -1;
    }

    public static int firstNonFinite(double[] values) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] * 0d != 0d) {
                return i;
            }
        }
        return -1;
    }

    public static boolean all(float[] values) {
        return firstNonFinite(values) < 0;
    }

    public static boolean all(double[] values) {
        return firstNonFinite(values) < 0;
    }

    /**
     * Throws when {@code values} holds a non-finite number.
     *
     * @param what   what the numbers are ("the weights of blocks.3.mlp.fc1")
     * @param advice what the user can do about it ("lower --lr")
     */
    public static void require(float[] values, String what, String advice) {
        int i = firstNonFinite(values);
        if (i >= 0) {
            throw new NonFiniteException(what + " holds " + values[i] + " at index " + i + "; " + advice);
        }
    }

    public static void require(double[] values, String what, String advice) {
        int i = firstNonFinite(values);
        if (i >= 0) {
            throw new NonFiniteException(what + " holds " + values[i] + " at index " + i + "; " + advice);
        }
    }

    public static void require(double value, String what, String advice) {
        if (!Double.isFinite(value)) {
            throw new NonFiniteException(what + " is " + value + "; " + advice);
        }
    }
}
