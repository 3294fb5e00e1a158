package org.vitfit.heads;

import com.oracle.labs.mlrg.olcut.config.Config;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import org.tribuo.Dataset;
import org.tribuo.Example;
import org.tribuo.Feature;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Output;
import org.tribuo.Trainer;
import org.tribuo.WeightedExamples;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.TrainerProvenance;
import org.tribuo.provenance.impl.TrainerProvenanceImpl;
import org.vitfit.runtime.Finite;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.logging.Logger;

/**
 * Trains an {@link MlpNetwork} on a Tribuo dataset with mini-batch AdamW, dropout and early stopping on a validation
 * split. The label-type specific parts (target encoding, output layer, model class) live in the two subclasses.
 *
 * <p>Like Tribuo's own trainers, every option is an OLCUT {@link Config} field (so the trainer can be built from a
 * configuration file and its provenance lists every option), each {@code train} call draws a fresh random stream
 * split from the seed, and {@link #getInvocationCount()} counts the calls. Example weights are honoured
 * ({@link WeightedExamples}), which is how class weighting reaches the loss.
 */
public abstract class MLPTrainer<T extends Output<T>> implements Trainer<T>, WeightedExamples {

    private static final Logger logger = Logger.getLogger(MLPTrainer.class.getName());
    private static final int EVAL_BATCH = 1024;

    /**
     * What to lower. AdamW multiplies each weight by 1 - lr * decay every step: past 1 that flips every weight's sign,
     * past 2 it also grows them, so a huge --weight-decay diverges like a huge --lr and the advice must name it.
     */
    private String diverged() {
        return "training diverged. Lower the learning rate (--lr), e.g. to the default 1e-3"
                + (learningRate * weightDecay > 1 ? ", and the weight decay (--weight-decay, default 0.01): "
                + "learning rate x weight decay must stay well below 1" : "");
    }

    @Config(description = "Width of each hidden layer.")
    protected int hiddenSize = 512;
    @Config(description = "Number of hidden layers, 1 or 2.")
    protected int hiddenLayers = 1;
    @Config(description = "Hidden-layer activation.")
    protected Activation activation = Activation.GELU;
    @Config(description = "Dropout probability after each hidden layer.")
    protected float dropout = 0.1f;
    @Config(description = "AdamW learning rate.")
    protected double learningRate = 1e-3;
    @Config(description = "AdamW decoupled weight decay (applied to weights, not biases).")
    protected double weightDecay = 1e-2;
    @Config(description = "Maximum number of passes over the training data.")
    protected int epochs = 100;
    @Config(description = "Examples per gradient step.")
    protected int minibatchSize = 128;
    @Config(description = "Epochs without a validation-loss improvement before training stops; 0 disables early stopping.")
    protected int patience = 8;
    @Config(description = "Share of the training data held out for early stopping when no validation set is passed; 0 trains every epoch.")
    protected double validationFraction = 0.1;
    @Config(description = "Seed of the random stream (initialisation, shuffling, dropout, validation hold-out).")
    protected long seed = Trainer.DEFAULT_SEED;

    private SplittableRandom rng;
    private int invocationCount = 0;

    /** For OLCUT's configuration system; call {@link #postConfig()} after setting fields. */
    protected MLPTrainer() {
    }

    protected MLPTrainer(MLPOptions options) {
        this.hiddenSize = options.hiddenSize();
        this.hiddenLayers = options.hiddenLayers();
        this.activation = options.activation();
        this.dropout = options.dropout();
        this.learningRate = options.learningRate();
        this.weightDecay = options.weightDecay();
        this.epochs = options.epochs();
        this.minibatchSize = options.minibatchSize();
        this.patience = options.patience();
        this.validationFraction = options.validationFraction();
        this.seed = options.seed();
        postConfig();
    }

    @Override
    public synchronized void postConfig() {
        new MLPOptions(hiddenSize, hiddenLayers, activation, dropout, learningRate, weightDecay, epochs,
                minibatchSize, patience, validationFraction, seed); // validates
        this.rng = new SplittableRandom(seed);
    }

    /** The options this trainer was configured with. */
    public MLPOptions options() {
        return new MLPOptions(hiddenSize, hiddenLayers, activation, dropout, learningRate, weightDecay, epochs,
                minibatchSize, patience, validationFraction, seed);
    }

    protected abstract Objective objective();

    /** Writes the training target of {@code output} (one-hot or multi-hot over the output ids) into {@code dst}. */
    protected abstract void encodeTarget(T output, ImmutableOutputInfo<T> info, float[] dst, int offset);

    protected abstract MLPModel<T> createModel(String name, ModelProvenance provenance, ImmutableFeatureMap features,
                                               ImmutableOutputInfo<T> outputs, MlpNetwork network);

    /** A trained model and the history that produced it. */
    public record Fit<T extends Output<T>>(MLPModel<T> model, TrainingCurve curve) {
    }

    @Override
    public MLPModel<T> train(Dataset<T> examples) {
        return train(examples, Collections.emptyMap());
    }

