package org.vitfit.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.vitfit.heads.Splits;
import org.vitfit.heads.Thresholds;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The {@code spark-submit} entry point of the fat jar: {@code embed} images into Parquet, {@code train} an MLlib
 * linear head on it. User mistakes (an output that exists, a missing model, unlabelled embeddings, no training rows)
 * end in one {@code error: ...} line and exit status 1, not a stack trace.
 */
@Command(name = "vitfit-spark", mixinStandardHelpOptions = true,
        description = "vitfit on Apache Spark: run with spark-submit --class org.vitfit.spark.SparkMain.",
        subcommands = {SparkMain.Embed.class, SparkMain.Train.class})
public final class SparkMain implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        int code = commandLine().execute(args);
        if (code != 0) {
            System.exit(code);
        }
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SparkMain());
        cl.setExecutionExceptionHandler((ex, line, parsed) -> {
            // Spark's job failures carry the executor's stack trace in their message: the first line says what failed
            String message = String.valueOf(ex.getMessage()).lines().findFirst().orElse(String.valueOf(ex));
            line.getErr().println("error: " + message);
            if (System.getenv("VITFIT_DEBUG") != null) {
                ex.printStackTrace(line.getErr());
            }
            return 1;
        });
        return cl;
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(System.err);
        return 2;
    }

    @Command(name = "embed", mixinStandardHelpOptions = true,
            description = "Embed every image under --input (Spark's binaryFile source, recursive) with a converted "
                    + "model and write Parquet with the model identity in its footers.")
    static final class Embed implements Callable<Integer> {
        @Option(names = "--model", required = true, paramLabel = "DIR",
                description = "Converted model ('vitfit convert'): a path every machine can read, or a relative name "
                        + "shipped with --archives MODEL.zip#NAME.")
        String model;

        @Option(names = "--input", required = true, paramLabel = "PATH", description = "Image folder or glob (any Hadoop file system).")
        String input;

        @Option(names = "--output", required = true, paramLabel = "DIR", description = "New Parquet directory.")
        String output;

        @Option(names = "--labels", paramLabel = "MODE", defaultValue = "auto",
                description = "auto: label by the top folder under --input when --input holds only folders (as "
                        + "'vitfit extract' does); folder: always; none (default: ${DEFAULT-VALUE}).")
        String labels;

        @Option(names = "--batch-size", paramLabel = "N", defaultValue = "32", description = "Images per ONNX Runtime call.")
        int batchSize;

        @Option(names = "--device", paramLabel = "cpu|cuda[:N]", defaultValue = "cpu", description = "Where executors run the model.")
        String device;

        @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
                description = "ONNX Runtime threads per executor (match --executor-cores; 0 = its choice).")
        int threads;

        @Option(names = "--partitions", paramLabel = "N",
                description = "Spread the image paths over N partitions (the bytes are then read by the tasks).")
        Integer partitions;

        @Override
        public Integer call() throws IOException {
            String mode = labels.toLowerCase(Locale.ROOT);
            if (!List.of("auto", "folder", "none").contains(mode)) {
                throw new IllegalArgumentException("--labels must be auto, folder or none, got '" + labels + "'");
            }
            if (partitions != null && partitions < 1) {
                throw new IllegalArgumentException("--partitions must be >= 1, got " + partitions);
            }
            EmbedOptions options = EmbedOptions.defaults().withBatchSize(batchSize).withDevice(device)
                    .withIntraOpThreads(threads);
            try (Session session = Session.open("vitfit embed")) {
                SparkSession spark = session.spark();
                Configuration conf = spark.sparkContext().hadoopConfiguration();
                org.apache.hadoop.fs.Path out = new org.apache.hadoop.fs.Path(output);
                if (out.getFileSystem(conf).exists(out)) {
                    throw new IllegalArgumentException(output + " already exists; choose a new --output (a Spark "
                            + "output directory is never replaced)");
                }
                String root = labelRoot(conf, mode);
                Dataset<Row> images = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                        .load(input);
                if (partitions != null) {
                    // Only the paths move through the shuffle; each task reads its images' bytes itself.
                    images = images.drop(VitfitSpark.CONTENT).repartition(partitions);
                }
                Dataset<Row> embedded = VitfitSpark.embed(images, Path.of(model), options);
                if (root != null) {
                    embedded = VitfitSpark.withFolderLabels(embedded, root);
                }
                VitfitSpark.writeParquet(embedded, output, SaveMode.ErrorIfExists);
                Row counts = spark.read().parquet(output).agg(functions.count(VitfitSpark.EMBEDDING),
                        functions.count(VitfitSpark.ERROR)).first();
                FileStatus[] parts = out.getFileSystem(conf).globStatus(new org.apache.hadoop.fs.Path(out, "part-*"));
                System.out.println("vitfit: " + counts.getLong(0) + " images embedded, " + counts.getLong(1)
                        + " failed (see the 'error' column), " + parts.length + " part files"
                        + (root == null ? ", no labels" : ", labelled by their folder under " + root) + " -> " + output);
                return 0;
            }
        }

        /** The qualified --input when rows get folder labels, else null. */
        private String labelRoot(Configuration conf, String mode) throws IOException {
            if (mode.equals("none")) {
                return null;
            }
            org.apache.hadoop.fs.Path in = new org.apache.hadoop.fs.Path(input);
            FileSystem fs = in.getFileSystem(conf);
            boolean directory = fs.exists(in) && fs.getFileStatus(in).isDirectory();
            if (!directory) {
                if (mode.equals("folder")) {
                    throw new IllegalArgumentException("--labels folder needs --input to be a directory (with a "
                            + "folder per class), got " + input);
                }
                return null;
            }
            if (mode.equals("auto")) {
                for (FileStatus s : fs.listStatus(in)) {
                    String name = s.getPath().getName();
                    if (!s.isDirectory() && !name.startsWith(".") && !name.startsWith("_")) {
                        return null;   // images at the top: not an ImageFolder tree, as vitfit extract decides
                    }
                }
            }
            return fs.makeQualified(in).toString();
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = "Train a linear head with MLlib on the embeddings 'embed' wrote (vitfit train's splits, "
                    + "normalisation and thresholds) and write it like 'vitfit train' does.")
    static final class Train implements Callable<Integer> {
        @Option(names = "--embeddings", required = true, paramLabel = "PATH", description = "Parquet written by 'embed'.")
        String embeddings;

        @Option(names = "--output", required = true, paramLabel = "DIR", description = "New head directory on the driver.")
        Path output;

        @Option(names = "--multilabel", description = "One binary model per label (labels arrays with several entries).")
        boolean multiLabel;

        @Option(names = "--reg", paramLabel = "X", description = "L2 penalty of MLlib's objective (default 1/n, scikit-learn's C = 1).")
        Double reg;

        @Option(names = "--max-iter", paramLabel = "N", defaultValue = "200", description = "L-BFGS iterations (default: ${DEFAULT-VALUE}).")
        int maxIter;

        @Option(names = "--fractions", paramLabel = "TRAIN,VAL,TEST", defaultValue = "0.7,0.1,0.2", split = ",",
                description = "Split fractions when no row has a split (default: ${DEFAULT-VALUE}, as vitfit train).")
        double[] fractions;

        @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Split seed (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--thresholds", paramLabel = "MODE", defaultValue = "global",
                description = "Multi-label thresholds: fixed (0.5), global or per-label, tuned on validation (default: ${DEFAULT-VALUE}).")
        String thresholds;

        @Override
        public Integer call() throws IOException {
            if (fractions.length != 3) {
                throw new IllegalArgumentException("--fractions needs three numbers TRAIN,VAL,TEST, got " + fractions.length);
            }
            Splits.checkFractions(fractions[0], fractions[1], fractions[2]);
            SafeOutput.checkDirectory(output, OutputKind.HEAD, false, List.of());
            SparkHeadTrainer.Builder b = SparkHeadTrainer.builder().multiLabel(multiLabel).maxIter(maxIter)
                    .fractions(fractions[0], fractions[1], fractions[2]).seed(seed)
                    .thresholds(Thresholds.Mode.parse(thresholds));
            if (reg != null) {
                b.regParam(reg);
            }
            try (Session session = Session.open("vitfit train")) {
                SparkSession spark = session.spark();
                Configuration conf = spark.sparkContext().hadoopConfiguration();
                org.apache.hadoop.fs.Path in = new org.apache.hadoop.fs.Path(embeddings);
                FileSystem fs = in.getFileSystem(conf);
                if (!fs.exists(in)) {
                    throw new IllegalArgumentException("no embeddings at " + embeddings + "; give the --output of "
                            + "'embed'");
                }
                if (fs.getFileStatus(in).isDirectory()
                        && !fs.exists(new org.apache.hadoop.fs.Path(in, ParquetCacheBridge.SUCCESS))) {
                    throw new IllegalArgumentException(embeddings + " has no " + ParquetCacheBridge.SUCCESS + " file: "
                            + "the job that wrote it did not finish, so it may hold only some of the rows; embed again");
                }
                SparkHeadTrainer.Run run = b.build().train(spark.read().parquet(embeddings));
                run.head().save(output);
                System.out.println("vitfit: split " + run.splitOrigin() + ": " + run.trainRows() + " train, "
                        + run.validationRows() + " validation, " + run.testRows() + " test rows");
                if (run.validation() != null) {
                    System.out.println("vitfit: " + run.validation().headline());
                }
                if (run.test() != null) {
                    System.out.println("vitfit: " + run.test().headline());
                }
                for (String note : run.notes()) {
                    System.out.println("vitfit: note: " + note);
                }
                System.out.println("vitfit: " + run.head().task().jsonName() + " linear head over "
                        + run.head().labels().size() + " labels -> " + output);
                return 0;
            }
        }
    }

    /** The session spark-submit configured; stopped at the end unless it was running before (a test's, a notebook's). */
    private record Session(SparkSession spark, boolean owned) implements AutoCloseable {
        static Session open(String app) {
            boolean running = SparkSession.getDefaultSession().isDefined();
            return new Session(SparkSession.builder().appName(app).getOrCreate(), !running);
        }

        @Override
        public void close() {
            if (owned) {
                spark.stop();
            }
        }
    }
}
