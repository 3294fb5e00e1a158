package org.vitfit.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.DataFrameWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * vitfit on Apache Spark: embeds images with a converted model on the executors and writes the embeddings as
 * Parquet that carries the model's identity, for {@code vitfit parquet import} and {@link SparkHeadTrainer}.
 */
public final class VitfitSpark {

    /** Output columns {@link #embed} adds: the sha256 and byte size of the encoded image, embedding, error. */
    public static final String SHA256 = "sha256";
    public static final String SIZE = "size";
    public static final String EMBEDDING = "embedding";
    public static final String ERROR = "error";
    /** Input columns {@link #embed} reads: Spark's {@code binaryFile} source gives both. */
    public static final String CONTENT = "content";
    public static final String PATH = "path";
    static final String ONNX_INPUT = "pixel_values";

    private static final ObjectMapper JSON = new ObjectMapper();

    private VitfitSpark() {
    }

    /**
     * Adds {@code sha256} and {@code size} of the encoded image (null when it could not be read), {@code embedding}
     * (array&lt;float&gt;, null for failed images) and {@code error} (null when embedded) columns. Images come from a binary {@code content} column when there is one (Spark's {@code binaryFile}
     * source), else they are read from the {@code path} column through Hadoop's file systems. Every other input
     * column is kept, except {@code content} unless {@link EmbedOptions#keepContent()}.
     *
     * <p>{@code modelDir} (a {@code vitfit convert} output) must be readable on the driver and every executor: an
     * absolute path on a shared file system, or a relative one shipped with {@code --archives} (see
     * {@link ModelLocation}); each executor checks that its copy has the driver's sha256. The {@code embedding}
     * column's metadata records the model identity, and {@link #writeParquet} copies it into the Parquet footers.
     */
    public static Dataset<Row> embed(Dataset<Row> images, Path modelDir, EmbedOptions options) throws IOException {
        // A relative directory stays relative in what the executors get: with --archives each container unpacks
        // the model into its own working directory, which is not the driver's.
        Path dir = modelDir.normalize();
        Path onDriver = ModelLocation.resolve(dir.toString());
        if (!Files.isRegularFile(onDriver.resolve(ModelDescriptor.FILE_NAME))) {
            throw new NoSuchFileException(dir.toString(), null, "no converted model (" + ModelDescriptor.FILE_NAME
                    + ") in " + ModelLocation.searched(dir.toString()) + "; give the output of 'vitfit convert', on a "
                    + "path every machine can read or shipped with --archives MODEL.zip#NAME and --model NAME");
        }
        ModelDescriptor descriptor = ModelDescriptor.read(onDriver);
        String sha = descriptor.onnxSha256() != null ? descriptor.onnxSha256()
                : Hashing.sha256(onDriver.resolve(ModelDescriptor.ONNX_FILE_NAME));
        StructType in = images.schema();
        List<String> names = Arrays.asList(in.fieldNames());
        for (String reserved : List.of(SHA256, SIZE, EMBEDDING, ERROR)) {
            if (names.contains(reserved)) {
                throw new IllegalArgumentException("the input already has a column '" + reserved
                        + "'; drop or rename it before embedding");
            }
        }
        int contentIndex = names.indexOf(CONTENT);
        int pathIndex = names.indexOf(PATH);
        if (contentIndex >= 0 && !in.fields()[contentIndex].dataType().equals(DataTypes.BinaryType)) {
            throw new IllegalArgumentException("column 'content' is " + in.fields()[contentIndex].dataType()
                    + "; it must hold the encoded image bytes (binary), as spark.read().format(\"binaryFile\") gives");
        }
        if (pathIndex >= 0 && !in.fields()[pathIndex].dataType().equals(DataTypes.StringType)) {
            throw new IllegalArgumentException("column 'path' is " + in.fields()[pathIndex].dataType()
                    + "; it must be a string");
        }
        if (contentIndex < 0 && pathIndex < 0) {
            throw new IllegalArgumentException("the input has neither a 'content' (binary) nor a 'path' (string) "
                    + "column; columns are " + names + ". Read images with spark.read().format(\"binaryFile\")"
                    + ".load(dir), or give a DataFrame with a 'path' column");
        }
        List<StructField> out = new ArrayList<>();
        List<Integer> kept = new ArrayList<>();
        for (int i = 0; i < in.fields().length; i++) {
            if (i != contentIndex || options.keepContent()) {
                kept.add(i);
                out.add(in.fields()[i]);
            }
        }
        out.add(DataTypes.createStructField(SHA256, DataTypes.StringType, true));
        out.add(DataTypes.createStructField(SIZE, DataTypes.LongType, true));
        out.add(DataTypes.createStructField(EMBEDDING, DataTypes.createArrayType(DataTypes.FloatType, false), true));
        out.add(DataTypes.createStructField(ERROR, DataTypes.StringType, true));
        StructType schema = DataTypes.createStructType(out);

        ExecutorModels.Key key = new ExecutorModels.Key(dir.toString(), sha, options.device(), options.intraOpThreads());
        EmbedPartition fn = new EmbedPartition(key, options.batchSize(), options.maxPixels(), contentIndex, pathIndex,
                kept.stream().mapToInt(Integer::intValue).toArray());
        Dataset<Row> embedded = images.mapPartitions(fn, Encoders.row(schema));
        Metadata identity = new MetadataBuilder()
                .putString(ParquetMetadataKeys.MODEL_SHA256, sha)
                .putString(ParquetMetadataKeys.MODEL_SOURCE, descriptor.source() == null ? onDriver.toAbsolutePath().toString()
                        : descriptor.source())
                .putString(ParquetMetadataKeys.PREPROCESSING, json(descriptor.preprocessing()))
                .putLong(ParquetMetadataKeys.DIMENSION, descriptor.embeddingDim())
                .build();
        return embedded.withColumn(EMBEDDING, new Column(EMBEDDING).as(EMBEDDING, identity));
    }

