package org.vitfit.heads;

import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import org.tribuo.Dataset;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Trainer;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.classification.sgd.objectives.LogMulticlass;
import org.tribuo.common.sgd.AbstractSGDTrainer;
import org.tribuo.impl.ArrayExample;
import org.tribuo.math.StochasticGradientOptimiser;
import org.tribuo.math.optimisers.AdaGrad;
import org.tribuo.math.optimisers.Adam;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.multilabel.MultiLabelFactory;
import org.tribuo.multilabel.sgd.objectives.BinaryCrossEntropy;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.HeadEvaluator;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a head on cached embeddings: checks the labels, splits the rows, fits the normalisation on the training
 * split, trains a Tribuo linear SGD model or the MLP, tunes multi-label thresholds on the validation split and
 * evaluates on validation and test. Configure with {@link #builder()}.
 */
public final class HeadTrainer {

    /** How examples are weighted in the loss. */
    public enum ClassWeighting {
        /** Every example counts once. */
        NONE,
        /**
         * Inverse class frequency, {@code n / (classes * n_c)} as scikit-learn's "balanced"; for multi-label data an
         * example gets the mean of its labels' weights, and weights are rescaled to average 1.
         */
        BALANCED
    }

    /** Tribuo optimiser for the linear head. */
    public enum LinearOptimiser {
        ADAM,
        ADAGRAD
    }

    /**
     * Fewest optimiser steps a linear head takes when no epoch count was given. Adam at lr 1e-3 moves each weight by
     * about 1e-3 per step, so 20 epochs of batch 1 over a few hundred rows stop far from convergence: on 185 pet
     * embeddings (37 classes) the top class averaged 9% probability and accuracy was 0.82, against 49% and 0.86
     * with this floor (217 epochs). Sets of 2,000 or more training rows (CIFAR-10: 40,000) keep the 20 epochs.
     */
    static final int LINEAR_MIN_STEPS = 40_000;

    private final HeadKind kind;
    private final boolean multiLabel;
    private final int epochs;
    private final boolean epochsGiven;
    private final double learningRate;
    private final int minibatchSize;
    private final long seed;
    private final boolean l2Normalize;
    private final boolean standardize;
    private final ClassWeighting classWeighting;
    private final double trainFraction;
    private final double validationFraction;
    private final double testFraction;
    private final Thresholds.Mode thresholdMode;
    private final LinearOptimiser linearOptimiser;
    private final MLPOptions mlp;

    private HeadTrainer(Builder b) {
        this.kind = b.kind;
        this.multiLabel = b.multiLabel;
        this.epochs = b.epochs != null ? b.epochs : (b.kind == HeadKind.LINEAR ? 20 : 100);
        this.epochsGiven = b.epochs != null;
        this.learningRate = b.learningRate != null ? b.learningRate : (b.kind == HeadKind.LINEAR ? 1e-3 : 1e-3);
        this.minibatchSize = b.minibatchSize != null ? b.minibatchSize : (b.kind == HeadKind.LINEAR ? 1 : 128);
        this.seed = b.seed;
        this.l2Normalize = b.l2Normalize;
        this.standardize = b.standardize;
        this.classWeighting = b.classWeighting;
        this.trainFraction = b.trainFraction;
        this.validationFraction = b.validationFraction;
        this.testFraction = b.testFraction;
        this.thresholdMode = b.thresholdMode;
        this.linearOptimiser = b.linearOptimiser;
        if (epochs < 1 || learningRate <= 0 || !Double.isFinite(learningRate) || minibatchSize < 1) {
            throw new IllegalArgumentException("epochs and batch size must be >= 1 and the learning rate > 0; got epochs "
                    + epochs + ", learning rate " + learningRate + ", batch size " + minibatchSize);
        }
        this.mlp = new MLPOptions(b.hiddenSize, b.hiddenLayers, b.activation, b.dropout, learningRate, b.weightDecay,
                epochs, minibatchSize, b.patience, 0.0, seed);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Reads every row of {@code cache} and trains on it. */
    public TrainingRun train(EmbeddingCache cache) {
        return train(EmbeddingSet.fromCache(cache));
    }

    /** Trains on {@code set}; see the class comment for the steps. */
    public TrainingRun train(EmbeddingSet set) {
        checkLabels(set);
        SplitAssignment split = Splits.assign(set, multiLabel, trainFraction, validationFraction, testFraction, seed);
        List<String> trainLabels = checkSplitLabels(set, split);
        Normalization norm = Normalization.fit(set, split.train(), l2Normalize, standardize);
        float[] weights = exampleWeights(set, split.train());
        Map<String, Provenance> runProvenance = new HashMap<>();
        runProvenance.put("vitfit-embeddings", new StringProvenance("vitfit-embeddings", set.source()));
        runProvenance.put("vitfit-split", new StringProvenance("vitfit-split", split.origin()));
        if (set.modelSha256() != null) {
            runProvenance.put("vitfit-backbone-sha256", new StringProvenance("vitfit-backbone-sha256", set.modelSha256()));
        }

        long start = System.nanoTime();
        Fitted fitted;
        if (multiLabel) {
            // Tribuo's BinaryCrossEntropy sums over labels; scale to the mean per label, as the MLP reports it.
            fitted = fit(set, split, norm, weights, runProvenance, new MultiLabelFactory(),
                    l -> new MultiLabel(toLabels(l)), new MLPMultiLabelTrainer(mlp),
                    (epochsRun, perEpoch) -> new org.tribuo.multilabel.sgd.linear.LinearSGDTrainer(
                            new BinaryCrossEntropy(), linearOptimiser(), epochsRun, perEpoch, minibatchSize, seed),
                    train -> 1.0 / train.getOutputIDInfo().size());
        } else {
            // Tribuo's LogMulticlass reports the log-likelihood; negate it to get the cross-entropy loss.
            fitted = fit(set, split, norm, weights, runProvenance, new LabelFactory(),
                    l -> new Label(l.get(0)), new MLPClassificationTrainer(mlp),
                    (epochsRun, perEpoch) -> new org.tribuo.classification.sgd.linear.LinearSGDTrainer(
                            new LogMulticlass(), linearOptimiser(), epochsRun, perEpoch, minibatchSize, seed),
                    train -> -1.0);
        }
        Model<?> model = fitted.model();
        TrainingCurve curve = fitted.curve();
        int epochsRun = fitted.epochsRun();
        double trainSeconds = (System.nanoTime() - start) / 1e9;

        List<String> labels = Head.outputOrder(model);
        Thresholds thresholds = null;
        HeadMetadata provisional = metadata(set, labels, norm, multiLabel ? Thresholds.fixed(labels.size()) : null, model,
                epochsRun);
        if (multiLabel) {
            Head untuned = new Head(provisional, model);
            int[] valRows = split.validation();
            float[] scores = untuned.scores(set, valRows);
            boolean[] truth = new boolean[valRows.length * labels.size()];
            for (int i = 0; i < valRows.length; i++) {
                Set<String> names = new TreeSet<>(set.labels(valRows[i]));
                for (int j = 0; j < labels.size(); j++) {
                    truth[i * labels.size() + j] = names.contains(labels.get(j));
                }
            }
            thresholds = Thresholds.tune(thresholdMode, scores, truth, valRows.length, labels.size());
        }
        Head head = new Head(metadata(set, labels, norm, thresholds, model, epochsRun), model);
        EvaluationReport validation = split.validation().length == 0 ? null
                : HeadEvaluator.evaluate(head, set, split.validation(), "validation");
        EvaluationReport test = split.test().length == 0 ? null
                : HeadEvaluator.evaluate(head, set, split.test(), "test");
        return new TrainingRun(head, split, curve, validation, test, trainSeconds, trainLabels.size());
    }

    private HeadMetadata metadata(EmbeddingSet set, List<String> labels, Normalization norm, Thresholds thresholds,
                                  Model<?> model, int epochsRun) {
        Map<String, Object> options = options();
        options.put("epochs", epochsRun);
        return new HeadMetadata(HeadMetadata.FORMAT, HeadMetadata.FORMAT_VERSION, kind,
                multiLabel ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, set.dimension(), norm, thresholds,
                set.modelSha256(), Head.MODEL_FILE, Head.ONNX_FILE, Head.ONNX_INPUT, Head.ONNX_OUTPUT,
                model.getClass().getName(), OffsetDateTime.now(ZoneOffset.UTC).toString(), toolVersion(), options);
    }

    /**
     * Epochs a linear head trains with {@code stepsPerEpoch} mini-batches per epoch: the given count, or by default
     * 20 raised to reach {@link #LINEAR_MIN_STEPS} steps.
     */
    int linearEpochs(int stepsPerEpoch) {
        if (epochsGiven) {
            return epochs;
        }
        return Math.max(epochs, (LINEAR_MIN_STEPS + stepsPerEpoch - 1) / stepsPerEpoch);
    }

    /** The options of this trainer as recorded in {@code head.json}, except that there {@code epochs} is the count run. */
    public Map<String, Object> options() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("head", kind.jsonName());
        o.put("multilabel", multiLabel);
        o.put("epochs", epochs);
        o.put("learningRate", learningRate);
        o.put("batchSize", minibatchSize);
        o.put("seed", seed);
        o.put("l2Normalize", l2Normalize);
        o.put("standardize", standardize);
        o.put("classWeighting", classWeighting.name().toLowerCase(Locale.ROOT));
        o.put("fractions", List.of(trainFraction, validationFraction, testFraction));
        if (multiLabel) {
            o.put("thresholds", thresholdMode.jsonName());
        }
        if (kind == HeadKind.LINEAR) {
            o.put("optimiser", linearOptimiser.name().toLowerCase(Locale.ROOT));
        } else {
            o.put("hiddenSize", mlp.hiddenSize());
            o.put("hiddenLayers", mlp.hiddenLayers());
            o.put("activation", mlp.activation().name().toLowerCase(Locale.ROOT));
            o.put("dropout", mlp.dropout());
            o.put("weightDecay", mlp.weightDecay());
            o.put("patience", mlp.patience());
        }
        return o;
    }

    private StochasticGradientOptimiser linearOptimiser() {
        return linearOptimiser == LinearOptimiser.ADAM ? new Adam(learningRate, 0.9, 0.999, 1e-8)
                : new AdaGrad(learningRate, 1e-6);
    }

    static String toolVersion() {
        String v = HeadTrainer.class.getPackage().getImplementationVersion();
        return v == null ? "development" : v;
    }

    private void checkLabels(EmbeddingSet set) {
        if (set.size() == 0) {
            throw new IllegalArgumentException(set.source() + " holds no embeddings; extract some images first");
        }
        int unlabelled = 0;
        int firstUnlabelled = -1;
        for (int i = 0; i < set.size(); i++) {
            List<String> l = set.labels(i);
            if (l.isEmpty()) {
                unlabelled++;
                if (firstUnlabelled < 0) {
                    firstUnlabelled = i;
                }
            } else if (!multiLabel && l.size() > 1) {
                throw new IllegalArgumentException(set.source() + ": " + set.describeRow(i) + " has " + l.size()
                        + " labels " + l + "; train a multi-label head (--multilabel) for label sets");
            }
        }
        if (unlabelled == set.size()) {
            throw new IllegalArgumentException(set.source() + " has no labels; extract from a folder per class or from a "
                    + "manifest with a labels column, then train");
        }
        if (unlabelled > 0 && !multiLabel) {
            throw new IllegalArgumentException(set.source() + ": " + unlabelled + " of " + set.size()
                    + " images have no label, e.g. " + set.describeRow(firstUnlabelled)
                    + "; label them or leave them out of the cache");
        }
    }

    /** Checks the training split has at least two classes and holds every label seen elsewhere; returns its labels. */
    private List<String> checkSplitLabels(EmbeddingSet set, SplitAssignment split) {
        Set<String> trainLabels = new TreeSet<>();
        for (int r : split.train()) {
            trainLabels.addAll(set.labels(r));
        }
        if (trainLabels.size() < 2) {
            throw new IllegalArgumentException(set.source() + ": the training split has "
                    + (trainLabels.isEmpty() ? "no labels" : "a single class " + trainLabels)
                    + "; a head needs at least two classes (labels) to learn anything");
        }
        Map<String, String> unseen = new TreeMap<>();
        for (int[] rows : new int[][] {split.validation(), split.test()}) {
            String part = rows == split.validation() ? "validation" : "test";
            for (int r : rows) {
                for (String l : set.labels(r)) {
                    if (!trainLabels.contains(l)) {
                        unseen.putIfAbsent(l, part + " " + set.describeRow(r));
                    }
                }
            }
        }
        if (!unseen.isEmpty()) {
            throw new IllegalArgumentException(set.source() + ": label(s) " + unseen.keySet()
                    + " never occur in the training split (first seen in " + unseen.values().iterator().next()
                    + "); add training images of them or remove them");
        }
        return new ArrayList<>(trainLabels);
    }

    private float[] exampleWeights(EmbeddingSet set, int[] rows) {
        if (classWeighting == ClassWeighting.NONE) {
            return null;
        }
        Map<String, Integer> counts = new HashMap<>();
        for (int r : rows) {
            for (String l : set.labels(r)) {
                counts.merge(l, 1, Integer::sum);
            }
        }
        int classes = counts.size();
        float[] w = new float[rows.length];
        double sum = 0;
        for (int i = 0; i < rows.length; i++) {
            List<String> l = set.labels(rows[i]);
            double wi = 0;
            for (String name : l) {
                wi += rows.length / (double) (classes * counts.get(name));
            }
            w[i] = (float) (l.isEmpty() ? 1 : wi / l.size());
            sum += w[i];
        }
        float scale = (float) (rows.length / sum);
        for (int i = 0; i < w.length; i++) {
            w[i] *= scale;
        }
        return w;
    }

    private static Set<Label> toLabels(List<String> names) {
        Set<Label> s = new java.util.HashSet<>();
        for (String n : names) {
            s.add(new Label(n));
        }
        return s;
    }

    /** A trained Tribuo model with its curve and the epochs it actually ran. */
    private record Fitted(Model<?> model, TrainingCurve curve, int epochsRun) {
    }

    /** Makes a linear SGD trainer for a number of epochs and steps per epoch. */
    private interface LinearTrainerFactory<T extends org.tribuo.Output<T>> {
        Trainer<T> create(int epochs, int stepsPerEpoch);
    }

    /** The one training path for both tasks: build the datasets, then fit the MLP or the linear head. */
    private <T extends org.tribuo.Output<T>> Fitted fit(
            EmbeddingSet set, SplitAssignment split, Normalization norm, float[] weights,
            Map<String, Provenance> runProvenance, org.tribuo.OutputFactory<T> factory,
            java.util.function.Function<List<String>, T> output, MLPTrainer<T> mlpTrainer,
            LinearTrainerFactory<T> linear, java.util.function.ToDoubleFunction<MutableDataset<T>> lossScale) {
        MutableDataset<T> train = dataset(set, split.train(), norm, weights, factory, "train", output);
        MutableDataset<T> val = split.validation().length == 0 ? null
                : dataset(set, split.validation(), norm, null, factory, "validation", output);
        if (kind == HeadKind.MLP) {
            MLPTrainer.Fit<T> fit = mlpTrainer.fit(train, val, runProvenance, Trainer.INCREMENT_INVOCATION_COUNT);
            return new Fitted(fit.model(), fit.curve(), epochs);
        }
        int perEpoch = (train.size() + minibatchSize - 1) / minibatchSize;
        int epochsRun = linearEpochs(perEpoch);
        Trainer<T> trainer = linear.create(epochsRun, perEpoch);
        LossLog log = new LossLog(perEpoch, totalWeight(train), lossScale.applyAsDouble(train));
        Model<?> model = log.run(() -> trainer.train(train, runProvenance));
        return new Fitted(model, log.curve(), epochsRun);
    }

    private static <T extends org.tribuo.Output<T>> MutableDataset<T> dataset(
            EmbeddingSet set, int[] rows, Normalization norm, float[] weights, org.tribuo.OutputFactory<T> factory,
            String part, java.util.function.Function<List<String>, T> output) {
        int d = set.dimension();
        String[] names = FeatureNames.of(d);
        float[] x = new float[d];
        MutableDataset<T> ds = new MutableDataset<>(
                new SimpleDataSourceProvenance(set.source() + " [" + part + "]", factory), factory);
        for (int i = 0; i < rows.length; i++) {
            norm.apply(set.data(), rows[i] * d, x, 0, d);
            ArrayExample<T> e = FeatureNames.example(output.apply(set.labels(rows[i])), names, x, 0, d);
            if (weights != null) {
                e.setWeight(weights[i]);
            }
            ds.add(e);
        }
        return ds;
    }

    private static double totalWeight(Dataset<?> ds) {
        double s = 0;
        for (var e : ds) {
            s += e.getWeight();
        }
        return s;
    }

    /**
     * Collects the per-epoch training loss that Tribuo's SGD trainers log ("At iteration N, average loss = X" every
     * {@code perEpoch} steps, X being the example-weighted loss summed over the epoch divided by the steps) while
     * keeping those lines off the console.
     */
    private static final class LossLog extends Handler {
        private static final Pattern LINE = Pattern.compile("average loss = ([-+]?Infinity|NaN|[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)");
        private final int perEpoch;
        private final double totalWeight;
        private final double scale;
        private final List<Double> losses = new ArrayList<>();

        LossLog(int perEpoch, double totalWeight, double scale) {
            this.perEpoch = perEpoch;
            this.totalWeight = totalWeight;
            this.scale = scale;
        }

        <M> M run(java.util.function.Supplier<M> training) {
            Logger logger = Logger.getLogger(AbstractSGDTrainer.class.getName());
            boolean parents = logger.getUseParentHandlers();
            Level level = logger.getLevel();
            logger.addHandler(this);
            logger.setUseParentHandlers(false);
            logger.setLevel(Level.INFO);
            try {
                return training.get();
            } finally {
                logger.removeHandler(this);
                logger.setUseParentHandlers(parents);
                logger.setLevel(level);
            }
        }

        @Override
        public void publish(LogRecord record) {
            Matcher m = LINE.matcher(String.valueOf(record.getMessage()));
            if (m.find()) {
                losses.add(scale * Double.parseDouble(m.group(1)) * perEpoch / totalWeight);
            }
        }

        TrainingCurve curve() {
            return new TrainingCurve(losses, List.of(), List.of(), "", Math.max(1, losses.size()));
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    }

    /** Options for {@link HeadTrainer}; unset epochs, learning rate and batch size take the head kind's defaults. */
    public static final class Builder {
        private HeadKind kind = HeadKind.LINEAR;
        private boolean multiLabel = false;
        private Integer epochs;
        private Double learningRate;
        private Integer minibatchSize;
        private long seed = 1L;
        private boolean l2Normalize = false;
        private boolean standardize = true;
        private ClassWeighting classWeighting = ClassWeighting.NONE;
        private double trainFraction = 0.7;
        private double validationFraction = 0.1;
        private double testFraction = 0.2;
        private Thresholds.Mode thresholdMode = Thresholds.Mode.GLOBAL;
        private LinearOptimiser linearOptimiser = LinearOptimiser.ADAM;
        private int hiddenSize = MLPOptions.defaults().hiddenSize();
        private int hiddenLayers = MLPOptions.defaults().hiddenLayers();
        private Activation activation = MLPOptions.defaults().activation();
        private float dropout = MLPOptions.defaults().dropout();
        private double weightDecay = MLPOptions.defaults().weightDecay();
        private int patience = MLPOptions.defaults().patience();

        private Builder() {
        }

        public Builder head(HeadKind kind) {
            this.kind = kind;
            return this;
        }

        public Builder multiLabel(boolean multiLabel) {
            this.multiLabel = multiLabel;
            return this;
        }

        public Builder epochs(int epochs) {
            this.epochs = epochs;
            return this;
        }

        public Builder learningRate(double learningRate) {
            this.learningRate = learningRate;
            return this;
        }

        public Builder batchSize(int batchSize) {
            this.minibatchSize = batchSize;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Divide each embedding by its L2 norm before anything else. */
        public Builder l2Normalize(boolean on) {
            this.l2Normalize = on;
            return this;
        }

        /** Standardise each component with the training split's mean and standard deviation (default on). */
        public Builder standardize(boolean on) {
            this.standardize = on;
            return this;
        }

        public Builder classWeighting(ClassWeighting weighting) {
            this.classWeighting = weighting;
            return this;
        }

        /** Fractions for the stratified split used when the data has no split column; must sum to 1. */
        public Builder fractions(double train, double validation, double test) {
            this.trainFraction = train;
            this.validationFraction = validation;
            this.testFraction = test;
            return this;
        }

        public Builder thresholds(Thresholds.Mode mode) {
            this.thresholdMode = mode;
            return this;
        }

        public Builder linearOptimiser(LinearOptimiser optimiser) {
            this.linearOptimiser = optimiser;
            return this;
        }

        public Builder hiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            return this;
        }

        public Builder hiddenLayers(int hiddenLayers) {
            this.hiddenLayers = hiddenLayers;
            return this;
        }

        public Builder activation(Activation activation) {
            this.activation = activation;
            return this;
        }

        public Builder dropout(float dropout) {
            this.dropout = dropout;
            return this;
        }

        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            return this;
        }

        /** Epochs without validation-loss improvement before the MLP stops; 0 disables early stopping. */
        public Builder patience(int patience) {
            this.patience = patience;
            return this;
        }

        public HeadTrainer build() {
            return new HeadTrainer(this);
        }
    }
}
