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
import org.vitfit.heads.TrainingRun;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
        ParquetCacheBridge.exportCache(f.referenceCache, parquet);
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
        Head head = SparkHeadTrainer.builder().backboneSha256(sha).build().train(embeddings);
        double seconds = (System.nanoTime() - start) / 1e9;
        double mllibAccuracy = ((ClassificationReport) HeadEvaluator.evaluate(head, set, tribuo.split().test(), "test"))
                .accuracy();
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
    void multiLabelTrainsOneBinaryModelPerLabel() {
        Fixtures f = Fixtures.get();
        // three synthetic labels, each decided by the sign of one component: separable, so the head must learn it
        List<Row> rows = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(3);
        for (int i = 0; i < 120; i++) {
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
            rows.add(org.apache.spark.sql.RowFactory.create(e, labels.toArray(new String[0])));
        }
        Dataset<Row> df = f.spark.createDataFrame(rows, new org.apache.spark.sql.types.StructType()
                .add("embedding", org.apache.spark.sql.types.DataTypes.createArrayType(
                        org.apache.spark.sql.types.DataTypes.FloatType, false))
                .add("labels", org.apache.spark.sql.types.DataTypes.createArrayType(
                        org.apache.spark.sql.types.DataTypes.StringType)));
        Head head = SparkHeadTrainer.builder().multiLabel(true).l2Normalize(false).build().train(df);
        assertEquals(HeadTask.MULTILABEL, head.task());
        assertEquals(List.of("l0", "l1", "l2"), head.labels());
        float[] probe = {2, -2, 2, 0, 0, 0, 0, 0};
        assertEquals(List.of("l0", "l2"), head.predict(probe).predicted());
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
        assertTrue(e.getMessage().contains("at least 2"), e.getMessage());
    }
}