    @Override
    public MLPModel<T> train(Dataset<T> examples, Map<String, Provenance> runProvenance) {
        return train(examples, runProvenance, INCREMENT_INVOCATION_COUNT);
    }

    @Override
    public MLPModel<T> train(Dataset<T> examples, Map<String, Provenance> runProvenance, int invocationCount) {
        return fit(examples, null, runProvenance, invocationCount).model();
    }

    /**
     * Trains on {@code train}, stopping early on {@code validation} (when null, a seeded {@code validationFraction}
     * of {@code train} is held out instead, or none when that fraction is 0).
     */
    public Fit<T> fit(Dataset<T> train, Dataset<T> validation, Map<String, Provenance> runProvenance, int invocationCount) {
        if (train.size() == 0) {
            throw new IllegalArgumentException("cannot train an MLP on an empty dataset");
        }
        ImmutableFeatureMap features = train.getFeatureIDMap();
        ImmutableOutputInfo<T> outputs = train.getOutputIDInfo();
        if (outputs.size() < 2) {
            throw new IllegalArgumentException("the training data has " + outputs.size()
                    + " output(s); a classifier needs at least 2 classes (labels for multi-label)");
        }
        SplittableRandom localRng;
        TrainerProvenance trainerProvenance;
        synchronized (this) {
            if (invocationCount != INCREMENT_INVOCATION_COUNT) {
                setInvocationCount(invocationCount);
            }
            localRng = rng.split();
            trainerProvenance = getProvenance();
            this.invocationCount++;
        }
        int d = features.size();
        int k = outputs.size();
        Dense all = Dense.of(train, features, outputs, this);
        Dense fitData = all;
        Dense valData = null;
        if (validation != null) {
            valData = Dense.of(validation, features, outputs, this);
        } else if (validationFraction > 0 && all.n >= 10) {
            int[] perm = permutation(all.n, localRng);
            int nVal = Math.max(1, (int) Math.round(all.n * validationFraction));
            valData = all.subset(perm, 0, nVal);
            fitData = all.subset(perm, nVal, all.n);
        }

        int[] sizes = new int[hiddenLayers + 2];
        sizes[0] = d;
        for (int l = 1; l <= hiddenLayers; l++) {
            sizes[l] = hiddenSize;
        }
        sizes[sizes.length - 1] = k;
        MlpNetwork network = MlpNetwork.initialise(sizes, activation, localRng);
        float[][] params = network.parameters();
        boolean[] decay = new boolean[params.length];
        for (int l = 0; l < network.layers(); l++) {
            decay[l] = true;
        }
        AdamW optimiser = new AdamW(params, decay, learningRate, 0.9, 0.999, 1e-8, weightDecay);
        Objective objective = objective();

        List<Double> trainLoss = new ArrayList<>();
        List<Double> valLoss = new ArrayList<>();
        List<Double> valMetric = new ArrayList<>();
        MlpNetwork best = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        int bestEpoch = 0;
        int sinceBest = 0;
        int n = fitData.n;
        float[] xb = new float[minibatchSize * d];
        float[] yb = new float[minibatchSize * k];
        float[] wb = new float[minibatchSize];
        for (int epoch = 1; epoch <= epochs; epoch++) {
            int[] order = permutation(n, localRng);
            double lossSum = 0;
            double weightSum = 0;
            for (int start = 0; start < n; start += minibatchSize) {
                int b = Math.min(minibatchSize, n - start);
                for (int r = 0; r < b; r++) {
                    int src = order[start + r];
                    System.arraycopy(fitData.x, src * d, xb, r * d, d);
                    System.arraycopy(fitData.y, src * k, yb, r * k, k);
                    wb[r] = fitData.w[src];
                }
                float[] xBatch = b == minibatchSize ? xb : java.util.Arrays.copyOf(xb, b * d);
                MlpNetwork.Trace trace = network.forwardTrain(xBatch, b, dropout, localRng);
                float[] grad = new float[b * k];
                double batchWeight = 0;
                for (int r = 0; r < b; r++) {
                    batchWeight += wb[r];
                }
                double loss = objective.lossAndGradient(trace.logits, yb, wb, b, k, grad);
                lossSum += loss * batchWeight;
                weightSum += batchWeight;
                optimiser.step(params, network.backward(trace, grad).tensors);
            }
            double epochLoss = lossSum / weightSum;
            Finite.require(epochLoss, "the MLP's training loss in epoch " + epoch + " (learning rate " + learningRate
                    + ")", diverged());
            trainLoss.add(epochLoss);
            if (valData == null) {
                bestEpoch = epoch;
                continue;
            }
            double[] lm = evaluate(network, valData, objective);
            Finite.require(lm[0], "the MLP's validation loss in epoch " + epoch + " (learning rate " + learningRate
                    + ")", diverged());
            valLoss.add(lm[0]);
            valMetric.add(lm[1]);
            logger.fine(() -> String.format("epoch %d: train loss %.4f, validation loss %.4f, metric %.4f",
                    trainLoss.size(), trainLoss.get(trainLoss.size() - 1), lm[0], lm[1]));
            if (lm[0] < bestLoss - 1e-6) {
                bestLoss = lm[0];
                best = network.copy();
                bestEpoch = epoch;
                sinceBest = 0;
            } else if (patience > 0 && ++sinceBest >= patience) {
                break;
            }
        }
        MlpNetwork kept = best == null ? network : best;
        for (float[] p : kept.parameters()) {
            Finite.require(p, "the MLP's weights", diverged());
        }
        ModelProvenance provenance = new ModelProvenance(modelClassName(), OffsetDateTime.now(),
                train.getProvenance(), trainerProvenance, runProvenance);
        MLPModel<T> model = createModel("mlp-head", provenance, features, outputs, kept);
        String metric = objective == Objective.SOFTMAX_CROSS_ENTROPY ? "accuracy" : "micro_f1@0.5";
        return new Fit<>(model, new TrainingCurve(trainLoss, valLoss, valMetric, metric, bestEpoch));
    }

