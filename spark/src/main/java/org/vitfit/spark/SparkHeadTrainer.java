package org.vitfit.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Matrix;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.LinearHeads;
import org.vitfit.heads.Normalization;
import org.vitfit.heads.SplitAssignment;
import org.vitfit.heads.Splits;
import org.vitfit.heads.Thresholds;
import org.vitfit.runtime.Finite;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Trains a linear head on embeddings too many for one machine with Spark MLlib's {@link LogisticRegression}:
 * multinomial for multi-class, one binary model per label for multi-label. The result is an ordinary vitfit
 * {@link Head} (through {@link LinearHeads}), which {@code vitfit export} packs like any other.
 *
 * <p>Input rows: {@code embedding} (array&lt;float&gt;), {@code labels} (array&lt;string&gt;) or {@code label}
 * (string), optionally {@code path}, {@code split} and {@code error} (rows with an error are skipped). Splits are
 * {@code vitfit train}'s ({@link Splits}, the same code): the split column when any row has one (train / val / test;
 * a column of nulls is no split), else a seeded stratified split by the fractions. Rows are put in {@code path}
 * order first, so the split does not depend on how Spark partitioned them. Embeddings are L2-normalised and/or
 * standardised exactly as {@link Normalization} does, fitted on the training rows; multi-label thresholds are tuned
 * on the validation rows by {@link Thresholds#tune}, as for the Tribuo heads (without validation rows a tuned mode
 * is refused: vitfit train cross-validates instead, which would mean k MLlib fits per label here).
 *
 * <p>What the driver holds: every row's labels, split and path (for the split), and the validation and test
 * vectors (to tune thresholds and evaluate). Training rows stay on the executors.
 */
public final class SparkHeadTrainer {

    /** What a training run produced: the head, how the rows were split, and its scores on validation and test. */
    public record Run(Head head, String splitOrigin, long trainRows, long validationRows, long testRows,
                      EvaluationReport validation, EvaluationReport test, List<String> notes) {
    }

    private static final byte TRAIN = 1;
    private static final byte VALIDATION = 2;
    private static final byte TEST = 3;
    private static final int EXAMPLES = 3;

    private final boolean multiLabel;
    private final boolean l2Normalize;
    private final boolean standardize;
    private final Double regParam;
    private final int maxIter;
    private final String backboneSha256;
    private final double[] fractions;
    private final long seed;
    private final Thresholds.Mode thresholdMode;

