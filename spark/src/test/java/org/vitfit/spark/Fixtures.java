package org.vitfit.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.vitfit.convert.Converter;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * What the Spark tests share within one JVM, built once: the converted ViT-Tiny, a copy of oxford-pets-370 with three
 * planted bad files, the single-machine extractor's cache of the pets (the reference), and a local Spark session.
 */
final class Fixtures {

    static final int PETS = 370;
    /** Planted next to the pets; each must come back as an error row. */
    static final String ZERO_BYTE = "Abyssinian/zero_byte.jpg";
    static final String TRUNCATED = "Bengal/truncated.jpg";
    static final String TEXT = "Birman/not_an_image.jpg";

    private static Fixtures instance;

    final Path work;
    final Path model;
    final Path images;
    final Path referenceCache;
    final SparkSession spark;

    private Fixtures() throws IOException {
        work = Files.createTempDirectory("vitfit-spark-test");
        Path root = Path.of(System.getProperty("vitfit.root", "."));
        Path shared = Path.of(System.getProperty("vitfit.shared", root.resolve("../shared").toString()));
        model = work.resolve("vit-tiny");
        Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);

        Path pets = shared.resolve("datasets/oxford-pets-370");
        images = work.resolve("images");
        try (Stream<Path> files = Files.walk(pets)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Path dst = images.resolve(pets.relativize(f).toString());
                Files.createDirectories(dst.getParent());
                Files.copy(f, dst);
            }
        }
        Files.write(images.resolve(ZERO_BYTE), new byte[0]);
        byte[] jpeg = Files.readAllBytes(images.resolve("Bengal").resolve(firstFile(images.resolve("Bengal"))));
        Files.write(images.resolve(TRUNCATED), Arrays.copyOf(jpeg, jpeg.length / 3));
        Files.writeString(images.resolve(TEXT), "this is a text file with an image extension\n");

        // The reference: the single-machine extractor on the same files (it records the planted files as failures)
        referenceCache = work.resolve("reference-cache");
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, images, referenceCache).batchSize(16).build(),
                ExtractListener.NONE);
        if (s.failed() != 3) {
            throw new IllegalStateException("the extractor should fail exactly the 3 planted files, failed "
                    + s.failed() + " (see " + s.errorsFile() + ")");
        }

        spark = SparkSession.builder()
                .master("local[2,3]")                       // 2 threads; a task may fail up to 3 times
                .appName("vitfit-spark-tests")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.host", "127.0.0.1")
                .getOrCreate();
        Runtime.getRuntime().addShutdownHook(new Thread(this::cleanUp));
    }

    private Path petsParquet;

    /**
     * The pets (and the planted bad files) embedded once with {@link VitfitSpark#embed} and written with
     * {@link VitfitSpark#writeParquet}: what several tests read, so the 372 images are embedded once per JVM.
     */
    synchronized Path petsParquet() throws IOException {
        if (petsParquet == null) {
            Path out = work.resolve("pets.parquet");
            Dataset<Row> images = spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                    .load(this.images.toString());
            VitfitSpark.writeParquet(VitfitSpark.embed(images, model, EmbedOptions.defaults().withBatchSize(8)),
                    out.toString(), SaveMode.ErrorIfExists);
            petsParquet = out;
        }
        return petsParquet;
    }

    static synchronized Fixtures get() {
        if (instance == null) {
            try {
                instance = new Fixtures();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return instance;
    }

    private static String firstFile(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".jpg")).sorted().findFirst()
                    .orElseThrow();
        }
    }

    /** The path relative to the image root, as the cache stores it, from a {@code file:} URI or path. */
    String relative(String path) {
        String root = images.toUri().getPath();
        String p = path.startsWith("file:") ? java.net.URI.create(path).getPath() : path;
        if (!p.startsWith(root)) {
            throw new IllegalArgumentException(path + " is not under " + root);
        }
        return p.substring(root.length());
    }

    private void cleanUp() {
        spark.stop();
        try (Stream<Path> s = Files.walk(work)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // temporary files only
        }
    }
}
