package org.vitfit.heads;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The dense multilayer perceptron shared by the MLP classification and multi-label heads.
 *
 * <p>Layer {@code l} maps {@code sizes[l]} inputs to {@code sizes[l+1]} outputs with a weight matrix stored row-major
 * as {@code [in][out]} (the layout of ONNX Gemm's B input) and a bias of length {@code out}. Every inner loop is an
 * axpy over a contiguous row ({@code out[j] += a * w[j]}), the shape HotSpot's superword pass turns into SIMD code;
 * the work is split over batch rows (forward, input gradients) or over weight rows (weight gradients) so that each
 * output element is written by exactly one task and results are identical for any thread count.
 */
public final class MlpNetwork {

    /** Rows handed to one task: large enough to amortise the fork, small enough to balance two to sixteen cores. */
    private static final int ROW_BLOCK = 8;

    private final int[] sizes;
    private final Activation activation;
    private final float[][] weights;
    private final float[][] biases;

    MlpNetwork(int[] sizes, Activation activation, float[][] weights, float[][] biases) {
        if (sizes.length < 2) {
            throw new IllegalArgumentException("an MLP needs at least an input and an output size, got "
                    + Arrays.toString(sizes));
        }
        if (weights.length != sizes.length - 1 || biases.length != sizes.length - 1) {
            throw new IllegalArgumentException("expected " + (sizes.length - 1) + " weight matrices and bias vectors for sizes "
                    + Arrays.toString(sizes) + ", got " + weights.length + " and " + biases.length);
        }
        for (int l = 0; l < weights.length; l++) {
            if (weights[l].length != sizes[l] * sizes[l + 1] || biases[l].length != sizes[l + 1]) {
                throw new IllegalArgumentException("layer " + l + " should hold " + sizes[l] + "x" + sizes[l + 1]
                        + " weights and " + sizes[l + 1] + " biases, got " + weights[l].length + " and " + biases[l].length);
            }
        }
        this.sizes = sizes.clone();
        this.activation = activation;
        this.weights = weights;
        this.biases = biases;
    }

    /** PyTorch's nn.Linear initialisation: weights and biases uniform in +-1/sqrt(fan_in). */
    static MlpNetwork initialise(int[] sizes, Activation activation, SplittableRandom rng) {
        float[][] w = new float[sizes.length - 1][];
        float[][] b = new float[sizes.length - 1][];
        for (int l = 0; l < w.length; l++) {
            double bound = 1.0 / Math.sqrt(sizes[l]);
            w[l] = new float[sizes[l] * sizes[l + 1]];
            b[l] = new float[sizes[l + 1]];
            for (int i = 0; i < w[l].length; i++) {
                w[l][i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            }
            for (int i = 0; i < b[l].length; i++) {
                b[l][i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            }
        }
        return new MlpNetwork(sizes, activation, w, b);
    }

    public int inputSize() {
        return sizes[0];
    }

    public int outputSize() {
        return sizes[sizes.length - 1];
    }

    public int layers() {
        return weights.length;
    }

    public int[] sizes() {
        return sizes.clone();
    }

    public Activation activation() {
        return activation;
    }

    /** The live weight matrix of layer {@code l}, {@code [in][out]} row-major; callers must not modify it. */
    float[] weights(int l) {
        return weights[l];
    }

    float[] bias(int l) {
        return biases[l];
    }

    /** All trainable tensors, weights first then biases, in the order {@link AdamW} and {@link Gradients} use. */
    float[][] parameters() {
        float[][] p = new float[2 * weights.length][];
        for (int l = 0; l < weights.length; l++) {
            p[l] = weights[l];
            p[weights.length + l] = biases[l];
        }
        return p;
    }

    MlpNetwork copy() {
        float[][] w = new float[weights.length][];
        float[][] b = new float[biases.length][];
        for (int l = 0; l < w.length; l++) {
            w[l] = weights[l].clone();
            b[l] = biases[l].clone();
        }
        return new MlpNetwork(sizes, activation, w, b);
    }

    /** Inference: logits {@code [batch][out]} for inputs {@code [batch][in]}, both row-major. */
    public float[] logits(float[] input, int batch) {
        float[] a = input;
        for (int l = 0; l < weights.length; l++) {
            float[] z = dense(l, a, batch);
            if (l < weights.length - 1) {
                activateInPlace(z);
            }
            a = z;
        }
        return a;
    }

    /** Activations kept by a training forward pass for {@link #backward}. */
    static final class Trace {
        final int batch;
        /** inputs[l] = the (dropped-out) input of layer l; inputs[0] is the batch itself. */
        final float[][] inputs;
        /** pre[l] = pre-activation output of hidden layer l (l < layers-1). */
        final float[][] pre;
        /** masks[l] = dropout scale (0 or 1/(1-p)) applied to hidden layer l's activation, null without dropout. */
        final float[][] masks;
        final float[] logits;

        Trace(int batch, float[][] inputs, float[][] pre, float[][] masks, float[] logits) {
            this.batch = batch;
            this.inputs = inputs;
            this.pre = pre;
            this.masks = masks;
            this.logits = logits;
        }
    }

    /** Training forward pass with inverted dropout on every hidden layer; the mask is drawn from {@code rng}. */
    Trace forwardTrain(float[] input, int batch, float dropout, SplittableRandom rng) {
        int hidden = weights.length - 1;
        float[][] inputs = new float[weights.length][];
        float[][] pre = new float[hidden][];
        float[][] masks = new float[hidden][];
        inputs[0] = input;
        float[] logits = null;
        for (int l = 0; l < weights.length; l++) {
            float[] z = dense(l, inputs[l], batch);
            if (l == hidden) {
                logits = z;
                break;
            }
            pre[l] = z;
            float[] a = z.clone();
            activateInPlace(a);
            if (dropout > 0f) {
                float keep = 1f / (1f - dropout);
                float[] mask = new float[a.length];
                for (int i = 0; i < mask.length; i++) {
                    mask[i] = rng.nextDouble() < dropout ? 0f : keep;
                }
                for (int i = 0; i < a.length; i++) {
                    a[i] *= mask[i];
                }
                masks[l] = mask;
            }
            inputs[l + 1] = a;
        }
        return new Trace(batch, inputs, pre, masks, logits);
    }

    /** Gradients of all parameters, laid out like {@link #parameters()}. */
    static final class Gradients {
        final float[][] tensors;

        Gradients(float[][] tensors) {
            this.tensors = tensors;
        }
    }

    /** Back-propagates {@code dLogits} (d loss / d logits, {@code [batch][out]}) through the traced forward pass. */
    Gradients backward(Trace trace, float[] dLogits) {
        int layers = weights.length;
        int batch = trace.batch;
        float[][] grads = new float[2 * layers][];
        float[] delta = dLogits;
        for (int l = layers - 1; l >= 0; l--) {
            int in = sizes[l];
            int out = sizes[l + 1];
            float[] a = trace.inputs[l];
            float[] d = delta;
            float[] gw = new float[in * out];
            parallelRows(in, i -> {
                int wRow = i * out;
                for (int b = 0; b < batch; b++) {
                    float ai = a[b * in + i];
                    if (ai != 0f) {
                        int dRow = b * out;
                        for (int j = 0; j < out; j++) {
                            gw[wRow + j] += ai * d[dRow + j];
                        }
                    }
                }
            });
            float[] gb = new float[out];
            for (int b = 0; b < batch; b++) {
                int dRow = b * out;
                for (int j = 0; j < out; j++) {
                    gb[j] += d[dRow + j];
                }
            }
            grads[l] = gw;
            grads[layers + l] = gb;
            if (l > 0) {
                float[] wt = transpose(weights[l], in, out);
                float[] prev = new float[batch * in];
                float[] pre = trace.pre[l - 1];
                float[] mask = trace.masks[l - 1];
                parallelRows(batch, b -> {
                    int pRow = b * in;
                    int dRow = b * out;
                    for (int j = 0; j < out; j++) {
                        float dj = d[dRow + j];
                        if (dj != 0f) {
                            int tRow = j * in;
                            for (int i = 0; i < in; i++) {
                                prev[pRow + i] += dj * wt[tRow + i];
                            }
                        }
                    }
                    for (int i = 0; i < in; i++) {
                        float g = prev[pRow + i] * activation.derivative(pre[pRow + i]);
                        prev[pRow + i] = mask == null ? g : g * mask[pRow + i];
                    }
                });
                delta = prev;
            }
        }
        return new Gradients(grads);
    }

    private float[] dense(int l, float[] a, int batch) {
        int in = sizes[l];
        int out = sizes[l + 1];
        float[] w = weights[l];
        float[] bias = biases[l];
        float[] z = new float[batch * out];
        parallelRows(batch, b -> {
            int zRow = b * out;
            System.arraycopy(bias, 0, z, zRow, out);
            int aRow = b * in;
            for (int i = 0; i < in; i++) {
                float ai = a[aRow + i];
                if (ai != 0f) {
                    int wRow = i * out;
                    for (int j = 0; j < out; j++) {
                        z[zRow + j] += ai * w[wRow + j];
                    }
                }
            }
        });
        return z;
    }

    private void activateInPlace(float[] z) {
        parallelRows((z.length + 255) / 256, block -> {
            int end = Math.min(z.length, (block + 1) * 256);
            for (int i = block * 256; i < end; i++) {
                z[i] = activation.apply(z[i]);
            }
        });
    }

    private static float[] transpose(float[] m, int rows, int cols) {
        float[] t = new float[m.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = m[r * cols + c];
            }
        }
        return t;
    }

    /** Runs {@code body} for rows 0..n-1, in blocks on the common fork-join pool when there is enough work. */
    private static void parallelRows(int n, java.util.function.IntConsumer body) {
        if (n <= ROW_BLOCK) {
            for (int i = 0; i < n; i++) {
                body.accept(i);
            }
            return;
        }
        int blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
        IntStream.range(0, blocks).parallel().forEach(block -> {
            int end = Math.min(n, (block + 1) * ROW_BLOCK);
            for (int i = block * ROW_BLOCK; i < end; i++) {
                body.accept(i);
            }
        });
    }
}