    private SparkHeadTrainer(Builder b) {
        this.multiLabel = b.multiLabel;
        this.l2Normalize = b.l2Normalize;
        this.standardize = b.standardize;
        this.regParam = b.regParam;
        this.maxIter = b.maxIter;
        this.backboneSha256 = b.backboneSha256;
        this.fractions = b.fractions.clone();
        this.seed = b.seed;
        this.thresholdMode = b.thresholdMode;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Splits the embedded rows of {@code embeddings}, trains on the training split, tunes and evaluates. */
    public Run train(Dataset<Row> embeddings) {
        List<String> columns = Arrays.asList(embeddings.columns());
        if (!columns.contains(VitfitSpark.EMBEDDING)) {
            throw new IllegalArgumentException("no 'embedding' column in " + columns
                    + "; train on what VitfitSpark.embed wrote");
        }
        String labelColumn = columns.contains(ParquetCacheBridge.LABELS) ? ParquetCacheBridge.LABELS
                : columns.contains(ParquetCacheBridge.LABEL) ? ParquetCacheBridge.LABEL : null;
        if (labelColumn == null) {
            throw new IllegalArgumentException("the embeddings have no 'labels' (array<string>) or 'label' (string) "
                    + "column (columns: " + columns + "); a head needs labelled embeddings: embed a folder per "
                    + "class, or join your labels onto the embeddings by path");
        }
        Dataset<Row> rows = embeddings.filter(embeddings.col(VitfitSpark.EMBEDDING).isNotNull());
        if (columns.contains(VitfitSpark.ERROR)) {
            rows = rows.filter(rows.col(VitfitSpark.ERROR).isNull());
        }
        boolean hasPath = columns.contains(VitfitSpark.PATH);
        if (hasPath) {
            rows = rows.orderBy(VitfitSpark.PATH);
        }
        Metadata meta = embeddings.schema().apply(VitfitSpark.EMBEDDING).metadata();
        String sha = backboneSha256 != null ? backboneSha256
                : meta.contains(ParquetMetadataKeys.MODEL_SHA256) ? meta.getString(ParquetMetadataKeys.MODEL_SHA256) : null;
        Integer declared = meta.contains(ParquetMetadataKeys.DIMENSION)
                ? (int) meta.getLong(ParquetMetadataKeys.DIMENSION) : null;
        boolean listLabels = labelColumn.equals(ParquetCacheBridge.LABELS);
        Column split = columns.contains(ParquetCacheBridge.SPLIT)
                ? rows.col(ParquetCacheBridge.SPLIT).cast(DataTypes.StringType)
                : functions.lit(null).cast(DataTypes.StringType);
        Column path = hasPath ? rows.col(VitfitSpark.PATH) : functions.lit(null).cast(DataTypes.StringType);
        JavaRDD<Sample> samples = rows.select(rows.col(VitfitSpark.EMBEDDING), rows.col(labelColumn), split, path)
                .javaRDD().zipWithIndex().map(t -> Sample.of(t._1(), listLabels, t._2()))
                .persist(StorageLevel.MEMORY_AND_DISK());
        try {
            return train(embeddings.sparkSession(), samples, sha, declared);
        } finally {
            samples.unpersist(false);
        }
    }

    private Run train(SparkSession spark, JavaRDD<Sample> samples, String sha, Integer declared) {
        List<Sample> described = samples.map(Sample::withoutVector).collect();
        int n = described.size();
        if (n == 0) {
            throw new IllegalArgumentException("no embedded rows to train on (every row is an error row, or the "
                    + "input is empty)");
        }
        int d = declared != null ? declared : described.get(0).length;
        checkRows(described, d);
        List<List<String>> labelsOf = new ArrayList<>(n);
        List<String> splitsOf = new ArrayList<>(n);
        List<String> pathsOf = new ArrayList<>(n);
        boolean anySplit = false;
        boolean anyPath = false;
        for (Sample s : described) {
            labelsOf.add(s.labels);
            splitsOf.add(s.split);
            pathsOf.add(s.path);
            anySplit |= s.split != null;
            anyPath |= s.path != null;
        }
        String source = "the embeddings";
        // Only the split matters here: one float per row, so the driver holds labels and paths, not vectors
        EmbeddingSet index = new EmbeddingSet(new float[n], 1, labelsOf, anySplit ? splitsOf : null,
                anyPath ? pathsOf : null, sha, source);
        checkLabels(index);
        SplitAssignment assignment = Splits.assign(index, multiLabel, fractions[0], fractions[1], fractions[2], seed);
        byte[] part = new byte[n];
        for (int r : assignment.train()) {
            part[r] = TRAIN;
        }
        for (int r : assignment.validation()) {
            part[r] = VALIDATION;
        }
        for (int r : assignment.test()) {
            part[r] = TEST;
        }
        List<String> labels = trainingLabels(index, assignment);
        if (multiLabel && thresholdMode != Thresholds.Mode.FIXED && assignment.validation().length == 0) {
            // vitfit train would cross-validate; k folds of one MLlib model per label is not worth it on a cluster
            throw new IllegalArgumentException("no validation rows to tune the " + thresholdMode.jsonName()
                    + " thresholds on (split: " + assignment.origin() + "); give a validation fraction (e.g. "
                    + "--fractions 0.7,0.1,0.2), val rows in the split column, or --thresholds fixed");
        }
        List<String> notes = new ArrayList<>();

        Broadcast<byte[]> parts = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(part);
        try {
            JavaRDD<Sample> train = samples.filter(s -> parts.value()[(int) s.index] == TRAIN);
            long trainRows = assignment.train().length;
            Normalization norm = fitNormalization(train, d, trainRows);
            double reg = regParam != null ? regParam : 1.0 / trainRows;
            float[][] weights = new float[labels.size()][];
            float[] biases = new float[labels.size()];
            fit(spark, train, labels, norm, reg, d, weights, biases);

            EmbeddingSet validation = collect(samples, parts, VALIDATION, d, sha, "validation rows");
            EmbeddingSet test = collect(samples, parts, TEST, d, sha, "test rows");
            Thresholds thresholds = null;
            if (multiLabel) {
                Head untuned = head(labels, weights, biases, norm, Thresholds.fixed(labels.size()), sha, reg, trainRows,
                        assignment, Thresholds.Mode.FIXED);
                thresholds = tuneThresholds(untuned, labels, validation);
            }
            Head head = head(labels, weights, biases, norm, thresholds, sha, reg, trainRows, assignment,
                    thresholds == null ? null : thresholds.mode());
            EvaluationReport valReport = validation.size() == 0 ? null
                    : HeadEvaluator.evaluate(head, validation, range(validation.size()), "validation");
            EvaluationReport testReport = test.size() == 0 ? null
                    : HeadEvaluator.evaluate(head, test, range(test.size()), "test");
            if (testReport == null) {
                notes.add("no test rows: the head was not evaluated on held-out data (give test rows a split, or "
                        + "a test fraction)");
            }
            return new Run(head, assignment.origin(), trainRows, assignment.validation().length,
                    assignment.test().length, valReport, testReport, List.copyOf(notes));
        } finally {
            parts.destroy();
        }
    }

    private void fit(SparkSession spark, JavaRDD<Sample> train, List<String> labels, Normalization norm, double reg,
                     int d, float[][] weights, float[] biases) {
        boolean l2 = l2Normalize;
        float[] mean = norm.mean();
        float[] invStd = norm.invStd();
        StructType schema = new StructType().add("label", DataTypes.DoubleType).add("features", SQLDataTypes.VectorType());
        if (!multiLabel) {
            JavaRDD<Row> points = train.map(s -> RowFactory.create((double) labels.indexOf(s.labels.get(0)),
                    features(s.x, l2, mean, invStd)));
            Dataset<Row> df = spark.createDataFrame(points, schema).persist(StorageLevel.MEMORY_AND_DISK());
            try {
                LogisticRegressionModel m = logisticRegression(reg).setFamily("multinomial").fit(df);
                Matrix w = m.coefficientMatrix();
                if (m.numClasses() != labels.size()) {
                    throw new IllegalStateException("MLlib fitted " + m.numClasses() + " classes for " + labels.size()
                            + " labels");
                }
                for (int j = 0; j < labels.size(); j++) {
                    weights[j] = new float[d];
                    for (int i = 0; i < d; i++) {
                        weights[j][i] = (float) w.apply(j, i);
                    }
                    biases[j] = (float) m.interceptVector().apply(j);
                }
            } finally {
                df.unpersist();
            }
        } else {
            for (int j = 0; j < labels.size(); j++) {
                String label = labels.get(j);
                JavaRDD<Row> points = train.map(s -> RowFactory.create(s.labels.contains(label) ? 1.0 : 0.0,
                        features(s.x, l2, mean, invStd)));
                LogisticRegressionModel m = logisticRegression(reg).setFamily("binomial")
                        .fit(spark.createDataFrame(points, schema));
                weights[j] = new float[d];
                Vector c = m.coefficients();
                for (int i = 0; i < d; i++) {
                    weights[j][i] = (float) c.apply(i);
                }
                biases[j] = (float) m.intercept();
            }
        }
        for (int j = 0; j < labels.size(); j++) {
            Finite.require(weights[j], "MLlib's weights for label " + labels.get(j), "lower --max-iter or raise --reg");
        }
        Finite.require(biases, "MLlib's biases", "lower --max-iter or raise --reg");
    }

    private Head head(List<String> labels, float[][] weights, float[] biases, Normalization norm, Thresholds thresholds,
                      String sha, double reg, long trainRows, SplitAssignment assignment, Thresholds.Mode mode) {
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("head", "linear");
        training.put("trainer", "spark-mllib-logistic-regression");
        training.put("multilabel", multiLabel);
        training.put("regParam", reg);
        training.put("maxIter", maxIter);
        training.put("l2Normalize", l2Normalize);
        training.put("standardize", standardize);
        training.put("split", assignment.origin());
        training.put("trainingRows", trainRows);
        training.put("validationRows", assignment.validation().length);
        training.put("testRows", assignment.test().length);
        if (mode != null) {
            training.put("thresholds", mode.jsonName());
        }
        return LinearHeads.fromWeights(multiLabel ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, weights, biases,
                norm, thresholds, sha,
                "Spark MLlib LogisticRegression (" + (multiLabel ? "binomial per label" : "multinomial") + ", regParam "
                        + reg + ", maxIter " + maxIter + ") on " + trainRows + " rows", training);
    }

    /** {@link Thresholds#tune} on the validation scores of the untuned head, as {@code vitfit train} does. */
    private Thresholds tuneThresholds(Head untuned, List<String> labels, EmbeddingSet validation) {
        if (thresholdMode == Thresholds.Mode.FIXED) {
            return Thresholds.fixed(labels.size());
        }
        List<String> order = untuned.labels();
        int k = order.size();
        int m = validation.size();
        float[] scores = untuned.scores(validation, range(m));
        boolean[] truth = new boolean[m * k];
        for (int i = 0; i < m; i++) {
            Set<String> names = new HashSet<>(validation.labels(i));
            for (int j = 0; j < k; j++) {
                truth[i * k + j] = names.contains(order.get(j));
            }
        }
        Thresholds tuned = Thresholds.tune(thresholdMode, scores, truth, m, k);
        // tuned is in the head's label order; LinearHeads takes thresholds in the order of the weight rows
        float[] byLabel = new float[labels.size()];
        for (int j = 0; j < labels.size(); j++) {
            byLabel[j] = tuned.values()[order.indexOf(labels.get(j))];
        }
        return new Thresholds(tuned.mode(), byLabel);
    }

    /** The rows of one split, vectors included, on the driver as an {@link EmbeddingSet} in row order. */
    private static EmbeddingSet collect(JavaRDD<Sample> samples, Broadcast<byte[]> parts, byte which, int d,
                                        String sha, String source) {
        List<Sample> rows = new ArrayList<>(samples.filter(s -> parts.value()[(int) s.index] == which).collect());
        rows.sort((a, b) -> Long.compare(a.index, b.index));
        float[] data = new float[rows.size() * d];
        List<List<String>> labels = new ArrayList<>(rows.size());
        List<String> paths = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            System.arraycopy(rows.get(i).x, 0, data, i * d, d);
            labels.add(rows.get(i).labels);
            paths.add(rows.get(i).path == null ? "#" + rows.get(i).index : rows.get(i).path);
        }
        return new EmbeddingSet(data, d, labels, null, paths, sha, source);
    }