    protected abstract String modelClassName();

    /** Mean unweighted loss and the validation metric (accuracy, or micro-F1 at 0.5) of {@code network} on {@code data}. */
    private static double[] evaluate(MlpNetwork network, Dense data, Objective objective) {
        int d = data.d;
        int k = data.k;
        double loss = 0;
        long correct = 0;
        long tp = 0;
        long fp = 0;
        long fn = 0;
        for (int start = 0; start < data.n; start += EVAL_BATCH) {
            int b = Math.min(EVAL_BATCH, data.n - start);
            float[] x = java.util.Arrays.copyOfRange(data.x, start * d, (start + b) * d);
            float[] y = java.util.Arrays.copyOfRange(data.y, start * k, (start + b) * k);
            float[] logits = network.logits(x, b);
            loss += objective.lossAndGradient(logits, y, null, b, k, null) * b;
            for (int r = 0; r < b; r++) {
                int row = r * k;
                if (objective == Objective.SOFTMAX_CROSS_ENTROPY) {
                    int arg = 0;
                    for (int j = 1; j < k; j++) {
                        if (logits[row + j] > logits[row + arg]) {
                            arg = j;
                        }
                    }
                    if (y[row + arg] > 0.5f) {
                        correct++;
                    }
                } else {
                    for (int j = 0; j < k; j++) {
                        boolean predicted = logits[row + j] > 0f;
                        boolean actual = y[row + j] > 0.5f;
                        if (predicted && actual) {
                            tp++;
                        } else if (predicted) {
                            fp++;
                        } else if (actual) {
                            fn++;
                        }
                    }
                }
            }
        }
        double metric = objective == Objective.SOFTMAX_CROSS_ENTROPY
                ? correct / (double) data.n
                : (2 * tp + fp + fn == 0 ? 0 : 2.0 * tp / (2 * tp + fp + fn));
        return new double[] {loss / data.n, metric};
    }

    private static int[] permutation(int n, SplittableRandom rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** A dataset as dense row-major arrays: features {@code [n][d]}, targets {@code [n][k]}, weights {@code [n]}. */
    private static final class Dense {
        final int n;
        final int d;
        final int k;
        final float[] x;
        final float[] y;
        final float[] w;

        private Dense(int n, int d, int k, float[] x, float[] y, float[] w) {
            this.n = n;
            this.d = d;
            this.k = k;
            this.x = x;
            this.y = y;
            this.w = w;
        }

        static <T extends Output<T>> Dense of(Dataset<T> data, ImmutableFeatureMap features,
                                              ImmutableOutputInfo<T> outputs, MLPTrainer<T> trainer) {
            int n = data.size();
            int d = features.size();
            int k = outputs.size();
            float[] x = new float[n * d];
            float[] y = new float[n * k];
            float[] w = new float[n];
            int i = 0;
            for (Example<T> example : data) {
                for (Feature f : example) {
                    int id = features.getID(f.getName());
                    if (id >= 0) {
                        x[i * d + id] = (float) f.getValue();
                    }
                }
                trainer.encodeTarget(example.getOutput(), outputs, y, i * k);
                w[i] = example.getWeight();
                i++;
            }
            return new Dense(n, d, k, x, y, w);
        }

        Dense subset(int[] order, int from, int to) {
            int m = to - from;
            float[] sx = new float[m * d];
            float[] sy = new float[m * k];
            float[] sw = new float[m];
            for (int r = 0; r < m; r++) {
                int src = order[from + r];
                System.arraycopy(x, src * d, sx, r * d, d);
                System.arraycopy(y, src * k, sy, r * k, k);
                sw[r] = w[src];
            }
            return new Dense(m, d, k, sx, sy, sw);
        }
    }

    @Override
    public int getInvocationCount() {
        return invocationCount;
    }

    @Override
    public synchronized void setInvocationCount(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("invocation count must be >= 0, got " + count);
        }
        rng = new SplittableRandom(seed);
        for (invocationCount = 0; invocationCount < count; invocationCount++) {
            rng.split();
        }
    }

    @Override
    public TrainerProvenance getProvenance() {
        return new TrainerProvenanceImpl(this);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + options();
    }
}
