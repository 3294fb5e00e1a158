package org.vitfit.heads;

import com.github.lbfgs4j.liblbfgs.Lbfgs;
import com.github.lbfgs4j.liblbfgs.LbfgsConstant;
import com.github.lbfgs4j.liblbfgs.MutableDouble;
import org.vitfit.runtime.Finite;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * L2-regularised logistic regression, the convex problem scikit-learn's {@code LogisticRegression(solver="lbfgs")}
 * solves, minimised with L-BFGS (lbfgs4j, a Java port of Okazaki's liblbfgs, with the More-Thuente line search):
 * <pre>
 *   minimise  sum_i s_i * loss_i(W, b) / sum_i s_i  +  ||W||^2 / (2 C sum_i s_i)
 * </pre>
 * which is scikit-learn's {@code C * sum_i s_i loss_i + ||W||^2 / 2} divided by {@code C sum_i s_i}: the same
 * minimiser, so {@code C} means what it means there. The bias is not penalised (as with lbfgs there).
 * {@link Link#SOFTMAX} is the multinomial loss of a multi-class head; {@link Link#SIGMOID} the sum of one binary
 * cross-entropy per label of a multi-label head (one-vs-rest logistic regressions sharing C, solved jointly).
 *
 * <p>Parameters are laid out per output: {@code params[c * (d + 1) + j]} is the weight of feature j for output c,
 * {@code params[c * (d + 1) + d]} its bias. Sums over rows run in fixed chunks whose partial results are added in
 * order, so the result does not depend on the number of threads.
 */
final class LogisticRegression {

    /** The output non-linearity and its matching loss. */
    enum Link {
        SOFTMAX,
        SIGMOID
    }

    /** Iteration limit of one fit; the regularised problems converge well before it. */
    static final int MAX_ITERATIONS = 1000;
    /**
     * A fit stops when the largest gradient component of the (mean-scaled) objective is below this: tight for the
     * head itself, looser while C is being chosen, where only the validation figures of each C matter.
     */
    static final double GRADIENT_TOLERANCE = 1e-6;
    static final double SEARCH_TOLERANCE = 1e-4;
    private static final int CHUNK = 1024;
    private static final int PARALLEL_ROWS = 4 * CHUNK;

    /**
     * The training rows: normalised features {@code x [n][d]}, 0/1 targets {@code y [n][k]} (one-hot for
     * softmax), example weights {@code s [n]} (null: all 1).
     */
    record Data(float[] x, int n, int d, float[] y, int k, float[] s, Link link) {
        Data {
            if (x.length != (long) n * d || y.length != (long) n * k || (s != null && s.length != n)) {
                throw new IllegalArgumentException("inconsistent logistic-regression data: n " + n + ", d " + d
                        + ", k " + k);
            }
        }

        int parameters() {
            return k * (d + 1);
        }

        double weight(int row) {
            return s == null ? 1 : s[row];
        }
    }

    /**
     * One solution.
     *
     * @param params     see the class comment
     * @param iterations L-BFGS iterations taken
     * @param loss       mean data loss at the solution (without the penalty; per label for sigmoid)
     * @param lossCurve  mean data loss after each iteration (per label for sigmoid)
     * @param status     how L-BFGS stopped (liblbfgs's return code name)
     * @param converged  whether the gradient test was met ({@code status} may also be an error of the line search
     *                   near the optimum, where the tolerance was not met)
     */
    record Fit(double[] params, int iterations, double loss, List<Double> lossCurve, String status, boolean converged) {
    }

    private LogisticRegression() {
    }

    /**
     * Minimises the objective over {@code rows} of {@code data} for inverse regularisation strength {@code c},
     * starting from {@code start} (zeros when null; a neighbouring C's solution makes a path cheap).
     */
    static Fit fit(Data data, int[] rows, double c, double[] start) {
        return fit(data, rows, c, start, GRADIENT_TOLERANCE);
    }

    /** {@link #fit(Data, int[], double, double[])} stopping at gradient components below {@code tolerance}. */
    static Fit fit(Data data, int[] rows, double c, double[] start, double tolerance) {
        if (!(c > 0) || !Double.isFinite(c)) {
            throw new IllegalArgumentException("C must be a positive finite number, got " + c);
        }
        int p = data.parameters();
        double[] params = start == null ? priorStart(data, rows) : start.clone();
        double totalWeight = 0;
        for (int r : rows) {
            totalWeight += data.weight(r);
        }
        double lambda = 1 / (c * totalWeight);
        if (!Double.isFinite(lambda)) {
            throw new IllegalArgumentException("C " + c + " (--C) is too small to compute with: the penalty 1 / (C x "
                    + "rows) overflows; use a larger --C (1 is scikit-learn's default)");
        }
        double scale = 1 / totalWeight;
        double[] lastLoss = {Double.NaN};
        LbfgsConstant.LBFGS_Evaluate evaluate = (instance, w, g, n, step) -> {
            double loss = lossAndGradient(data, rows, w, g) * scale;
            for (int i = 0; i < p; i++) {
                g[i] *= scale;
            }
            double penalty = 0;
            for (int cls = 0; cls < data.k(); cls++) {
                int base = cls * (data.d() + 1);
                for (int j = 0; j < data.d(); j++) {
                    double wj = w[base + j];
                    penalty += wj * wj;
                    g[base + j] += lambda * wj;
                }
            }
            lastLoss[0] = loss;
            return loss + 0.5 * lambda * penalty;
        };
        List<Double> curve = new ArrayList<>();
        double perLabel = data.link() == Link.SIGMOID ? 1.0 / data.k() : 1.0;
        LbfgsConstant.LBFGS_Progress progress = (instance, w, g, fx, xnorm, gnorm, step, n, k, ls) -> {
            curve.add(lastLoss[0] * perLabel);
            double max = 0;
            for (double v : g) {
                max = Math.max(max, Math.abs(v));
            }
            return max <= tolerance ? LbfgsConstant.ReturnValue.LBFGS_STOP
                    : LbfgsConstant.ReturnValue.LBFGS_SUCCESS;
        };
        LbfgsConstant.LBFGS_Param param = Lbfgs.defaultParams();
        param.m = 10;
        param.epsilon = 0; // our own test in the progress callback decides convergence
        param.max_iterations = MAX_ITERATIONS;
        LbfgsConstant.ReturnValue status = Lbfgs.lbfgs(p, params, new MutableDouble(), evaluate, progress, null, param);
        Finite.require(params, "the logistic-regression weights (C " + c + ")",
                "the embeddings may hold extreme values; check them, or lower C");
        double loss = lossAndGradient(data, rows, params, null) * scale * perLabel;
        Finite.require(loss, "the training loss of the logistic regression (C " + c + ")", "lower C");
        // LBFGS_STOP is our gradient test; the others are liblbfgs's own success codes.
        boolean converged = switch (status) {
            case LBFGS_STOP, LBFGS_SUCCESS, LBFGS_CONVERGENCE, LBFGS_ALREADY_MINIMIZED -> true;
            default -> false;
        };
        return new Fit(params, curve.size(), loss, curve, status.name(), converged);
    }

    /**
     * The starting point of a fit without a warm start: zero weights and the biases of the intercept-only model
     * (log class frequencies for softmax, log-odds per label for sigmoid, frequencies kept inside
     * [1/(2n), 1 - 1/(2n)]). Under strong regularisation the solution is close to it; from zeros instead, the
     * unpenalised biases of rare labels crawl towards it through a badly conditioned problem (hundreds of
     * iterations).
     */
    static double[] priorStart(Data data, int[] rows) {
        int d = data.d();
        int k = data.k();
        double[] params = new double[data.parameters()];
        double[] positive = new double[k];
        double total = 0;
        for (int r : rows) {
            double s = data.weight(r);
            total += s;
            for (int c = 0; c < k; c++) {
                positive[c] += s * data.y()[r * k + c];
            }
        }
        double floor = 0.5 / Math.max(1, rows.length);
        double meanLog = 0;
        for (int c = 0; c < k; c++) {
            double freq = Math.min(1 - floor, Math.max(floor, positive[c] / Math.max(total, 1e-12)));
            double b = data.link() == Link.SOFTMAX ? Math.log(freq) : Math.log(freq / (1 - freq));
            params[c * (d + 1) + d] = b;
            meanLog += b / k;
        }
        if (data.link() == Link.SOFTMAX) {
            // a softmax ignores a common shift; centred biases keep the fit where scikit-learn's lands
            for (int c = 0; c < k; c++) {
                params[c * (d + 1) + d] -= meanLog;
            }
        }
        return params;
    }

    /**
     * Sum over {@code rows} of {@code s_i * loss_i} at {@code params}; adds the matching gradient into {@code grad}
     * (zeroed first) unless it is null.
     */
    static double lossAndGradient(Data data, int[] rows, double[] params, double[] grad) {
        int chunks = (rows.length + CHUNK - 1) / CHUNK;
        int p = data.parameters();
        double[][] partialGrad = grad == null ? null : new double[chunks][];
        double[] partialLoss = new double[chunks];
        IntStream range = IntStream.range(0, chunks);
        if (rows.length >= PARALLEL_ROWS) {
            range = range.parallel();
        }
        range.forEach(ch -> {
            double[] g = grad == null ? null : new double[p];
            partialLoss[ch] = chunk(data, rows, ch * CHUNK, Math.min(rows.length, (ch + 1) * CHUNK), params, g);
            if (g != null) {
                partialGrad[ch] = g;
            }
        });
        double loss = 0;
        if (grad != null) {
            java.util.Arrays.fill(grad, 0);
        }
        for (int ch = 0; ch < chunks; ch++) {
            loss += partialLoss[ch];
            if (grad != null) {
                double[] g = partialGrad[ch];
                for (int i = 0; i < p; i++) {
                    grad[i] += g[i];
                }
            }
        }
        return loss;
    }

    private static double chunk(Data data, int[] rows, int from, int to, double[] params, double[] grad) {
        int d = data.d();
        int k = data.k();
        double[] z = new double[k];
        double loss = 0;
        for (int t = from; t < to; t++) {
            int r = rows[t];
            int xOff = r * d;
            logits(data.x(), xOff, d, params, k, z);
            double s = data.weight(r);
            int yOff = r * k;
            if (data.link() == Link.SOFTMAX) {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < k; c++) {
                    max = Math.max(max, z[c]);
                }
                double sum = 0;
                for (int c = 0; c < k; c++) {
                    sum += Math.exp(z[c] - max);
                }
                double logSum = max + Math.log(sum);
                double rowLoss = 0;
                for (int c = 0; c < k; c++) {
                    float y = data.y()[yOff + c];
                    if (y != 0) {
                        rowLoss += y * (logSum - z[c]);
                    }
                    // residual p_c - y_c, kept in z for the gradient
                    z[c] = Math.exp(z[c] - logSum) - y;
                }
                loss += s * rowLoss;
            } else {
                double rowLoss = 0;
                for (int c = 0; c < k; c++) {
                    float y = data.y()[yOff + c];
                    double v = z[c];
                    // log(1 + e^v) - y v, stable for both signs
                    rowLoss += (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))) - y * v;
                    z[c] = sigmoid(v) - y;
                }
                loss += s * rowLoss;
            }
            if (grad != null) {
                float[] x = data.x();
                for (int c = 0; c < k; c++) {
                    double residual = s * z[c];
                    if (residual == 0) {
                        continue;
                    }
                    int base = c * (d + 1);
                    for (int j = 0; j < d; j++) {
                        grad[base + j] += residual * x[xOff + j];
                    }
                    grad[base + d] += residual;
                }
            }
        }
        return loss;
    }

    /** {@code z[c] = b_c + w_c . x} for the row of {@code x} at {@code off}. */
    static void logits(float[] x, int off, int d, double[] params, int k, double[] z) {
        for (int c = 0; c < k; c++) {
            int base = c * (d + 1);
            // four independent sums: the JIT does not reorder a floating-point reduction by itself
            double a0 = 0;
            double a1 = 0;
            double a2 = 0;
            double a3 = 0;
            int j = 0;
            for (; j + 3 < d; j += 4) {
                a0 += x[off + j] * params[base + j];
                a1 += x[off + j + 1] * params[base + j + 1];
                a2 += x[off + j + 2] * params[base + j + 2];
                a3 += x[off + j + 3] * params[base + j + 3];
            }
            for (; j < d; j++) {
                a0 += x[off + j] * params[base + j];
            }
            z[c] = params[base + d] + ((a0 + a1) + (a2 + a3));
        }
    }

    /** Probabilities {@code [rows.length][k]} of {@code rows} under {@code params}. */
    static float[] probabilities(Data data, int[] rows, double[] params) {
        int d = data.d();
        int k = data.k();
        float[] out = new float[rows.length * k];
        double[] z = new double[k];
        for (int t = 0; t < rows.length; t++) {
            logits(data.x(), rows[t] * d, d, params, k, z);
            if (data.link() == Link.SOFTMAX) {
                double max = Double.NEGATIVE_INFINITY;
                for (double v : z) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (int c = 0; c < k; c++) {
                    z[c] = Math.exp(z[c] - max);
                    sum += z[c];
                }
                for (int c = 0; c < k; c++) {
                    out[t * k + c] = (float) (z[c] / sum);
                }
            } else {
                for (int c = 0; c < k; c++) {
                    out[t * k + c] = (float) sigmoid(z[c]);
                }
            }
        }
        return out;
    }

    /** Mean (weighted) log-loss of {@code rows}: cross-entropy per row, or per row and label for sigmoid. */
    static double meanLoss(Data data, int[] rows, double[] params) {
        double total = 0;
        for (int r : rows) {
            total += data.weight(r);
        }
        double perRow = lossAndGradient(data, rows, params, null) / total;
        return data.link() == Link.SIGMOID ? perRow / data.k() : perRow;
    }

    private static double sigmoid(double v) {
        return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
    }

    /** The weights {@code [k][d]} and biases {@code [k]} of {@code params}, as a head stores them. */
    static float[][] weights(double[] params, int k, int d) {
        float[][] w = new float[k][d];
        for (int c = 0; c < k; c++) {
            for (int j = 0; j < d; j++) {
                w[c][j] = (float) params[c * (d + 1) + j];
            }
        }
        return w;
    }

    static float[] biases(double[] params, int k, int d) {
        float[] b = new float[k];
        for (int c = 0; c < k; c++) {
            b[c] = (float) params[c * (d + 1) + d];
        }
        return b;
    }
}