    /** Every row's vector has the dimension and finite values; paths are unique. All refusals name rows. */
    private static void checkRows(List<Sample> rows, int d) {
        List<String> wrongLength = new ArrayList<>();
        List<String> nonFinite = new ArrayList<>();
        List<String> duplicates = new ArrayList<>();
        long wrong = 0;
        long bad = 0;
        long twice = 0;
        String previous = null;
        for (Sample s : rows) {
            if (s.length != d) {
                wrong++;
                if (wrongLength.size() < EXAMPLES) {
                    wrongLength.add(s.describe() + ": " + s.length + " floats");
                }
            }
            if (s.nonFinite >= 0) {
                bad++;
                if (nonFinite.size() < EXAMPLES) {
                    nonFinite.add(s.describe() + ": component " + s.nonFinite);
                }
            }
            // rows come in path order, so a repeated path is next to its twin
            if (s.path != null && s.path.equals(previous)) {
                twice++;
                if (duplicates.size() < EXAMPLES) {
                    duplicates.add(s.path);
                }
            }
            previous = s.path;
        }
        List<String> problems = new ArrayList<>();
        if (wrong > 0) {
            problems.add(wrong + " rows have a vector whose length is not the dimension " + d + " ("
                    + String.join("; ", wrongLength) + ")");
        }
        if (bad > 0) {
            problems.add(bad + " rows have NaN, infinite or null vector components (" + String.join("; ", nonFinite)
                    + "); re-embed those images");
        }
        if (twice > 0) {
            problems.add(twice + " paths appear more than once (" + String.join("; ", duplicates) + "); keep one row "
                    + "per image");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot train on the embeddings: " + String.join("; ", problems));
        }
    }

