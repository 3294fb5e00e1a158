package org.vitfit.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.vitfit.heads.Head;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The {@code spark-submit} entry point of the fat jar:
 * <pre>
 * embed --model DIR --input IMAGES_DIR_OR_GLOB --output PARQUET_DIR [--batch-size N] [--device cpu|cuda[:id]]
 *       [--threads N] [--partitions N]
 * train --embeddings PARQUET_DIR --output HEAD_DIR [--multilabel] [--reg X] [--max-iter N]
 * </pre>
 */
public final class SparkMain {

    private SparkMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || !(args[0].equals("embed") || args[0].equals("train"))) {
            throw new IllegalArgumentException("usage: embed --model DIR --input PATH --output PARQUET_DIR "
                    + "[--batch-size N] [--device cpu|cuda[:id]] [--threads N] [--partitions N]\n"
                    + "       train --embeddings PARQUET_DIR --output HEAD_DIR [--multilabel] [--reg X] [--max-iter N]");
        }
        Map<String, String> o = options(args);
        SparkSession spark = SparkSession.builder().appName("vitfit " + args[0]).getOrCreate();
        try {
            if (args[0].equals("embed")) {
                EmbedOptions options = EmbedOptions.defaults()
                        .withBatchSize(Integer.parseInt(o.getOrDefault("--batch-size", "32")))
                        .withDevice(o.getOrDefault("--device", "cpu"))
                        .withIntraOpThreads(Integer.parseInt(o.getOrDefault("--threads", "0")));
                Dataset<Row> images = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                        .load(required(o, "--input"));
                if (o.containsKey("--partitions")) {
                    images = images.repartition(Integer.parseInt(o.get("--partitions")));
                }
                Dataset<Row> embedded = VitfitSpark.embed(images, Path.of(required(o, "--model")), options);
                VitfitSpark.writeParquet(embedded, required(o, "--output"), SaveMode.ErrorIfExists);
                Dataset<Row> written = spark.read().parquet(required(o, "--output"));
                System.out.println("vitfit: " + written.filter("error is null").count() + " images embedded, "
                        + written.filter("error is not null").count() + " failed (see the 'error' column) -> "
                        + o.get("--output"));
            } else {
                SparkHeadTrainer.Builder b = SparkHeadTrainer.builder().multiLabel(o.containsKey("--multilabel"))
                        .maxIter(Integer.parseInt(o.getOrDefault("--max-iter", "200")));
                if (o.containsKey("--reg")) {
                    b.regParam(Double.parseDouble(o.get("--reg")));
                }
                Head head = b.build().train(spark.read().parquet(required(o, "--embeddings")));
                head.save(Path.of(required(o, "--output")));
                System.out.println("vitfit: " + head.task().jsonName() + " linear head over " + head.labels().size()
                        + " labels -> " + o.get("--output"));
            }
        } finally {
            spark.stop();
        }
    }

    private static Map<String, String> options(String[] args) {
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            if (a.equals("--multilabel")) {
                o.put(a, "true");
            } else if (i + 1 < args.length) {
                o.put(a, args[++i]);
            } else {
                throw new IllegalArgumentException(a + " needs a value");
            }
        }
        return o;
    }

    private static String required(Map<String, String> o, String name) {
        String v = o.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing " + name);
        }
        return v;
    }
}
