package org.vitfit.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.classification.LogisticRegression;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.Matrix;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.LinearHeads;
import org.vitfit.heads.Normalization;
import org.vitfit.heads.Thresholds;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Trains a linear head on embeddings too many for one machine with Spark MLlib's {@link LogisticRegression}:
 * multinomial for multi-class, one binary model per label for multi-label. The result is an ordinary vitfit
 * {@link Head} (through {@link LinearHeads}), which {@code vitfit export} packs like any other.
 *
 * <p>Input rows: {@code embedding} (array&lt;float&gt;), {@code labels} (array&lt;string&gt;) or {@code label}
 * (string), optionally {@code split} (only {@code train} rows are used when present) and {@code error} (rows with an
 * error are skipped). Embeddings are L2-normalised and/or standardised exactly as {@link Normalization} does, fitted
 * on the training rows, and the head stores that normalisation.
 */
public final class SparkHeadTrainer {

    private final boolean multiLabel;
    private final boolean l2Normalize;
    private final boolean standardize;
    private final Double regParam;
    private final int maxIter;
    private final String backboneSha256;

    private SparkHeadTrainer(Builder b) {
        this.multiLabel = b.multiLabel;
        this.l2Normalize = b.l2Normalize;
        this.standardize = b.standardize;
        this.regParam = b.regParam;
        this.maxIter = b.maxIter;
        this.backboneSha256 = b.backboneSha256;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Trains on the {@code train} rows of {@code embeddings} (all rows when there is no {@code split} column). */
    public Head train(Dataset<Row> embeddings) {
        List<String> columns = Arrays.asList(embeddings.columns());
        if (!columns.contains(VitfitSpark.EMBEDDING)) {
            throw new IllegalArgumentException("no 'embedding' column in " + columns);
        }
        String labelColumn = columns.contains(ParquetCacheBridge.LABELS) ? ParquetCacheBridge.LABELS
                : columns.contains(ParquetCacheBridge.LABEL) ? ParquetCacheBridge.LABEL : null;
        if (labelColumn == null) {
            throw new IllegalArgumentException("no 'labels' (array<string>) or 'label' (string) column in " + columns
                    + "; a head needs labelled embeddings");
        }
        Dataset<Row> rows = embeddings.filter(embeddings.col(VitfitSpark.EMBEDDING).isNotNull());
        if (columns.contains(VitfitSpark.ERROR)) {
            rows = rows.filter(rows.col(VitfitSpark.ERROR).isNull());
        }
        if (columns.contains(ParquetCacheBridge.SPLIT)) {
            rows = rows.filter(rows.col(ParquetCacheBridge.SPLIT).equalTo("train"));
        }
        String sha = backboneSha256;
        var meta = embeddings.schema().apply(VitfitSpark.EMBEDDING).metadata();
        if (sha == null && meta.contains(ParquetMetadataKeys.MODEL_SHA256)) {
            sha = meta.getString(ParquetMetadataKeys.MODEL_SHA256);
        }
        boolean listLabels = labelColumn.equals(ParquetCacheBridge.LABELS);
        JavaRDD<Sample> samples = rows.select(VitfitSpark.EMBEDDING, labelColumn).javaRDD()
                .map(r -> Sample.of(r, listLabels)).persist(StorageLevel.MEMORY_AND_DISK());
        try {
            return train(embeddings.sparkSession(), samples, sha);
        } finally {
            samples.unpersist(false);
        }
    }

    private Head train(SparkSession spark, JavaRDD<Sample> samples, String sha) {
        long n = samples.count();
        if (n == 0) {
            throw new IllegalArgumentException("no training rows (embedded, labelled, split 'train' when there is a "
                    + "split column)");
        }
        int d = samples.first().x.length;
        List<String> labels = new ArrayList<>(new TreeSet<>(samples.flatMap(s -> s.labels.iterator()).distinct().collect()));
        if (labels.size() < 2) {
            throw new IllegalArgumentException("the training rows have " + labels.size() + " label(s) " + labels
                    + "; a head needs at least 2");
        }
        if (!multiLabel) {
            long several = samples.filter(s -> s.labels.size() != 1).count();
            if (several > 0) {
                throw new IllegalArgumentException(several + " training rows have no label or several labels; train "
                        + "a multi-label head for such data");
            }
        }
        boolean l2 = l2Normalize;
        Normalization norm = fitNormalization(samples, d, n);
        float[] mean = norm.mean();
        float[] invStd = norm.invStd();
        StructType schema = new StructType().add("label", DataTypes.DoubleType).add("features", SQLDataTypes.VectorType());
        double reg = regParam != null ? regParam : 1.0 / n;
        float[][] weights = new float[labels.size()][];
        float[] biases = new float[labels.size()];
        if (!multiLabel) {
            JavaRDD<Row> points = samples.map(s -> RowFactory.create((double) labels.indexOf(s.labels.get(0)),
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
                JavaRDD<Row> points = samples.map(s -> RowFactory.create(s.labels.contains(label) ? 1.0 : 0.0,
                        features(s.x, l2, mean, invStd)));
                Dataset<Row> df = spark.createDataFrame(points, schema);
                LogisticRegressionModel m = logisticRegression(reg).setFamily("binomial").fit(df);
                weights[j] = new float[d];
                Vector c = m.coefficients();
                for (int i = 0; i < d; i++) {
                    weights[j][i] = (float) c.apply(i);
                }
                biases[j] = (float) m.intercept();
            }
        }
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("head", "linear");
        training.put("trainer", "spark-mllib-logistic-regression");
        training.put("multilabel", multiLabel);
        training.put("regParam", reg);
        training.put("maxIter", maxIter);
        training.put("l2Normalize", l2Normalize);
        training.put("standardize", standardize);
        training.put("trainingRows", n);
        return LinearHeads.fromWeights(multiLabel ? HeadTask.MULTILABEL : HeadTask.MULTICLASS, labels, weights, biases,
                norm, multiLabel ? Thresholds.fixed(labels.size()) : null, sha,
                "Spark MLlib LogisticRegression (" + (multiLabel ? "binomial per label" : "multinomial") + ", regParam "
                        + reg + ", maxIter " + maxIter + ") on " + n + " rows", training);
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

    /** One training row on the executors. */
    static final class Sample implements Serializable {
        private static final long serialVersionUID = 1L;
        final float[] x;
        final List<String> labels;

        Sample(float[] x, List<String> labels) {
            this.x = x;
            this.labels = labels;
        }

        static Sample of(Row r, boolean listLabels) {
            List<Float> e = r.getList(0);
            float[] x = new float[e.size()];
            for (int j = 0; j < x.length; j++) {
                Float v = e.get(j);
                if (v == null || !Float.isFinite(v)) {
                    throw new IllegalArgumentException("embedding component " + j + " is " + v
                            + "; NaN, infinite or null embeddings cannot train a head");
                }
                x[j] = v;
            }
            List<String> labels;
            if (r.isNullAt(1)) {
                labels = List.of();
            } else if (listLabels) {
                labels = new ArrayList<>(r.<String>getList(1));
            } else {
                labels = List.of(r.getString(1));
            }
            return new Sample(x, labels);
        }
    }

    public static final class Builder {
        private boolean multiLabel;
        private boolean l2Normalize = true;
        private boolean standardize = true;
        private Double regParam;
        private int maxIter = 200;
        private String backboneSha256;

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
            if (!(v >= 0)) {
                throw new IllegalArgumentException("regParam must be >= 0, got " + v);
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

        public SparkHeadTrainer build() {
            return new SparkHeadTrainer(this);
        }
    }
}