    private void checkLabels(EmbeddingSet set) {
        long unlabelled = 0;
        String firstUnlabelled = null;
        for (int i = 0; i < set.size(); i++) {
            List<String> l = set.labels(i);
            if (l.isEmpty()) {
                unlabelled++;
                firstUnlabelled = firstUnlabelled == null ? set.describeRow(i) : firstUnlabelled;
            } else if (!multiLabel && l.size() > 1) {
                throw new IllegalArgumentException(set.describeRow(i) + " has " + l.size() + " labels " + l
                        + "; train a multi-label head (--multilabel) for label sets");
            }
        }
        if (unlabelled == set.size()) {
            throw new IllegalArgumentException("none of the " + set.size() + " embedded rows has a label; embed a "
                    + "folder per class, or join labels onto the embeddings by path");
        }
        if (unlabelled > 0 && !multiLabel) {
            throw new IllegalArgumentException(unlabelled + " of " + set.size() + " rows have no label, e.g. "
                    + firstUnlabelled + "; label them or leave them out");
        }
    }

    /** The training split's labels, sorted; at least two, and every label of validation and test among them. */
    private static List<String> trainingLabels(EmbeddingSet set, SplitAssignment split) {
        Set<String> trainLabels = new TreeSet<>();
        for (int r : split.train()) {
            trainLabels.addAll(set.labels(r));
        }
        if (trainLabels.size() < 2) {
            throw new IllegalArgumentException("the training split (" + split.train().length + " rows) has "
                    + (trainLabels.isEmpty() ? "no labels" : "a single class " + trainLabels)
                    + "; a head needs at least two classes to learn anything");
        }
        Map<String, String> unseen = new TreeMap<>();
        for (int[] rows : new int[][] {split.validation(), split.test()}) {
            for (int r : rows) {
                for (String l : set.labels(r)) {
                    if (!trainLabels.contains(l)) {
                        unseen.putIfAbsent(l, set.describeRow(r));
                    }
                }
            }
        }
        if (!unseen.isEmpty()) {
            throw new IllegalArgumentException("label(s) " + unseen.keySet() + " never occur in the training split "
                    + "(e.g. " + unseen.values().iterator().next() + "); add training images of them or remove them");
        }
        return new ArrayList<>(trainLabels);
    }

