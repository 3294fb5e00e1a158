package org.vitfit.spark;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EmbedTest {

    @Test
    void binaryFileEmbeddingsEqualTheSingleMachineExtractorsAndBadFilesBecomeErrorRows() throws Exception {
        Fixtures f = Fixtures.get();
        Dataset<Row> images = f.spark.read().format("binaryFile").option("recursiveFileLookup", "true")
                .load(f.images.toString());
        assertTrue(images.rdd().getNumPartitions() > 2, "several partitions, so the session is reused across them");
        // embedded once per JVM by VitfitSpark.embed (batches of 8) and written as Parquet: floats round-trip exactly
        List<Row> rows = f.spark.read().parquet(f.petsParquet().toString()).collectAsList();
        Map<String, Row> byPath = new HashMap<>();
        rows.forEach(r -> byPath.put(f.relative(r.getAs(VitfitSpark.PATH)), r));
        // Spark's file scan skips zero-byte files, so binaryFile never shows the planted empty file (the path-column
        // test below covers it); the two other bad files come back as rows
        assertEquals(Fixtures.PETS + 2, rows.size());
        assertNull(byPath.get(Fixtures.ZERO_BYTE));
        try (EmbeddingCache cache = EmbeddingCache.open(f.referenceCache)) {
            assertEquals(Fixtures.PETS, cache.rows().size());
            double worst = 0;
            for (CacheRow ref : cache.rows()) {
                Row r = byPath.get(ref.path());
                assertNotNull(r, "no Spark row for " + ref.path());
                assertNull(r.getAs(VitfitSpark.ERROR), ref.path());
                List<Float> e = r.getList(r.fieldIndex(VitfitSpark.EMBEDDING));
                float[] expected = cache.vector(ref);
                assertEquals(expected.length, e.size());
                for (int j = 0; j < expected.length; j++) {
                    worst = Math.max(worst, Math.abs(expected[j] - e.get(j)));
                }
            }
            System.out.println("Spark vs single-machine extractor, 370 pets: max |difference| " + worst);
            assertTrue(worst <= 1e-6, "max difference " + worst);
        }
        assertError(byPath.get(Fixtures.TRUNCATED), "TRUNCATED");
        assertError(byPath.get(Fixtures.TEXT), "NOT_AN_IMAGE");
        assertTrue(rows.get(0).schema().getFieldIndex(VitfitSpark.CONTENT).isEmpty(), "content is dropped");
        // local mode: every task ran in this JVM, on one session (other tests may have opened other models)
        assertEquals(1, ExecutorModels.sessionsFor(org.vitfit.runtime.ModelDescriptor.read(f.model).onnxSha256()));
    }

    @Test
    void pathColumnInputIsReadFromTheFileSystem() throws Exception {
        Fixtures f = Fixtures.get();
        List<String> paths = List.of(f.images.resolve("Abyssinian").toUri().toString(),
                f.images.resolve(Fixtures.TEXT).toString(), f.images.resolve("missing.jpg").toString(),
                f.images.resolve(Fixtures.ZERO_BYTE).toUri().toString(),
                f.images.resolve("Bengal").resolve("Bengal_107.jpg").toString());
        Dataset<Row> df = f.spark.createDataset(paths, org.apache.spark.sql.Encoders.STRING()).toDF(VitfitSpark.PATH);
        Map<String, Row> byPath = new HashMap<>();
        VitfitSpark.embed(df, f.model, EmbedOptions.defaults()).collectAsList()
                .forEach(r -> byPath.put(r.getAs(VitfitSpark.PATH), r));
        // a directory is not an image: an error row, like the text file and the missing file
        assertError(byPath.get(paths.get(0)), "UNREADABLE");
        assertError(byPath.get(paths.get(1)), "NOT_AN_IMAGE");
        assertError(byPath.get(paths.get(2)), "UNREADABLE");
        assertError(byPath.get(paths.get(3)), "EMPTY_FILE");
        try (EmbeddingCache cache = EmbeddingCache.open(f.referenceCache)) {
            float[] expected = cache.vector(cache.row("Bengal/Bengal_107.jpg").orElseThrow());
            List<Float> got = byPath.get(paths.get(4)).getList(byPath.get(paths.get(4)).fieldIndex(VitfitSpark.EMBEDDING));
            for (int j = 0; j < expected.length; j++) {
                assertEquals(expected[j], got.get(j), 1e-6);
            }
        }
    }

    @Test
    void inputWithoutImagesOrWithReservedColumnsIsRefused() {
        Fixtures f = Fixtures.get();
        Dataset<Row> numbers = f.spark.range(3).toDF("n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VitfitSpark.embed(numbers, f.model, EmbedOptions.defaults()));
        assertTrue(e.getMessage().contains("binaryFile"), e.getMessage());
        Dataset<Row> clash = f.spark.range(3).toDF("n").selectExpr("'x' as path", "n as embedding");
        e = assertThrows(IllegalArgumentException.class, () -> VitfitSpark.embed(clash, f.model, EmbedOptions.defaults()));
        assertTrue(e.getMessage().contains("'embedding'"), e.getMessage());
        assertThrows(java.nio.file.NoSuchFileException.class,
                () -> VitfitSpark.embed(numbers, Path.of("/nonexistent-model"), EmbedOptions.defaults()));
    }

    private static void assertError(Row r, String reason) {
        assertNotNull(r);
        assertNull(r.getAs(VitfitSpark.EMBEDDING));
        String error = r.getAs(VitfitSpark.ERROR);
        assertNotNull(error);
        assertTrue(error.startsWith(reason), error);
    }
}
