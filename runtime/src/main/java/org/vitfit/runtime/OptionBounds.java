package org.vitfit.runtime;

/**
 * The allowed range of numeric options, checked in one place so every command answers an absurd value with the
 * same sentence ({@code --threads must be between 1 and 256, got 100000 (decode threads; ...)}) instead of running
 * out of memory with a stack trace, and so that {@code extract} and {@code predict}, which share their decode
 * pipeline, share their limits too.
 */
public final class OptionBounds {

    /**
     * Largest {@code --batch-size}: a batch of 224x224 images takes 0.6 MB each, and past a few hundred images a
     * batch is no faster on any device (the default is 8 on CPU, 32 on CUDA).
     */
    public static final int MAX_BATCH_SIZE = 4096;

    /**
     * Largest {@code --threads} for threads that each hold a decoded image: a preprocessed image is 0.6 MB at
     * 224x224 (3.2 MB at 518x518) of direct memory, and 100,000 decode threads ran the JVM out of memory with a stack
     * trace instead of an answer.
     */
    public static final int MAX_THREADS = 256;

    private OptionBounds() {
    }

    /** {@code --batch-size} of the commands that run the model on batches of images. */
    public static int batchSize(int value) {
        return (int) require("--batch-size", value, 1, MAX_BATCH_SIZE, "images per inference call; the default, 8 "
                + "on cpu and 32 on cuda, is close to the fastest");
    }

    /** {@code --threads} of the commands that decode images on worker threads. */
    public static int decodeThreads(int value) {
        return (int) require("--threads", value, 1, MAX_THREADS, "decode threads; the default, one per core, keeps "
                + "the model busy");
    }

    /**
     * @param meaning what the option is, for the message (no final period)
     * @return {@code value}
     * @throws IllegalArgumentException outside {@code [min, max]}, naming the option, the range and the value
     */
    public static long require(String option, long value, long min, long max, String meaning) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(option + " must be between " + min + " and " + max + ", got " + value
                    + " (" + meaning + ")");
        }
        return value;
    }

    /** {@link #require(String, long, long, long, String)} for a real-valued option; NaN is out of every range. */
    public static double require(String option, double value, double min, double max, String meaning) {
        if (!(value >= min && value <= max)) {
            throw new IllegalArgumentException(option + " must be between " + plain(min) + " and " + plain(max)
                    + ", got " + value + " (" + meaning + ")");
        }
        return value;
    }

    /** A lower bound only: the option has no meaningful upper limit. */
    public static long requireAtLeast(String option, long value, long min, String meaning) {
        if (value < min) {
            throw new IllegalArgumentException(option + " must be at least " + min + ", got " + value + " ("
                    + meaning + ")");
        }
        return value;
    }

    private static String plain(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
