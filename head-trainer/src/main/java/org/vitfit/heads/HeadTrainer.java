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
import org.tribuo.common.sgd.AbstractLinearSGDModel;
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
import org.vitfit.runtime.Finite;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a head on cached embeddings: checks the labels, splits the rows, fits the normalisation on the training
 * split, fits the model (L2-regularised logistic regression by L-BFGS, Tribuo's linear SGD, or the MLP), chooses its
 * hyper-parameter and the multi-label thresholds on the validation split or, when there is none, by k-fold
 * cross-validation on the training rows, and evaluates on validation, cross-validation and test. Configure with
 * {@link #builder()}.
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

    /** How a linear head is fitted. */
    public enum LinearSolver {
        /** L2-regularised logistic regression minimised by L-BFGS, C chosen by validation (the default). */
        LBFGS,
        /** Tribuo's {@code LinearSGDTrainer} (no regularisation; epochs, learning rate, batch size, optimiser). */
        SGD
    }

    /** Tribuo optimiser for the SGD linear head. */
    public enum LinearOptimiser {
        ADAM,
        ADAGRAD
    }

    /**
     * The C values tried by default, strongest regularisation first: decades from 1e-4 to 100 (scikit-learn's
     * {@code LogisticRegressionCV} tries ten values over 1e-4..1e4; on standardised embeddings the figures no longer
     * change above 100).
     */
    public static final List<Double> DEFAULT_C_GRID = List.of(1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 100.0);
    /** Folds of the cross-validation used when there is no validation split. */
    public static final int DEFAULT_FOLDS = 5;

    /**
     * Fewest optimiser steps an SGD linear head takes when no epoch count was given. Adam at lr 1e-3 moves each
     * weight by about 1e-3 per step, so 20 epochs of batch 1 over a few hundred rows stop far from convergence: on
     * 185 pet embeddings (37 classes) the top class averaged 9% probability and accuracy was 0.82, against 49% and
     * 0.86 with this floor (217 epochs). Sets of 2,000 or more training rows (CIFAR-10: 40,000) keep the 20 epochs.
     */
    static final int LINEAR_MIN_STEPS = 40_000;

    /**
     * Fewer validation rows than this choose C by chance more than by merit: an L-BFGS head then adds them to the
     * training rows and cross-validates instead.
     */
    static final int MIN_VALIDATION_ROWS = 100;

    /** The C path stops after this many values in a row that do not beat the best one. */
    private static final int PATH_PATIENCE = 2;

    private static final Logger LOG = Logger.getLogger(HeadTrainer.class.getName());

    private final HeadKind kind;
    private final boolean multiLabel;
    private final LinearSolver solver;
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
    private final boolean fractionsGiven;
    private final Thresholds.Mode thresholdMode;
    private final LinearOptimiser linearOptimiser;
    private final List<Double> cGrid;
    private final boolean cGiven;
    private final int folds;
    private final MLPOptions mlp;

    private HeadTrainer(Builder b) {
        this.kind = b.kind;
        this.multiLabel = b.multiLabel;
        this.solver = b.solver;
        boolean sgd = b.kind == HeadKind.MLP || b.solver == LinearSolver.SGD;
        if (b.kind == HeadKind.LINEAR && b.solver == LinearSolver.LBFGS) {
            List<String> sgdOnly = new ArrayList<>();
            if (b.epochs != null) {
                sgdOnly.add("epochs (--epochs)");
            }
            if (b.learningRate != null) {
                sgdOnly.add("learning rate (--lr)");
            }
            if (b.minibatchSize != null) {
                sgdOnly.add("batch size (--batch-size)");
            }
            if (b.optimiserGiven) {
                sgdOnly.add("optimiser (--optimiser)");
            }
            if (!sgdOnly.isEmpty()) {
                throw new IllegalArgumentException(String.join(", ", sgdOnly) + (sgdOnly.size() == 1 ? " sets" : " set")
                        + " stochastic gradient descent, but the linear head is fitted by L-BFGS, which has none; "
                        + "leave it out, or choose the SGD solver (--solver sgd)");
            }
        }
        if (b.cGrid != null && !(b.kind == HeadKind.LINEAR && b.solver == LinearSolver.LBFGS)) {
            throw new IllegalArgumentException("C (--C) is the regularisation of the L-BFGS linear head; "
                    + (b.kind == HeadKind.MLP ? "the MLP is regularised by weight decay (--weight-decay) and dropout"
                    : "the SGD solver has no regularisation"));
        }
        if (b.kind == HeadKind.LINEAR && !b.mlpOptionsGiven.isEmpty()) {
            throw new IllegalArgumentException(String.join(", ", b.mlpOptionsGiven)
                    + (b.mlpOptionsGiven.size() == 1 ? " only applies" : " only apply")
                    + " to the MLP head (--head mlp), not to a linear head");
        }
        if (b.kind == HeadKind.MLP && b.solver != LinearSolver.LBFGS) {
            throw new IllegalArgumentException("the solver (--solver) only applies to the linear head");
        }
        this.epochs = b.epochs != null ? b.epochs : (b.kind == HeadKind.LINEAR ? 20 : 100);
        this.epochsGiven = b.epochs != null;
        this.learningRate = b.learningRate != null ? b.learningRate : 1e-3;
        this.minibatchSize = b.minibatchSize != null ? b.minibatchSize : (b.kind == HeadKind.LINEAR ? 1 : 128);
        this.seed = b.seed;
        this.l2Normalize = b.l2Normalize;
        this.standardize = b.standardize;
        this.classWeighting = b.classWeighting;
        this.trainFraction = b.trainFraction;
        this.validationFraction = b.validationFraction;
        this.testFraction = b.testFraction;
        this.fractionsGiven = b.fractionsGiven;
        this.thresholdMode = b.thresholdMode;
        this.linearOptimiser = b.linearOptimiser;
        this.cGrid = b.cGrid != null ? List.copyOf(b.cGrid) : DEFAULT_C_GRID;
        this.cGiven = b.cGrid != null;
        this.folds = b.folds;
        if (sgd && (epochs < 1 || !(learningRate > 0) || !Double.isFinite(learningRate) || minibatchSize < 1)) {
            throw new IllegalArgumentException("epochs and batch size must be >= 1 and the learning rate a finite "
                    + "number > 0; got epochs " + epochs + ", learning rate " + learningRate + ", batch size "
                    + minibatchSize);
        }
        for (double c : cGrid) {
            if (!(c > 0) || !Double.isFinite(c)) {
                throw new IllegalArgumentException("C must be a finite number > 0 (scikit-learn's inverse "
                        + "regularisation strength, e.g. 0.1); got " + c);
            }
        }
        if (cGrid.isEmpty()) {
            throw new IllegalArgumentException("give at least one value of C");
        }
        if (folds < 2) {
            throw new IllegalArgumentException("cross-validation needs at least 2 folds, got " + folds);
        }
        Splits.checkFractions(trainFraction, validationFraction, testFraction);
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

    /**
     * Trains on {@code set}; see the class comment for the steps. What Tribuo logs meanwhile is kept in
     * {@link TrainingRun#log()}, not printed.
     */
    public TrainingRun train(EmbeddingSet set) {
        LibraryLog.Captured<TrainingRun> run = LibraryLog.capture(() -> trainQuietly(set));
        return run.value().withLog(run.lines());
    }

    private TrainingRun trainQuietly(EmbeddingSet set) {
        checkLabels(set);
        SplitAssignment split = Splits.assign(set, multiLabel, trainFraction, validationFraction, testFraction, seed);
        List<String> warnings = new ArrayList<>();
        int validationRows = split.validation().length;
        boolean tunedThresholds = multiLabel && thresholdMode != Thresholds.Mode.FIXED;
        if (kind == HeadKind.LINEAR && solver == LinearSolver.LBFGS && (cGrid.size() > 1 || tunedThresholds)
                && validationRows > 0
                && validationRows < MIN_VALIDATION_ROWS && split.train().length >= folds) {
            int[] merged = new int[split.train().length + validationRows];
            System.arraycopy(split.train(), 0, merged, 0, split.train().length);
            System.arraycopy(split.validation(), 0, merged, split.train().length, validationRows);
            Arrays.sort(merged);
            split = new SplitAssignment(merged, new int[0], split.test(), split.origin() + "; its " + validationRows
                    + " validation rows joined train, " + folds + "-fold cross-validation chose C");
            warnings.add(validationRows + " validation rows are too few to choose C reliably; they joined the training "
                    + "rows and C (and any thresholds) were chosen by " + folds + "-fold cross-validation instead");
        }
        if (fractionsGiven && split.origin().equals("split column")) {
            warnings.add("--fractions was not used: the cache's split column already marks train, val and test rows");
        }
        List<String> trainLabels = checkSplitLabels(set, split);
        warnings.addAll(supportWarnings(set, split, trainLabels));
        if ((kind == HeadKind.MLP || solver == LinearSolver.SGD) && minibatchSize > split.train().length) {
            warnings.add("the batch size " + minibatchSize + " (--batch-size) is more than the " + split.train().length
                    + " training rows; each step uses all of them");
        }
        if (kind == HeadKind.MLP) {
            checkMlpFits(set.dimension(), trainLabels.size(), split.train().length);
        }
        Normalization norm = Normalization.fit(set, split.train(), l2Normalize, standardize);
        float[] weights = exampleWeights(set, split.train());
        Map<String, Provenance> runProvenance = new HashMap<>();
        runProvenance.put("vitfit-embeddings", new StringProvenance("vitfit-embeddings", set.source()));
        runProvenance.put("vitfit-split", new StringProvenance("vitfit-split", split.origin()));
        if (set.modelSha256() != null) {
            runProvenance.put("vitfit-backbone-sha256", new StringProvenance("vitfit-backbone-sha256", set.modelSha256()));
        }
        boolean noValidation = split.validation().length == 0;
        // Without validation rows, k-fold cross-validation on the training rows chooses what validation would have
        // chosen (C, the MLP's epochs, thresholds), and it is the head's check when there are no test rows either.
        boolean crossValidate = noValidation && (needsSelection() || tunedThresholds || split.test().length == 0);
        if (crossValidate) {
            warnings.addAll(foldWarnings(set, split.train(), trainLabels));
        }

        long start = System.nanoTime();
        Fitted fitted = kind == HeadKind.LINEAR && solver == LinearSolver.LBFGS
                ? fitLbfgs(set, split, norm, weights, trainLabels, crossValidate, runProvenance)
                : fitTribuo(set, split, norm, weights, trainLabels, crossValidate, runProvenance);
        double trainSeconds = (System.nanoTime() - start) / 1e9;
        warnings.addAll(fitted.warnings());

        Model<?> model = fitted.model();
        List<String> labels = Head.outputOrder(model);
        float[] outOfFold = fitted.outOfFoldScores() == null ? null
                : reorder(fitted.outOfFoldScores(), fitted.scoreLabels(), labels);
        Thresholds thresholds = null;
        if (multiLabel && !tunedThresholds) {
            thresholds = Thresholds.fixed(labels.size());
        } else if (multiLabel && outOfFold != null) {
            thresholds = tune(set, split.train(), outOfFold, labels);
        } else if (multiLabel) {
            Head untuned = new Head(metadata(set, labels, norm, Thresholds.fixed(labels.size()), model, fitted), model);
            thresholds = tune(set, split.validation(), untuned.scores(set, split.validation()), labels);
        }
        Head head = new Head(metadata(set, labels, norm, thresholds, model, fitted), model);
        EvaluationReport validation = split.validation().length == 0 ? null
                : HeadEvaluator.evaluate(head, set, split.validation(), "validation");
        EvaluationReport crossValidation = outOfFold == null ? null
                : HeadEvaluator.evaluateScores(head, set, split.train(), outOfFold, "cross-validation");
        EvaluationReport test = split.test().length == 0 ? null
                : HeadEvaluator.evaluate(head, set, split.test(), "test");
        String checkedBy;
        if (test != null) {
            checkedBy = "test split (" + split.test().length + " held-out rows)";
        } else if (crossValidation != null) {
            checkedBy = folds + "-fold cross-validation on the " + split.train().length + " training rows";
            warnings.add("no test rows: the head was checked only by " + checkedBy + " (out-of-fold figures); "
                    + "hold out test images (--fractions, or a split column) for an unbiased check");
        } else {
            checkedBy = "validation split (" + split.validation().length + " rows, no test rows)";
            warnings.add("no test rows: the head was checked only on the " + split.validation().length
                    + " validation rows, which also tuned it, so its figures are optimistic; hold out test images "
                    + "(--fractions, or a split column) for an unbiased check");
        }
        return new TrainingRun(head, split, fitted.curve(), validation, crossValidation, test, trainSeconds,
                trainLabels.size(), fitted.selection(), checkedBy, warnings, List.of());
    }

    /** Whether the model has a hyper-parameter that validation would choose. */
    private boolean needsSelection() {
        if (kind == HeadKind.MLP) {
            return mlp.patience() > 0;
        }
        return solver == LinearSolver.LBFGS && cGrid.size() > 1;
    }

    // ------------------------------------------------------------------------------------------------- L-BFGS

    /**
     * A fitted model, how its hyper-parameter was chosen, what head.json records about the fit, and, after
     * cross-validation, the out-of-fold scores of the training rows (columns in {@code scoreLabels} order).
     */
    private record Fitted(Model<?> model, TrainingCurve curve, ModelSelection selection, Map<String, Object> recorded,
                          float[] outOfFoldScores, List<String> scoreLabels, List<String> warnings) {
    }

    private Fitted fitLbfgs(EmbeddingSet set, SplitAssignment split, Normalization norm, float[] weights,
                            List<String> labels, boolean crossValidate, Map<String, Provenance> runProvenance) {
        LogisticRegression.Data data = logisticData(set, split, norm, weights, labels);
        int[] train = split.train();
        boolean validate = split.validation().length > 0;
        ModelSelection selection = null;
        float[] outOfFold = null;
        LogisticRegression.Fit fit;
        if (!validate && !crossValidate) {
            fit = LogisticRegression.fit(data, train, cGrid.get(0), null);
        } else {
            // One path per fold (the validation split is a single fold), C from strongest to weakest
            // regularisation, each fit starting from the fold's previous solution.
            int[][] valRows = validate ? new int[][] {split.validation()} : Splits.kFold(set, train, multiLabel, folds, seed);
            int nFolds = valRows.length;
            int[][] fitRows = new int[nFolds][];
            for (int f = 0; f < nFolds; f++) {
                fitRows[f] = validate ? train : Splits.foldTraining(valRows, f);
            }
            int[] scored = validate ? split.validation() : train;
            Map<Integer, Integer> position = positions(scored);
            int k = labels.size();
            double[][] warm = new double[nFolds][];
            List<Double> tried = new ArrayList<>();
            List<Double> metrics = new ArrayList<>();
            List<Double> losses = new ArrayList<>();
            double[][] bestSolutions = null;
            float[] bestScores = null;
            int bestIndex = -1;
            int notBetter = 0;
            for (double c : cGrid) {
                LogisticRegression.Fit[] foldFits = new LogisticRegression.Fit[nFolds];
                double[][] start = warm;
                java.util.stream.IntStream.range(0, nFolds).parallel()
                        .forEach(f -> foldFits[f] = LogisticRegression.fit(data, fitRows[f], c, start[f],
                                LogisticRegression.SEARCH_TOLERANCE));
                float[] scores = new float[scored.length * k];
                double lossSum = 0;
                double weightSum = 0;
                for (int f = 0; f < nFolds; f++) {
                    warm[f] = foldFits[f].params();
                    double w = 0;
                    for (int r : valRows[f]) {
                        w += data.weight(r);
                    }
                    lossSum += LogisticRegression.meanLoss(data, valRows[f], warm[f]) * w;
                    weightSum += w;
                    float[] p = LogisticRegression.probabilities(data, valRows[f], warm[f]);
                    for (int i = 0; i < valRows[f].length; i++) {
                        System.arraycopy(p, i * k, scores, position.get(valRows[f][i]) * k, k);
                    }
                }
                tried.add(c);
                losses.add(lossSum / weightSum);
                metrics.add(selectionMetric(data, scored, scores));
                LOG.info(String.format(Locale.ROOT, "C %s: %s %.4f, log-loss %.4f (L-BFGS iterations per fold %s)",
                        ModelSelection.format(c), multiLabel ? "micro ROC-AUC" : "accuracy",
                        metrics.get(metrics.size() - 1), losses.get(losses.size() - 1),
                        Arrays.stream(foldFits).map(x -> x.iterations() + " " + x.status()).toList()));
                // Strictly better only: among equal scores the stronger regularisation wins, as in scikit-learn's
                // LogisticRegressionCV.
                if (bestIndex < 0 || metrics.get(metrics.size() - 1) > metrics.get(bestIndex) + 1e-12) {
                    bestIndex = metrics.size() - 1;
                    bestSolutions = warm.clone();
                    bestScores = scores;
                    notBetter = 0;
                } else if (++notBetter >= PATH_PATIENCE) {
                    break;
                }
            }
            double chosen = tried.get(bestIndex);
            String method = validate ? "validation split" : nFolds + "-fold cross-validation";
            if (cGrid.size() > 1) {
                selection = new ModelSelection("C", method, multiLabel ? "micro ROC-AUC" : "accuracy", scored.length,
                        tried, metrics, losses, chosen);
            }
            if (validate) {
                fit = LogisticRegression.fit(data, train, chosen, bestSolutions[0]);
            } else {
                // the folds' mean solution is a close starting point for the fit on all training rows
                double[] start = new double[data.parameters()];
                for (double[] solution : bestSolutions) {
                    for (int i = 0; i < start.length; i++) {
                        start[i] += solution[i] / nFolds;
                    }
                }
                fit = LogisticRegression.fit(data, train, chosen, start);
                outOfFold = bestScores;
            }
        }
        int d = data.d();
        int k = data.k();
        double c = selection != null ? selection.chosen() : cGrid.get(0);
        LOG.info(String.format(Locale.ROOT, "final fit on %d rows: C %s, %d L-BFGS iterations, %s, training log-loss %.4f",
                train.length, ModelSelection.format(c), fit.iterations(), fit.status(), fit.loss()));
        Map<String, Provenance> provenance = new HashMap<>(runProvenance);
        provenance.put("vitfit-weights", new StringProvenance("vitfit-weights", "vitfit L2-regularised logistic "
                + "regression, L-BFGS (lbfgs4j), C " + c + ", " + fit.iterations() + " iterations, " + fit.status()));
        Model<?> model = LinearHeads.model(multiLabel ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels,
                LogisticRegression.weights(fit.params(), k, d), LogisticRegression.biases(fit.params(), k, d),
                provenance);
        TrainingCurve curve = new TrainingCurve(fit.lossCurve(), List.of(), List.of(), "",
                Math.max(1, fit.iterations()), "iteration");
        Map<String, Object> recorded = new LinkedHashMap<>();
        recorded.put("C", c);
        recorded.put("iterations", fit.iterations());
        recorded.put("solverStatus", fit.status());
        return new Fitted(model, curve, selection, recorded, outOfFold, labels, stalledFitWarning(fit, c, k, d));
    }

    /**
     * A fit that took no L-BFGS iteration and did not converge never left its start: at a C so small (1e-300) that any
     * step raises the penalty past what the data can lower, the line search gives up at once. The head is then its
     * starting point, not a fitted model, which the user must hear about.
     */
    private static List<String> stalledFitWarning(LogisticRegression.Fit fit, double c, int k, int d) {
        if (fit.iterations() > 0 || fit.converged()) {
            return List.of();
        }
        boolean zeros = true;
        for (int cls = 0; cls < k && zeros; cls++) {
            for (int j = 0; j < d && zeros; j++) {
                zeros = fit.params()[cls * (d + 1) + j] == 0;
            }
        }
        return List.of("the L-BFGS fit with C " + ModelSelection.format(c) + " (--C) stopped at its starting point "
                + "after 0 iterations (" + fit.status() + "): the regularisation is so strong that no step lowers the "
                + "objective, so " + (zeros ? "every weight is 0 and the head gives every image the class frequencies "
                + "of the training rows" : "the weights are where the search started")
                + "; use a larger --C (1 is scikit-learn's default), or several (--C 0.01,0.1,1,10) for validation to "
                + "choose from");
    }

    /** Accuracy (multi-class) or micro ROC-AUC (multi-label) of {@code scores} for {@code rows}. */
    private double selectionMetric(LogisticRegression.Data data, int[] rows, float[] scores) {
        int k = data.k();
        if (multiLabel) {
            boolean[] truth = new boolean[rows.length * k];
            for (int i = 0; i < rows.length; i++) {
                for (int j = 0; j < k; j++) {
                    truth[i * k + j] = data.y()[rows[i] * k + j] > 0.5f;
                }
            }
            double auc = org.vitfit.eval.RocAuc.micro(scores, truth);
            return Double.isNaN(auc) ? 0 : auc;
        }
        long correct = 0;
        for (int i = 0; i < rows.length; i++) {
            int best = 0;
            for (int j = 1; j < k; j++) {
                if (scores[i * k + j] > scores[i * k + best]) {
                    best = j;
                }
            }
            correct += data.y()[rows[i] * k + best] > 0.5f ? 1 : 0;
        }
        return correct / (double) rows.length;
    }

    /** The normalised rows of {@code set} with their targets over {@code labels}; weights on the training rows. */
    private LogisticRegression.Data logisticData(EmbeddingSet set, SplitAssignment split, Normalization norm,
                                                 float[] trainWeights, List<String> labels) {
        int n = set.size();
        int d = set.dimension();
        int k = labels.size();
        if ((long) n * Math.max(d, k) > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(set.source() + ": " + n + " rows of " + d + " values are more than "
                    + "one Java array holds; train on a subset");
        }
        float[] x = new float[n * d];
        float[] y = new float[n * k];
        Map<String, Integer> index = new HashMap<>();
        for (int j = 0; j < k; j++) {
            index.put(labels.get(j), j);
        }
        for (int i = 0; i < n; i++) {
            norm.apply(set.data(), i * d, x, i * d, d);
            for (String l : set.labels(i)) {
                Integer j = index.get(l);
                if (j != null) {
                    y[i * k + j] = 1f;
                }
            }
        }
        float[] s = null;
        if (trainWeights != null) {
            s = new float[n];
            Arrays.fill(s, 1f);
            int[] train = split.train();
            for (int i = 0; i < train.length; i++) {
                s[train[i]] = trainWeights[i];
            }
        }
        return new LogisticRegression.Data(x, n, d, y, k, s,
                multiLabel ? LogisticRegression.Link.SIGMOID : LogisticRegression.Link.SOFTMAX);
    }

    // ------------------------------------------------------------------------------------ Tribuo SGD and MLP

    private Fitted fitTribuo(EmbeddingSet set, SplitAssignment split, Normalization norm, float[] weights,
                             List<String> labels, boolean crossValidate, Map<String, Provenance> runProvenance) {
        if (multiLabel) {
            return fitTribuo(set, split, norm, weights, labels, crossValidate, runProvenance, new MultiLabelFactory(),
                    l -> new MultiLabel(toLabels(l)), MLPMultiLabelTrainer::new,
                    (epochsRun, perEpoch, batch) -> new org.tribuo.multilabel.sgd.linear.LinearSGDTrainer(
                            new BinaryCrossEntropy(), linearOptimiser(), epochsRun, perEpoch, batch, seed),
                    // Tribuo's BinaryCrossEntropy sums over labels; scale to the mean per label, as the MLP reports it
                    train -> 1.0 / train.getOutputIDInfo().size());
        }
        return fitTribuo(set, split, norm, weights, labels, crossValidate, runProvenance, new LabelFactory(),
                l -> new Label(l.get(0)), MLPClassificationTrainer::new,
                (epochsRun, perEpoch, batch) -> new org.tribuo.classification.sgd.linear.LinearSGDTrainer(
                        new LogMulticlass(), linearOptimiser(), epochsRun, perEpoch, batch, seed),
                // Tribuo's LogMulticlass reports the log-likelihood; negate it to get the cross-entropy loss
                train -> -1.0);
    }

    /** Makes a linear SGD trainer for a number of epochs, steps per epoch and batch size. */
    private interface LinearTrainerFactory<T extends org.tribuo.Output<T>> {
        Trainer<T> create(int epochs, int stepsPerEpoch, int batchSize);
    }

    /** A trained Tribuo model with its curve and the epochs it ran (or kept). */
    private record TribuoFit(Model<?> model, TrainingCurve curve, int epochsRun) {
    }

    /** The one Tribuo path for both tasks: datasets, then the MLP or the SGD linear head, with k-fold CV if asked. */
    private <T extends org.tribuo.Output<T>> Fitted fitTribuo(
            EmbeddingSet set, SplitAssignment split, Normalization norm, float[] weights, List<String> labels,
            boolean crossValidate, Map<String, Provenance> runProvenance, org.tribuo.OutputFactory<T> factory,
            Function<List<String>, T> output, Function<MLPOptions, MLPTrainer<T>> mlpTrainer,
            LinearTrainerFactory<T> linear, java.util.function.ToDoubleFunction<MutableDataset<T>> lossScale) {
        int[] train = split.train();
        Map<Integer, Integer> trainPosition = positions(train);
        MutableDataset<T> trainSet = dataset(set, train, norm, weights, trainPosition, factory, "train", output, null);
        if (!crossValidate) {
            MutableDataset<T> val = split.validation().length == 0 ? null
                    : dataset(set, split.validation(), norm, null, null, factory, "validation", output, null);
            TribuoFit fit = fitOnce(trainSet, val, mlp, runProvenance, mlpTrainer, linear, lossScale);
            return new Fitted(fit.model(), fit.curve(), null, Map.of("epochs", fit.epochsRun()), null, null, List.of());
        }
        int[][] parts = Splits.kFold(set, train, multiLabel, folds, seed);
        int k = labels.size();
        float[] oof = new float[train.length * k];
        List<Double> bestEpochs = new ArrayList<>();
        List<Double> bestLosses = new ArrayList<>();
        for (int f = 0; f < folds; f++) {
            int[] foldTrain = Splits.foldTraining(parts, f);
            MutableDataset<T> foldSet = dataset(set, foldTrain, norm, weights, trainPosition, factory,
                    "train, fold " + (f + 1) + " of " + folds, output, null);
            Set<String> known = new HashSet<>();
            for (int r : foldTrain) {
                known.addAll(set.labels(r));
            }
            MutableDataset<T> foldVal = kind == HeadKind.MLP && mlp.patience() > 0
                    ? dataset(set, parts[f], norm, null, null, factory, "validation, fold " + (f + 1), output, known)
                    : null;
            if (foldVal != null && foldVal.size() == 0) {
                foldVal = null;
            }
            TribuoFit fit = fitOnce(foldSet, foldVal, mlp, runProvenance, mlpTrainer, linear, lossScale);
            if (foldVal != null) {
                bestEpochs.add((double) fit.curve().bestEpoch());
                bestLosses.add(fit.curve().validationLoss().get(fit.curve().bestEpoch() - 1));
            }
            Model<?> foldModel = fit.model();
            List<String> foldLabels = Head.outputOrder(foldModel);
            Head foldHead = new Head(metadata(set, foldLabels, norm,
                    multiLabel ? Thresholds.fixed(foldLabels.size()) : null, foldModel, null), foldModel);
            float[] scores = reorder(foldHead.scores(set, parts[f]), foldLabels, labels);
            for (int i = 0; i < parts[f].length; i++) {
                System.arraycopy(scores, i * k, oof, trainPosition.get(parts[f][i]) * k, k);
            }
        }
        MLPOptions finalOptions = mlp;
        ModelSelection selection = null;
        if (!bestEpochs.isEmpty()) {
            double[] sorted = bestEpochs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            int chosen = (int) Math.round(sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2);
            selection = new ModelSelection("epochs", folds + "-fold cross-validation", "validation loss",
                    train.length, bestEpochs, bestLosses, bestLosses, chosen);
            finalOptions = new MLPOptions(mlp.hiddenSize(), mlp.hiddenLayers(), mlp.activation(), mlp.dropout(),
                    mlp.learningRate(), mlp.weightDecay(), chosen, mlp.minibatchSize(), 0, 0.0, mlp.seed());
        }
        TribuoFit fit = fitOnce(trainSet, null, finalOptions, runProvenance, mlpTrainer, linear, lossScale);
        return new Fitted(fit.model(), fit.curve(), selection, Map.of("epochs", fit.epochsRun()), oof, labels,
                List.of());
    }

    private <T extends org.tribuo.Output<T>> TribuoFit fitOnce(
            MutableDataset<T> train, MutableDataset<T> val, MLPOptions options, Map<String, Provenance> runProvenance,
            Function<MLPOptions, MLPTrainer<T>> mlpTrainer, LinearTrainerFactory<T> linear,
            java.util.function.ToDoubleFunction<MutableDataset<T>> lossScale) {
        // a batch larger than the data is the whole data (the trainer was told, see batchWarning)
        int batch = Math.min(minibatchSize, train.size());
        if (kind == HeadKind.MLP) {
            MLPOptions o = new MLPOptions(options.hiddenSize(), options.hiddenLayers(), options.activation(),
                    options.dropout(), options.learningRate(), options.weightDecay(), options.epochs(), batch,
                    options.patience(), options.validationFraction(), options.seed());
            MLPTrainer.Fit<T> fit = mlpTrainer.apply(o).fit(train, val, runProvenance,
                    Trainer.INCREMENT_INVOCATION_COUNT);
            return new TribuoFit(fit.model(), fit.curve(), options.epochs());
        }
        int perEpoch = (train.size() + batch - 1) / batch;
        int epochsRun = linearEpochs(perEpoch);
        Trainer<T> trainer = linear.create(epochsRun, perEpoch, batch);
        LossLog log = new LossLog(perEpoch, totalWeight(train), lossScale.applyAsDouble(train));
        Model<?> model = log.run(() -> trainer.train(train, runProvenance));
        List<Double> losses = log.curve().trainLoss();
        for (int e = 0; e < losses.size(); e++) {
            Finite.require(losses.get(e), "the SGD linear head's training loss in epoch " + (e + 1) + " (learning rate "
                    + learningRate + ")", "training diverged. Lower the learning rate (--lr), e.g. to the default 1e-3");
        }
        double[][] w = ((AbstractLinearSGDModel<?>) model).getWeightsCopy().toArray();
        for (double[] row : w) {
            Finite.require(row, "the SGD linear head's weights (learning rate " + learningRate + ")",
                    "training diverged. Lower the learning rate (--lr), e.g. to the default 1e-3");
        }
        return new TribuoFit(model, log.curve(), epochsRun);
    }

    /**
     * Tribuo dataset of {@code rows}; {@code weights} are indexed by position in the training split. With
     * {@code known} set, labels outside it are dropped (a fold's validation rows may hold a label that fold's
     * training rows lack), and multi-class rows of such labels are left out.
     */
    private static <T extends org.tribuo.Output<T>> MutableDataset<T> dataset(
            EmbeddingSet set, int[] rows, Normalization norm, float[] weights, Map<Integer, Integer> weightIndex,
            org.tribuo.OutputFactory<T> factory, String part, Function<List<String>, T> output, Set<String> known) {
        int d = set.dimension();
        String[] names = FeatureNames.of(d);
        float[] x = new float[d];
        MutableDataset<T> ds = new MutableDataset<>(
                new SimpleDataSourceProvenance(set.source() + " [" + part + "]", factory), factory);
        for (int r : rows) {
            List<String> labels = set.labels(r);
            if (known != null) {
                labels = labels.stream().filter(known::contains).toList();
                if (labels.isEmpty() && !set.labels(r).isEmpty()) {
                    continue;
                }
            }
            norm.apply(set.data(), r * d, x, 0, d);
            ArrayExample<T> e = FeatureNames.example(output.apply(labels), names, x, 0, d);
            if (weights != null) {
                e.setWeight(weights[weightIndex.get(r)]);
            }
            ds.add(e);
        }
        return ds;
    }

    /** Scores {@code [n][from.size()]} with their columns rearranged to {@code to}; labels missing from {@code from} score 0. */
    static float[] reorder(float[] scores, List<String> from, List<String> to) {
        if (from.equals(to)) {
            return scores;
        }
        int n = scores.length / from.size();
        float[] out = new float[n * to.size()];
        for (int j = 0; j < to.size(); j++) {
            int src = from.indexOf(to.get(j));
            if (src < 0) {
                continue;
            }
            for (int i = 0; i < n; i++) {
                out[i * to.size() + j] = scores[i * from.size() + src];
            }
        }
        return out;
    }

    private Thresholds tune(EmbeddingSet set, int[] rows, float[] scores, List<String> labels) {
        int k = labels.size();
        boolean[] truth = new boolean[rows.length * k];
        for (int i = 0; i < rows.length; i++) {
            Set<String> names = new HashSet<>(set.labels(rows[i]));
            for (int j = 0; j < k; j++) {
                truth[i * k + j] = names.contains(labels.get(j));
            }
        }
        return Thresholds.tune(thresholdMode, scores, truth, rows.length, k);
    }

    private static Map<Integer, Integer> positions(int[] rows) {
        Map<Integer, Integer> p = new HashMap<>();
        for (int i = 0; i < rows.length; i++) {
            p.put(rows[i], i);
        }
        return p;
    }

    // --------------------------------------------------------------------------------------------- checks

    /**
     * Refuses an MLP whose parameters (with gradients, AdamW's two moments and the kept best copy: five floats
     * each) would not fit in this JVM's heap, before anything is allocated.
     */
    private void checkMlpFits(int dimension, int outputs, int trainRows) {
        long h = mlp.hiddenSize();
        long params = dimension * h + h + (mlp.hiddenLayers() - 1) * (h * h + h) + h * outputs + outputs;
        long bytes = params * 4 * 5 + (long) Math.min(mlp.minibatchSize(), trainRows) * h * 4 * 4 * mlp.hiddenLayers();
        long largestArray = Math.max(dimension * h, mlp.hiddenLayers() > 1 ? h * h : 0);
        long heap = Runtime.getRuntime().maxMemory();
        if (largestArray > Integer.MAX_VALUE - 8 || bytes > heap * 0.8) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "an MLP with %d hidden units (--hidden) "
                            + "on %d-dimensional embeddings has %,d parameters and needs about %.1f GiB for them and "
                            + "their optimiser state, more than this JVM's %.1f GiB heap; use fewer hidden units "
                            + "(default 512)", h, dimension, params, bytes / 1073741824.0, heap / 1073741824.0));
        }
    }

    /** Warns about classes (labels) that validation or test cannot measure: too few images to go round. */
    private List<String> supportWarnings(EmbeddingSet set, SplitAssignment split, List<String> trainLabels) {
        Map<String, Integer> total = new TreeMap<>();
        for (int i = 0; i < set.size(); i++) {
            for (String l : set.labels(i)) {
                total.merge(l, 1, Integer::sum);
            }
        }
        List<String> out = new ArrayList<>();
        for (int[] rows : new int[][] {split.validation(), split.test()}) {
            if (rows.length == 0) {
                continue;
            }
            String part = rows == split.validation() ? "validation" : "test";
            Set<String> present = new HashSet<>();
            for (int r : rows) {
                present.addAll(set.labels(r));
            }
            List<String> absent = new ArrayList<>();
            for (String l : trainLabels) {
                if (!present.contains(l)) {
                    absent.add("'" + l + "' (" + total.get(l) + (total.get(l) == 1 ? " image" : " images") + ")");
                }
            }
            if (!absent.isEmpty()) {
                out.add(absent.size() + (absent.size() == 1 ? " class has" : " classes have") + " no " + part
                        + " rows, so the " + part + " figures say nothing about " + (absent.size() == 1 ? "it" : "them")
                        + " (support 0): " + String.join(", ", absent.subList(0, Math.min(10, absent.size())))
                        + (absent.size() > 10 ? " and " + (absent.size() - 10) + " more" : "")
                        + "; add images of " + (absent.size() == 1 ? "that class" : "those classes"));
            }
        }
        return out;
    }

    /**
     * Classes with fewer training rows than folds are missing from some held-out folds, and a class with one row is
     * never both trained on and checked: the out-of-fold figures, and the C or thresholds chosen by them, then say
     * nothing about those classes (37 breeds of one image each gave accuracy 0 for every C, and a C was still
     * "chosen"). scikit-learn's StratifiedKFold warns the same way.
     */
    private List<String> foldWarnings(EmbeddingSet set, int[] trainRows, List<String> trainLabels) {
        Map<String, Integer> count = new TreeMap<>();
        for (int r : trainRows) {
            for (String l : set.labels(r)) {
                count.merge(l, 1, Integer::sum);
            }
        }
        List<String> few = new ArrayList<>();
        for (String l : trainLabels) {
            int n = count.getOrDefault(l, 0);
            if (n < folds) {
                few.add("'" + l + "' (" + n + (n == 1 ? " row" : " rows") + ")");
            }
        }
        if (few.isEmpty()) {
            return List.of();
        }
        return List.of(few.size() + (few.size() == 1 ? " class has" : " classes have") + " fewer training rows than the "
                + folds + " cross-validation folds, so the out-of-fold figures (and what they chose) say little about "
                + (few.size() == 1 ? "it" : "them") + ": " + String.join(", ", few.subList(0, Math.min(10, few.size())))
                + (few.size() > 10 ? " and " + (few.size() - 10) + " more" : "") + "; add images of "
                + (few.size() == 1 ? "that class" : "those classes") + ", or use fewer --folds");
    }

    private HeadMetadata metadata(EmbeddingSet set, List<String> labels, Normalization norm, Thresholds thresholds,
                                  Model<?> model, Fitted fitted) {
        Map<String, Object> options = options();
        if (fitted != null) {
            options.putAll(fitted.recorded());
        }
        return new HeadMetadata(HeadMetadata.FORMAT, HeadMetadata.FORMAT_VERSION, kind,
                multiLabel ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, set.dimension(), norm, thresholds,
                set.modelSha256(), Head.MODEL_FILE, Head.ONNX_FILE, Head.ONNX_INPUT, Head.ONNX_OUTPUT,
                model.getClass().getName(), OffsetDateTime.now(ZoneOffset.UTC).toString(), toolVersion(), options);
    }

    /**
     * Epochs an SGD linear head trains with {@code stepsPerEpoch} mini-batches per epoch: the given count, or by
     * default 20 raised to reach {@link #LINEAR_MIN_STEPS} steps.
     */
    int linearEpochs(int stepsPerEpoch) {
        if (epochsGiven) {
            return epochs;
        }
        return Math.max(epochs, (LINEAR_MIN_STEPS + stepsPerEpoch - 1) / stepsPerEpoch);
    }

    /**
     * The options of this trainer as recorded in {@code head.json}; there {@code epochs} is the count run and an
     * L-BFGS head adds the {@code C} it was trained with.
     */
    public Map<String, Object> options() {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("head", kind.jsonName());
        o.put("multilabel", multiLabel);
        if (kind == HeadKind.LINEAR) {
            o.put("solver", solver.name().toLowerCase(Locale.ROOT));
        }
        if (kind == HeadKind.LINEAR && solver == LinearSolver.LBFGS) {
            o.put("cGrid", cGrid);
        } else {
            o.put("epochs", epochs);
            o.put("learningRate", learningRate);
            o.put("batchSize", minibatchSize);
        }
        o.put("folds", folds);
        o.put("seed", seed);
        o.put("l2Normalize", l2Normalize);
        o.put("standardize", standardize);
        o.put("classWeighting", classWeighting.name().toLowerCase(Locale.ROOT));
        o.put("fractions", List.of(trainFraction, validationFraction, testFraction));
        if (multiLabel) {
            o.put("thresholds", thresholdMode.jsonName());
        }
        if (kind == HeadKind.LINEAR && solver == LinearSolver.SGD) {
            o.put("optimiser", linearOptimiser.name().toLowerCase(Locale.ROOT));
        } else if (kind == HeadKind.MLP) {
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
        Set<Label> s = new HashSet<>();
        for (String n : names) {
            s.add(new Label(n));
        }
        return s;
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
        private LinearSolver solver = LinearSolver.LBFGS;
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
        private boolean fractionsGiven = false;
        private Thresholds.Mode thresholdMode = Thresholds.Mode.GLOBAL;
        private LinearOptimiser linearOptimiser = LinearOptimiser.ADAM;
        private boolean optimiserGiven = false;
        private List<Double> cGrid;
        private int folds = DEFAULT_FOLDS;
        private int hiddenSize = MLPOptions.defaults().hiddenSize();
        private int hiddenLayers = MLPOptions.defaults().hiddenLayers();
        private Activation activation = MLPOptions.defaults().activation();
        private float dropout = MLPOptions.defaults().dropout();
        private double weightDecay = MLPOptions.defaults().weightDecay();
        private int patience = MLPOptions.defaults().patience();
        private final Set<String> mlpOptionsGiven = new TreeSet<>();

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

        /** How a linear head is fitted (default {@link LinearSolver#LBFGS}). */
        public Builder solver(LinearSolver solver) {
            this.solver = solver;
            return this;
        }

        /** Epochs of the MLP or the SGD linear head (not the L-BFGS one). */
        public Builder epochs(int epochs) {
            this.epochs = epochs;
            return this;
        }

        /** Learning rate of the MLP or the SGD linear head. */
        public Builder learningRate(double learningRate) {
            this.learningRate = learningRate;
            return this;
        }

        /** Mini-batch size of the MLP or the SGD linear head. */
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

        /**
         * Fractions of the stratified split used when the data has no split column (must sum to 1). With a split
         * column that marks train and only one of val/test, {@code validation / (train + validation)} of the train
         * rows become the validation split; with train, val and test marked, the fractions are not used (a warning
         * says so).
         */
        public Builder fractions(double train, double validation, double test) {
            this.trainFraction = train;
            this.validationFraction = validation;
            this.testFraction = test;
            this.fractionsGiven = true;
            return this;
        }

        public Builder thresholds(Thresholds.Mode mode) {
            this.thresholdMode = mode;
            return this;
        }

        /** Optimiser of the SGD linear head. */
        public Builder linearOptimiser(LinearOptimiser optimiser) {
            this.linearOptimiser = optimiser;
            this.optimiserGiven = true;
            return this;
        }

        /**
         * C values for the L-BFGS linear head (scikit-learn's inverse regularisation strength): one value is used
         * as is; several are tried and the best by validation (or cross-validated) log-loss is kept. Default
         * {@link #DEFAULT_C_GRID}.
         */
        public Builder c(List<Double> values) {
            this.cGrid = List.copyOf(values);
            return this;
        }

        /** Folds of the cross-validation used when there is no validation split (default 5). */
        public Builder folds(int folds) {
            this.folds = folds;
            return this;
        }

        public Builder hiddenSize(int hiddenSize) {
            this.hiddenSize = hiddenSize;
            mlpOptionsGiven.add("--hidden");
            return this;
        }

        public Builder hiddenLayers(int hiddenLayers) {
            this.hiddenLayers = hiddenLayers;
            mlpOptionsGiven.add("--layers");
            return this;
        }

        public Builder activation(Activation activation) {
            this.activation = activation;
            mlpOptionsGiven.add("--activation");
            return this;
        }

        public Builder dropout(float dropout) {
            this.dropout = dropout;
            mlpOptionsGiven.add("--dropout");
            return this;
        }

        public Builder weightDecay(double weightDecay) {
            this.weightDecay = weightDecay;
            mlpOptionsGiven.add("--weight-decay");
            return this;
        }

        /** Epochs without validation-loss improvement before the MLP stops; 0 disables early stopping. */
        public Builder patience(int patience) {
            this.patience = patience;
            mlpOptionsGiven.add("--patience");
            return this;
        }

        public HeadTrainer build() {
            return new HeadTrainer(this);
        }
    }
}