    private LogisticRegression logisticRegression(double reg) {
        // The features are normalised already; MLlib's own standardisation would regularise a different problem.
        return new LogisticRegression().setRegParam(reg).setElasticNetParam(0).setMaxIter(maxIter).setTol(1e-7)
                .setStandardization(false).setFitIntercept(true);
    }

    /** The same statistics as {@link Normalization#fit}: mean and population std of the L2-normalised rows. */
    private Normalization fitNormalization(JavaRDD<Sample> samples, int d, long n) {
        Normalization l2Only = new Normalization(l2Normalize, null, null);
        if (!standardize) {
            return l2Only;
        }
        boolean l2 = l2Normalize;
        double[] sum = samples.treeAggregate(new double[d], (acc, s) -> {
            float[] x = toFloats(features(s.x, l2, null, null));
            for (int j = 0; j < d; j++) {
                acc[j] += x[j];
            }
            return acc;
        }, SparkHeadTrainer::add);
        float[] mean = new float[d];
        for (int j = 0; j < d; j++) {
            mean[j] = (float) (sum[j] / n);
        }
        double[] sumSq = samples.treeAggregate(new double[d], (acc, s) -> {
            float[] x = toFloats(features(s.x, l2, null, null));
            for (int j = 0; j < d; j++) {
                double c = x[j] - mean[j];
                acc[j] += c * c;
            }
            return acc;
        }, SparkHeadTrainer::add);
        float[] invStd = new float[d];
        for (int j = 0; j < d; j++) {
            double std = Math.sqrt(sumSq[j] / n);
            invStd[j] = std < 1e-12 ? 1f : (float) (1 / std);
        }
        return new Normalization(l2Only.l2(), mean, invStd);
    }

    private static double[] add(double[] a, double[] b) {
        for (int j = 0; j < a.length; j++) {
            a[j] += b[j];
        }
        return a;
    }

    private static float[] toFloats(DenseVector v) {
        double[] values = v.values();
        float[] out = new float[values.length];
        for (int j = 0; j < values.length; j++) {
            out[j] = (float) values[j];
        }
        return out;
    }