    /**
     * Adds a {@code labels} column (array&lt;string&gt;): for each row whose {@code path} lies in a folder below
     * {@code root}, the name of that top folder, as {@code vitfit extract} labels an ImageFolder tree
     * ({@code root/cat/x/1.jpg} is {@code cat}); null for rows elsewhere. {@code root} is written as Spark writes the
     * {@code path} column (a qualified Hadoop path such as {@code file:/data/pets} or {@code hdfs://nn/pets}).
     */
    public static Dataset<Row> withFolderLabels(Dataset<Row> embedded, String root) {
        if (Arrays.asList(embedded.columns()).contains(ParquetCacheBridge.LABELS)) {
            throw new IllegalArgumentException("the rows have a 'labels' column already");
        }
        String prefix = root.endsWith("/") ? root : root + "/";
        Column path = embedded.col(PATH);
        Column relative = functions.substring(path, prefix.length() + 1, Integer.MAX_VALUE);
        Column label = functions.when(path.startsWith(prefix).and(functions.instr(relative, "/").gt(1)),
                functions.array(functions.substring_index(relative, "/", 1)));
        return embedded.withColumn(ParquetCacheBridge.LABELS, label);
    }

    /**
     * Writes embedded rows as Parquet under {@code path} (a directory of part files, committed by Spark's output
     * committer, so retried tasks leave no duplicates). Every part file's footer carries the key/value metadata of
     * {@link ParquetMetadataKeys}: model sha256, model source, preprocessing recipe (JSON), dimension, format.
     *
     * @throws IllegalArgumentException when {@code embedded} did not come from {@link #embed} (no model identity)
     */
    public static void writeParquet(Dataset<Row> embedded, String path, SaveMode mode) {
        DataFrameWriter<Row> writer = embedded.write().mode(mode).format(VitfitParquetFormat.class.getName());
        ParquetMetadataKeys.identityOf(embedded.schema()).forEach(writer::option);
        writer.save(path);
    }

    private static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
