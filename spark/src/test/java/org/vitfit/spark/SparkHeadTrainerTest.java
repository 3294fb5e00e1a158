package org.vitfit.spark;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTask;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.Thresholds;
import org.vitfit.heads.TrainingRun;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparkHeadTrainerTest {

    @Test
    void mllibLinearHeadMatchesTheTribuoHeadOnTheSameFiveShotSplit() throws Exception {
        Fixtures f = Fixtures.get();
        EmbeddingSet set = EmbeddingSet.fromCache(f.referenceCache);
        // the Tribuo reference, as the head-trainer's own dataset test trains it: 5 train / 5 test per breed, seed 7
        TrainingRun tribuo = HeadTrainer.builder().head(HeadKind.LINEAR).solver(HeadTrainer.LinearSolver.SGD)
                .fractions(0.5, 0.0, 0.5).seed(7).epochs(30)
                .l2Normalize(true).build().train(set);
        double tribuoAccuracy = ((ClassificationReport) tribuo.test()).accuracy();

        // the same embeddings through Parquet, with the same split as a column
        Path parquet = f.work.resolve("pets-for-mllib.parquet");
        ParquetCacheBridge.exportCache(f.referenceCache, parquet, false);
        List<Row> splits = new ArrayList<>();
        for (int r : tribuo.split().train()) {
            splits.add(org.apache.spark.sql.RowFactory.create(set.path(r), "train"));
        }
        for (int r : tribuo.split().test()) {
            splits.add(org.apache.spark.sql.RowFactory.create(set.path(r), "test"));
        }
        Dataset<Row> splitDf = f.spark.createDataFrame(splits, new org.apache.spark.sql.types.StructType()
                .add("path", "string").add("split", "string"));
        Dataset<Row> embeddings = f.spark.read().parquet(parquet.toString()).drop("split").join(splitDf, "path");
        String sha = ParquetCacheBridge.readIdentity(parquet).get(ParquetMetadataKeys.MODEL_SHA256);

        long start = System.nanoTime();
        // the column marks train and test; validation 0 so none is carved out of train, as in the Tribuo run
        SparkHeadTrainer.Run run = SparkHeadTrainer.builder().backboneSha256(sha).fractions(0.5, 0, 0.5).build()
                .train(embeddings);
        Head head = run.head();
        double seconds = (System.nanoTime() - start) / 1e9;
        assertEquals(tribuo.split().train().length, run.trainRows());
        assertEquals(tribuo.split().test().length, run.testRows());
        assertEquals(0, run.validationRows());
        double mllibAccuracy = ((ClassificationReport) HeadEvaluator.evaluate(head, set, tribuo.split().test(), "test"))
                .accuracy();
        assertEquals(mllibAccuracy, ((ClassificationReport) run.test()).accuracy(), 1e-12,
                "the run's own test report scores the same rows");
        System.out.printf("oxford-pets-370 5-shot test accuracy: Tribuo linear %.3f, MLlib %.3f (MLlib fit %.1f s)%n",
                tribuoAccuracy, mllibAccuracy, seconds);
        assertTrue(Math.abs(mllibAccuracy - tribuoAccuracy) <= 0.02,
                "MLlib " + mllibAccuracy + " vs Tribuo " + tribuoAccuracy);
        assertEquals(HeadTask.MULTICLASS, head.task());
        assertEquals(37, head.labels().size());

        // a vitfit head like any other: saved, loaded, its ONNX graph agreeing with Head.predict
        Path dir = f.work.resolve("mllib-head");
        head.save(dir);
        Head loaded = Head.load(dir);
        assertEquals(sha, loaded.metadata().backboneModelSha256());
        float[] x = set.vector(tribuo.split().test()[0]);
        float[] expected = loaded.scores(x);
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(dir.resolve(Head.ONNX_FILE).toString(), new OrtSession.SessionOptions());
             OnnxTensor in = OnnxTensor.createTensor(env, new float[][] {x});
             OrtSession.Result out = s.run(Map.of(Head.ONNX_INPUT, in))) {
            float[] onnx = ((float[][]) out.get(0).getValue())[0];
            for (int j = 0; j < expected.length; j++) {
                assertEquals(expected[j], onnx[j], 1e-5, "score " + j);
            }
        }
    }

    @Test
    void multiLabelTrainsOneBinaryModelPerLabelAndTunesThresholdsOnValidationLikeTheTribuoHeads() {
        Fixtures f = Fixtures.get();
        Dataset<Row> df = multiLabelRows(f, 240);
        SparkHeadTrainer.Run run = SparkHeadTrainer.builder().multiLabel(true).l2Normalize(false).seed(5)
                .thresholds(Thresholds.Mode.PER_LABEL).maxIter(50).build().train(df);
        Head head = run.head();
        assertEquals(HeadTask.MULTILABEL, head.task());
        assertEquals(List.of("l0", "l1", "l2"), head.labels());
        float[] probe = {2, -2, 2, 0, 0, 0, 0, 0};
        assertEquals(List.of("l0", "l2"), head.predict(probe).predicted());
        assertTrue(run.splitOrigin().startsWith("iterative stratification, seed 5"), run.splitOrigin());
        assertEquals(240, run.trainRows() + run.validationRows() + run.testRows());
        assertTrue(run.validationRows() >= 20, "a validation split by the default fractions");

        // the thresholds are exactly Thresholds.tune on the head's own validation scores (scores do not depend
        // on thresholds), the head-trainer's code, not a copy
        List<Row> all = df.orderBy("path").collectAsList();
        Thresholds expected = tuneOn(head, all, run);
        assertEquals(Thresholds.Mode.PER_LABEL, head.thresholds().mode());
        assertArrayEquals(expected.values(), head.thresholds().values(), 0f);
        assertTrue(run.test() instanceof org.vitfit.eval.MultiLabelReport);

        // no validation rows: a tuned mode is refused rather than silently replaced by 0.5; fixed is what it says
        IllegalArgumentException noValidation = assertThrows(IllegalArgumentException.class,
                () -> SparkHeadTrainer.builder().multiLabel(true).fractions(0.8, 0, 0.2).build().train(df));
        assertTrue(noValidation.getMessage().startsWith("no validation rows to tune the global thresholds on"),
                noValidation.getMessage());
        SparkHeadTrainer.Run fixed = SparkHeadTrainer.builder().multiLabel(true).l2Normalize(false)
                .fractions(0.8, 0, 0.2).thresholds(Thresholds.Mode.FIXED).maxIter(50).build().train(df);
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f}, fixed.head().thresholds().values(), 0f);
    }

    @Test
    void anAllNullSplitColumnIsNoSplit() {
        Fixtures f = Fixtures.get();
        Dataset<Row> df = multiLabelRows(f, 100).withColumn("split",
                org.apache.spark.sql.functions.lit(null).cast("string"));
        SparkHeadTrainer.Run run = SparkHeadTrainer.builder().multiLabel(true).fractions(0.6, 0.2, 0.2).maxIter(50).build().train(df);
        assertTrue(run.splitOrigin().contains("fractions 0.6/0.2/0.2"), run.splitOrigin());
        assertTrue(run.validationRows() > 0 && run.testRows() > 0);
        // a column marking some rows and not others is a mistake, as in vitfit train
        Dataset<Row> half = multiLabelRows(f, 100).withColumn("split", org.apache.spark.sql.functions.expr(
                "case when path < 'img-050' then 'train' end"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkHeadTrainer.builder().multiLabel(true).build().train(half));
        assertTrue(e.getMessage().contains("has no split although other rows do"), e.getMessage());
    }

    @Test
    void aRowWithAnotherDimensionOrANonFiniteValueIsRefusedByPath() {
        Fixtures f = Fixtures.get();
        Dataset<Row> df = multiLabelRows(f, 40);
        Dataset<Row> shortRow = df.withColumn("embedding", org.apache.spark.sql.functions.expr(
                "case when path = 'img-031' then slice(embedding, 1, 5) else embedding end"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkHeadTrainer.builder().multiLabel(true).build().train(shortRow));
        assertTrue(e.getMessage().contains("1 rows have a vector whose length is not the dimension 8 (img-031: 5 floats)"),
                e.getMessage());
        Dataset<Row> nan = df.withColumn("embedding", org.apache.spark.sql.functions.expr(
                "case when path = 'img-007' then transform(embedding, x -> cast('NaN' as float)) else embedding end"));
        e = assertThrows(IllegalArgumentException.class, () -> SparkHeadTrainer.builder().multiLabel(true).build().train(nan));
        assertTrue(e.getMessage().contains("NaN, infinite or null vector components (img-007: component 0)"), e.getMessage());
    }

    /** Three labels, each decided by the sign of one of 8 gaussian components: separable, so a head must learn it. */
    private static Dataset<Row> multiLabelRows(Fixtures f, int n) {
        List<Row> rows = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(3);
        for (int i = 0; i < n; i++) {
            float[] e = new float[8];
            List<String> labels = new ArrayList<>();
            for (int j = 0; j < 8; j++) {
                e[j] = (float) rnd.nextGaussian();
            }
            for (int j = 0; j < 3; j++) {
                if (e[j] > 0) {
                    labels.add("l" + j);
                }
            }
            rows.add(org.apache.spark.sql.RowFactory.create(String.format("img-%03d", i), e,
                    labels.toArray(new String[0])));
        }
        return f.spark.createDataFrame(rows, new org.apache.spark.sql.types.StructType()
                .add("path", org.apache.spark.sql.types.DataTypes.StringType)
                .add("embedding", org.apache.spark.sql.types.DataTypes.createArrayType(
                        org.apache.spark.sql.types.DataTypes.FloatType, false))
                .add("labels", org.apache.spark.sql.types.DataTypes.createArrayType(
                        org.apache.spark.sql.types.DataTypes.StringType)));
    }

    /** Recomputes the tuned thresholds from the validation rows named by the run's split. */
    private static Thresholds tuneOn(Head head, List<Row> rowsInPathOrder, SparkHeadTrainer.Run run) {
        // the run's split is Splits.assign over the rows in path order: recompute it the same way
        List<List<String>> labels = new ArrayList<>();
        for (Row r : rowsInPathOrder) {
            labels.add(r.getList(2));
        }
        org.vitfit.heads.EmbeddingSet index = new org.vitfit.heads.EmbeddingSet(new float[labels.size()], 1, labels,
                null, null, null, "test");
        org.vitfit.heads.SplitAssignment split = org.vitfit.heads.Splits.assign(index, true, 0.7, 0.1, 0.2, 5);
        assertEquals(run.validationRows(), split.validation().length);
        int k = head.labels().size();
        int m = split.validation().length;
        float[] scores = new float[m * k];
        boolean[] truth = new boolean[m * k];
        for (int i = 0; i < m; i++) {
            Row r = rowsInPathOrder.get(split.validation()[i]);
            List<Float> e = r.getList(1);
            float[] x = new float[e.size()];
            for (int j = 0; j < x.length; j++) {
                x[j] = e.get(j);
            }
            System.arraycopy(head.scores(x), 0, scores, i * k, k);
            for (int j = 0; j < k; j++) {
                truth[i * k + j] = labels.get(split.validation()[i]).contains(head.labels().get(j));
            }
        }
        return Thresholds.tune(Thresholds.Mode.PER_LABEL, scores, truth, m, k);
    }

    @Test
    void unlabelledOrSingleClassDataIsRefused() {
        Fixtures f = Fixtures.get();
        Dataset<Row> noLabels = f.spark.createDataset(List.of("a"), Encoders.STRING()).selectExpr(
                "array(cast(1.0 as float)) as embedding");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkHeadTrainer.builder().build().train(noLabels));
        assertTrue(e.getMessage().contains("'labels'"), e.getMessage());
        Dataset<Row> oneClass = f.spark.createDataset(List.of("a", "b"), Encoders.STRING()).selectExpr(
                "array(cast(1.0 as float), cast(2.0 as float)) as embedding", "'cat' as label");
        e = assertThrows(IllegalArgumentException.class, () -> SparkHeadTrainer.builder().build().train(oneClass));
        assertTrue(e.getMessage().contains("a single class [cat]; a head needs at least two classes"), e.getMessage());
    }
}