    /** {@link Normalization#apply} on one embedding, as the double vector MLlib wants. */
    private static DenseVector features(float[] x, boolean l2, float[] mean, float[] invStd) {
        float[] out = new float[x.length];
        new Normalization(l2, mean, invStd).apply(x, 0, out, 0, x.length);
        double[] values = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            values[j] = out[j];
        }
        return new DenseVector(values);
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }

    /** One row on the executors; without its vector, what the driver collects to split and check. */
    static final class Sample implements Serializable {
        private static final long serialVersionUID = 2L;
        final long index;
        final float[] x;
        final int length;
        /** The first NaN, infinite or null component, or -1. */
        final int nonFinite;
        final List<String> labels;
        final String split;
        final String path;

        private Sample(long index, float[] x, int length, int nonFinite, List<String> labels, String split,
                       String path) {
            this.index = index;
            this.x = x;
            this.length = length;
            this.nonFinite = nonFinite;
            this.labels = labels;
            this.split = split;
            this.path = path;
        }

        /** From a row of (embedding, labels or label, split, path). */
        static Sample of(Row r, boolean listLabels, long index) {
            List<Float> e = r.getList(0);
            float[] x = new float[e.size()];
            int nonFinite = -1;
            for (int j = 0; j < x.length; j++) {
                Float v = e.get(j);
                x[j] = v == null ? Float.NaN : v;
                if (nonFinite < 0 && !Float.isFinite(x[j])) {
                    nonFinite = j;
                }
            }
            List<String> labels;
            if (r.isNullAt(1)) {
                labels = List.of();
            } else if (listLabels) {
                labels = new ArrayList<>();
                for (Object l : r.getList(1)) {
                    if (l != null) {
                        labels.add((String) l);
                    }
                }
            } else {
                labels = List.of(r.getString(1));
            }
            String split = r.isNullAt(2) || r.getString(2).isBlank() ? null : r.getString(2);
            return new Sample(index, x, x.length, nonFinite, labels, split, r.isNullAt(3) ? null : r.getString(3));
        }

        Sample withoutVector() {
            return new Sample(index, null, length, nonFinite, labels, split, path);
        }

        String describe() {
            return path != null ? path : "row " + index;
        }
    }

    public static final class Builder {
        private boolean multiLabel;
        private boolean l2Normalize = true;
        private boolean standardize = true;
        private Double regParam;
        private int maxIter = 200;
        private String backboneSha256;
        private double[] fractions = {0.7, 0.1, 0.2};
        private long seed = 1;
        private Thresholds.Mode thresholdMode = Thresholds.Mode.GLOBAL;

        public Builder multiLabel(boolean v) {
            multiLabel = v;
            return this;
        }

        public Builder l2Normalize(boolean v) {
            l2Normalize = v;
            return this;
        }

        public Builder standardize(boolean v) {
            standardize = v;
            return this;
        }

        /** L2 penalty λ of MLlib's objective (mean loss + λ/2 ||w||²); default 1/n, scikit-learn's C = 1. */
        public Builder regParam(double v) {
            if (!(v >= 0) || Double.isInfinite(v)) {
                throw new IllegalArgumentException("regParam must be a finite number >= 0, got " + v);
            }
            regParam = v;
            return this;
        }

        public Builder maxIter(int v) {
            if (v < 1) {
                throw new IllegalArgumentException("maxIter must be >= 1, got " + v);
            }
            maxIter = v;
            return this;
        }

        /** The backbone's model sha256, when the embeddings' column metadata does not carry it. */
        public Builder backboneSha256(String v) {
            backboneSha256 = v;
            return this;
        }

        /**
         * Train / validation / test fractions when no row has a split (default 0.7 / 0.1 / 0.2, as {@code vitfit
         * train}); with a split column, {@code validation / (train + validation)} of train is carved out for
         * validation when the column has no val rows.
         */
        public Builder fractions(double train, double validation, double test) {
            fractions = new double[] {train, validation, test};
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        /** How multi-label thresholds are chosen on the validation rows (default global, as {@code vitfit train}). */
        public Builder thresholds(Thresholds.Mode mode) {
            thresholdMode = mode;
            return this;
        }

        public SparkHeadTrainer build() {
            return new SparkHeadTrainer(this);
        }
    }
}
