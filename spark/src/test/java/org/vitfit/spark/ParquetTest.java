package org.vitfit.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParquetTest {

    static Fixtures f;
    static Path written;

    @BeforeAll
    static void writeOnce() throws IOException {
        f = Fixtures.get();
        written = f.petsParquet();
    }

    @Test
    void everyPartFileFooterCarriesTheModelIdentity() throws IOException {
        ModelDescriptor d = ModelDescriptor.read(f.model);
        Map<String, String> id = ParquetCacheBridge.readIdentity(written);
        assertEquals(ParquetMetadataKeys.FORMAT_VALUE, id.get(ParquetMetadataKeys.FORMAT));
        assertEquals(d.onnxSha256(), id.get(ParquetMetadataKeys.MODEL_SHA256));
        assertEquals("192", id.get(ParquetMetadataKeys.DIMENSION));
        assertEquals(d.preprocessing(), new ObjectMapper().readValue(id.get(ParquetMetadataKeys.PREPROCESSING),
                PreprocessRecipe.class));
        Dataset<Row> back = f.spark.read().parquet(written.toString());
        assertEquals(Fixtures.PETS + 2, back.count());
        assertEquals(2, back.filter("error is not null and embedding is null").count());
    }

    @Test
    void aTaskThatFailsAndIsRetriedLeavesNoDuplicateOrMissingRows() throws IOException {
        // Ten of the 37 breed folders (the three with planted bad files among them): still several partitions of
        // ~30 files, so partition 1 dies mid-write, at a quarter of the cost of embedding all 372 files again.
        List<String> folders = List.of("Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair",
                "Egyptian_Mau", "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue");
        Dataset<Row> subset = f.spark.read().format("binaryFile")
                .load(folders.stream().map(d -> f.images.resolve(d).toString()).toArray(String[]::new));
        assertTrue(subset.rdd().getNumPartitions() >= 2, "partition 1 must exist");
        Path out = f.work.resolve("retried.parquet");
        Dataset<Row> flaky = subset.mapPartitions(new FailFirstAttempt(), Encoders.row(subset.schema()));
        VitfitSpark.writeParquet(VitfitSpark.embed(flaky, f.model, EmbedOptions.defaults().withBatchSize(4)),
                out.toString(), SaveMode.ErrorIfExists);
        assertTrue(FailFirstAttempt.failedOnce(), "the first attempt of partition 1 must have failed");

        Map<String, Row> expected = byPath(f.spark.read().parquet(written.toString()).collectAsList());
        expected.keySet().removeIf(p -> !folders.contains(f.relative(p).split("/")[0]));
        assertEquals(folders.size() * 10 + 2, expected.size(), "10 pets per folder and 2 planted bad files");
        List<Row> rows = f.spark.read().parquet(out.toString()).collectAsList();
        assertEquals(expected.size(), rows.size(), "rows after the retry");
        Map<String, Row> got = byPath(rows);
        assertEquals(expected.keySet(), got.keySet(), "same paths, none twice");
        for (Map.Entry<String, Row> e : expected.entrySet()) {
            Row r = got.get(e.getKey());
            assertEquals(e.getValue().<String>getAs(VitfitSpark.ERROR), r.getAs(VitfitSpark.ERROR));
            assertEquals(e.getValue().<Object>getAs(VitfitSpark.EMBEDDING), r.getAs(VitfitSpark.EMBEDDING));
        }
        try (var files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("_temporary")),
                    "the failed attempt's files are cleaned up");
        }
    }

    @Test
    void sparkParquetImportsIntoACacheEqualToTheExtractorsAndTheCacheExportsBack() throws IOException {
        Path imported = f.work.resolve("imported-cache");
        ParquetCacheBridge.ImportSummary s = ParquetCacheBridge.importInto(written, imported,
                new ParquetCacheBridge.ImportOptions(f.images.toUri().toString(), true));
        assertEquals(Fixtures.PETS, s.imported());
        assertEquals(Fixtures.PETS, s.added());
        assertEquals(2, s.errorRows());
        assertTrue(s.files() > 1, "a directory of part files");
        // the same file again: every row is already there, nothing is written
        ParquetCacheBridge.ImportSummary repeated = ParquetCacheBridge.importInto(written, imported,
                new ParquetCacheBridge.ImportOptions(f.images.toUri().toString(), true));
        assertEquals(0, repeated.imported());
        assertEquals(Fixtures.PETS, repeated.unchanged());
        Path exported = f.work.resolve("reference-export.parquet");
        try (EmbeddingCache ref = EmbeddingCache.open(f.referenceCache);
             EmbeddingCache got = EmbeddingCache.open(imported)) {
            assertEquals(ref.header().modelSha256(), got.header().modelSha256());
            assertEquals(ref.header().preprocessing(), got.header().preprocessing());
            assertEquals(Fixtures.PETS, got.rows().size());
            for (CacheRow r : ref.rows()) {
                CacheRow g = got.row(r.path()).orElseThrow(() -> new AssertionError("missing " + r.path()));
                assertEquals(r.labels(), g.labels(), r.path());
                assertEquals(r.sha256(), g.sha256(), r.path());
                assertEquals(r.size(), g.size(), r.path());
                assertArrayEquals(ref.vector(r), got.vector(g), 1e-6f, r.path());
            }
            // the other way: the extractor's cache to Parquet, read by Spark and imported again
            assertEquals(Fixtures.PETS, ParquetCacheBridge.exportCache(f.referenceCache, exported, false));
            assertEquals(ParquetCacheBridge.readIdentity(written), ParquetCacheBridge.readIdentity(exported));
            Dataset<Row> back = f.spark.read().parquet(exported.toString());
            assertEquals(Fixtures.PETS, back.count());
            Row one = back.filter("path = 'Bengal/Bengal_107.jpg'").first();
            assertEquals(List.of("Bengal"), one.getList(one.fieldIndex("labels")));
            Path again = f.work.resolve("reimported-cache");
            assertEquals(Fixtures.PETS, ParquetCacheBridge.importInto(exported, again,
                    ParquetCacheBridge.ImportOptions.defaults()).imported());
            try (EmbeddingCache round = EmbeddingCache.open(again)) {
                for (CacheRow r : ref.rows()) {
                    CacheRow g = round.row(r.path()).orElseThrow();
                    assertEquals(r.labels(), g.labels());
                    assertArrayEquals(ref.vector(r), round.vector(g), r.path());
                }
            }
        }
        IOException exists = assertThrows(IOException.class, () -> ParquetCacheBridge.exportCache(f.referenceCache, exported, false));
        assertTrue(exists.getMessage().contains("already exists; pass --overwrite"), exists.getMessage());
        assertEquals(Fixtures.PETS, ParquetCacheBridge.exportCache(f.referenceCache, exported, true));
    }

    @Test
    void parquetWithoutTheModelIdentityIsRefused() {
        Path plain = f.work.resolve("plain.parquet");
        f.spark.range(3).selectExpr("cast(id as string) as path", "array(cast(1.0 as float)) as embedding")
                .write().parquet(plain.toString());
        IOException e = assertThrows(IOException.class,
                () -> ParquetCacheBridge.importInto(plain, f.work.resolve("never-cache"),
                        ParquetCacheBridge.ImportOptions.defaults()));
        assertTrue(e.getMessage().contains(ParquetMetadataKeys.MODEL_SHA256), e.getMessage());
        assertTrue(!Files.exists(f.work.resolve("never-cache")), "nothing written for a refused import");
        IllegalArgumentException notEmbedded = assertThrows(IllegalArgumentException.class,
                () -> VitfitSpark.writeParquet(f.spark.range(2).toDF("n"), f.work.resolve("x").toString(),
                        SaveMode.ErrorIfExists));
        assertTrue(notEmbedded.getMessage().contains("VitfitSpark.embed"), notEmbedded.getMessage());
    }

    private static Map<String, Row> byPath(List<Row> rows) {
        Map<String, Row> m = new HashMap<>();
        List<String> dupes = new ArrayList<>();
        for (Row r : rows) {
            if (m.put(r.getAs(VitfitSpark.PATH), r) != null) {
                dupes.add(r.getAs(VitfitSpark.PATH));
            }
        }
        assertEquals(List.of(), dupes, "duplicate rows");
        return m;
    }

    /** Lets 20 rows of partition 1 through on its first attempt, then dies, as a lost executor would. */
    static final class FailFirstAttempt implements MapPartitionsFunction<Row, Row> {
        private static volatile boolean failed;

        static boolean failedOnce() {
            return failed;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> input) {
            TaskContext task = TaskContext.get();
            if (task.partitionId() != 1 || task.attemptNumber() > 0) {
                return input;
            }
            return new Iterator<>() {
                int passed;

                @Override
                public boolean hasNext() {
                    return input.hasNext();
                }

                @Override
                public Row next() {
                    if (passed++ == 20) {
                        failed = true;
                        throw new IllegalStateException("simulated executor loss in partition 1, attempt 0");
                    }
                    return input.next();
                }
            };
        }
    }
}
