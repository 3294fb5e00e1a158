package org.vitfit.spark;

import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalInputFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.CacheHeader;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.spark.SyntheticParquet.Columns;
import org.vitfit.spark.SyntheticParquet.R;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vitfit parquet import} / export held to the extractor's standard, on synthetic files with one defect each
 * (no Spark, no model): nothing of a refused file reaches the cache.
 */
class ParquetImportTest {

    @TempDir
    Path tmp;

    private static final ParquetCacheBridge.ImportOptions DEFAULTS = ParquetCacheBridge.ImportOptions.defaults();

    private static List<R> rows(String prefix, int n) {
        List<R> rows = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            rows.add(R.ok(String.format("%s/%03d.jpg", prefix, i), prefix));
        }
        return rows;
    }

    @Test
    void aShortVectorAtRow21CommitsNothingOfTheFile() throws IOException {
        Path cache = tmp.resolve("cache");
        SyntheticParquet.cache(cache, rows("cat", 5));
        CacheHeader before = header(cache);
        List<R> rows = rows("dog", 30);
        rows.set(20, rows.get(20).withEmbedding(new float[] {1, 2, 3}));
        Path file = SyntheticParquet.write(tmp.resolve("bad.parquet"), Columns.ALL, rows);

        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("nothing imported, the cache is unchanged"), e.getMessage());
        assertTrue(e.getMessage().contains("vector length is not the footer's dimension 4 (1 row): "
                + "bad.parquet row 21 (dog/021.jpg): 3 floats"), e.getMessage());
        CacheHeader after = header(cache);
        assertEquals(before.generation(), after.generation(), "no commit");
        assertEquals(before.indexBytes(), after.indexBytes());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(5, c.rows().size());
            assertTrue(c.row("dog/001.jpg").isEmpty(), "rows 1-20 of the refused file are not there");
        }
    }

    @Test
    void rowsWithoutSha256AreRefusedAndNoEmptyCacheIsLeftBehind() throws IOException {
        Path cache = tmp.resolve("new-cache");
        List<R> rows = rows("cat", 4);
        rows.set(2, rows.get(2).withSha(null));
        Path file = SyntheticParquet.write(tmp.resolve("nosha.parquet"), Columns.ALL, rows);
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("nothing imported, no cache created"), e.getMessage());
        assertTrue(e.getMessage().contains("no sha256 (the hash of the image bytes"), e.getMessage());
        assertTrue(e.getMessage().contains("nosha.parquet row 3 (cat/003.jpg)"), e.getMessage());
        assertFalse(Files.exists(cache), "a refused import leaves no cache directory");

        // an empty directory the user made stays as it was: empty
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, empty, DEFAULTS));
        try (Stream<Path> s = Files.list(empty)) {
            assertEquals(List.of(), s.toList());
        }

        // no sha256 column at all
        Path noColumn = SyntheticParquet.write(tmp.resolve("nocolumn.parquet"), Columns.NO_SHA, rows("cat", 2));
        e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(noColumn, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("has no 'sha256' column"), e.getMessage());
        assertFalse(Files.exists(cache));

        // a sha256 that is not one
        Path badSha = SyntheticParquet.write(tmp.resolve("badsha.parquet"), Columns.ALL,
                List.of(rows.get(0), rows.get(1).withSha("not-a-hash")));
        e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(badSha, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("sha256 is not 64 lower-case hex digits (1 row): "
                + "badsha.parquet row 2 (cat/002.jpg): 'not-a-hash'"), e.getMessage());
    }

    @Test
    void duplicatePathsAreReportedWithBothPlacesInsteadOfKeepingOne() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("spark-out"));
        SyntheticParquet.write(dir.resolve("part-00000.parquet"), Columns.ALL, rows("cat", 12));
        SyntheticParquet.write(dir.resolve("part-00001.parquet"), Columns.ALL, rows("cat", 12).subList(10, 12));
        Files.createFile(dir.resolve("_SUCCESS"));
        Path cache = tmp.resolve("cache");
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(dir, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("path appears more than once (a cache holds one row per path) (2 rows): "
                + "part-00001.parquet row 1 (cat/011.jpg) and part-00000.parquet row 11 (cat/011.jpg)"), e.getMessage());
        assertFalse(Files.exists(cache));
    }

    @Test
    void aFileWithoutLabelsNeverClearsTheLabelsTheCacheHas() throws IOException {
        Path cache = tmp.resolve("cache");
        List<R> labelled = new ArrayList<>(rows("cat", 3));
        labelled.set(1, new R("cat/002.jpg", SyntheticParquet.sha("cat/002.jpg"), 7L, List.of("cat"), "val",
                SyntheticParquet.vector("cat/002.jpg"), null));
        SyntheticParquet.cache(cache, labelled);
        // the same three images, one re-encoded (new bytes, new vector), from a job that wrote no labels or split
        List<R> unlabelled = new ArrayList<>(rows("cat", 3));
        unlabelled.set(2, unlabelled.get(2).withSha(SyntheticParquet.sha("re-encoded"))
                .withEmbedding(new float[] {9, 9, 9, 9}));
        Path file = SyntheticParquet.write(tmp.resolve("nolabels.parquet"), Columns.NO_LABELS, unlabelled);

        ParquetCacheBridge.ImportSummary s = ParquetCacheBridge.importInto(file, cache, DEFAULTS);
        assertEquals(0, s.added());
        assertEquals(1, s.replaced());
        assertEquals(2, s.unchanged());
        assertEquals(3, s.labelsKept());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            for (CacheRow r : c.rows()) {
                assertEquals(List.of("cat"), r.labels(), r.path());
            }
            assertEquals("val", c.row("cat/002.jpg").orElseThrow().split(), "the split stays too");
            CacheRow changed = c.row("cat/003.jpg").orElseThrow();
            assertEquals(SyntheticParquet.sha("re-encoded"), changed.sha256());
            assertArrayEquals(new float[] {9, 9, 9, 9}, c.vector(changed), 0f);
        }
        // an explicit empty labels list does clear them: the file says so
        Path cleared = SyntheticParquet.write(tmp.resolve("cleared.parquet"), Columns.ALL,
                List.of(rows("cat", 1).get(0).withLabels(List.of())));
        ParquetCacheBridge.importInto(cleared, cache, DEFAULTS);
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(List.of(), c.row("cat/001.jpg").orElseThrow().labels());
        }
    }

    @Test
    void aSparkOutputDirectoryWithoutSuccessIsRefused() throws IOException {
        // what a job killed with committer v2 leaves: the part files of the tasks that finished, no _SUCCESS
        Path dir = Files.createDirectory(tmp.resolve("killed-job"));
        SyntheticParquet.write(dir.resolve("part-00000-a.snappy.parquet"), Columns.ALL, rows("cat", 10));
        Path cache = tmp.resolve("cache");
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(dir, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("has no _SUCCESS file: the Spark job that wrote it did not finish"),
                e.getMessage());
        assertFalse(Files.exists(cache));
        Files.createFile(dir.resolve("_SUCCESS"));
        assertEquals(10, ParquetCacheBridge.importInto(dir, cache, DEFAULTS).imported());
    }

    @Test
    void aDamagedPageIsCaughtByItsChecksum() throws IOException {
        // uncompressed, so the flipped byte reaches the page checksum and not a decompressor first
        Path file = SyntheticParquet.write(tmp.resolve("pages.parquet"), Columns.ALL, rows("cat", 200),
                CompressionCodecName.UNCOMPRESSED);
        long offset;
        try (ParquetFileReader r = ParquetFileReader.open(new LocalInputFile(file))) {
            ColumnChunkMetaData embedding = r.getFooter().getBlocks().get(0).getColumns().stream()
                    .filter(c -> c.getPath().toDotString().startsWith("embedding")).findFirst().orElseThrow();
            offset = embedding.getFirstDataPageOffset() + embedding.getTotalSize() / 2;
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[(int) offset] ^= 0x10;
        Files.write(file, bytes);
        Path cache = tmp.resolve("cache");
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("pages.parquet is damaged"), e.getMessage());
        assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("checksum"), e.getMessage());
        assertFalse(Files.exists(cache));
    }

    @Test
    void nanOrInfiniteVectorsAreRefused() throws IOException {
        List<R> rows = rows("cat", 3);
        rows.set(1, rows.get(1).withEmbedding(new float[] {0, Float.POSITIVE_INFINITY, 0, 0}));
        rows.set(2, rows.get(2).withEmbedding(new float[] {Float.NaN, 0, 0, 0}));
        Path file = SyntheticParquet.write(tmp.resolve("nan.parquet"), Columns.ALL, rows);
        Path cache = tmp.resolve("cache");
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache, DEFAULTS));
        assertTrue(e.getMessage().contains("NaN or infinite components in the vector (the job that computed them "
                + "failed numerically; re-embed those images) (2 rows)"), e.getMessage());
        assertTrue(e.getMessage().contains("nan.parquet row 2 (cat/002.jpg): component 1 is Infinity"), e.getMessage());
        assertFalse(Files.exists(cache));
    }

    @Test
    void stripPrefixRefusesPathsWithoutItAndFolderLabelsFollowTheExtractorsRule() throws IOException {
        List<R> rows = List.of(R.ok("file:/data/pets/cat/a/1.jpg"), R.ok("file:///data/pets/dog/2.jpg"),
                R.ok("file:/elsewhere/3.jpg"));
        Path file = SyntheticParquet.write(tmp.resolve("paths.parquet"), Columns.NO_LABELS, rows);
        Path cache = tmp.resolve("cache");
        ParquetCacheBridge.ImportOptions strip = new ParquetCacheBridge.ImportOptions("/data/pets", true);
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache, strip));
        assertTrue(e.getMessage().contains("path does not start with --strip-prefix /data/pets (1 row): paths.parquet row 3 "
                + "(file:/elsewhere/3.jpg)"), e.getMessage());
        assertFalse(Files.exists(cache));

        // without --strip-prefix the paths are not relative: folder labels cannot be named
        e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(file, cache,
                new ParquetCacheBridge.ImportOptions(null, true)));
        assertTrue(e.getMessage().contains("path is not relative to an image root, so --labels-from-folder cannot "
                + "name its top folder (pass --strip-prefix with the root the images were read from) (3 rows)"),
                e.getMessage());

        Path good = SyntheticParquet.write(tmp.resolve("good.parquet"), Columns.NO_LABELS, rows.subList(0, 2));
        assertEquals(2, ParquetCacheBridge.importInto(good, cache, strip).imported());
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            // the top folder under the root, as vitfit extract labels cat/a/1.jpg
            assertEquals(List.of("cat"), c.row("cat/a/1.jpg").orElseThrow().labels());
            assertEquals(List.of("dog"), c.row("dog/2.jpg").orElseThrow().labels());
        }
        // a labels column and --labels-from-folder at once: which wins is not guessed
        Path labelled = SyntheticParquet.write(tmp.resolve("labelled.parquet"), Columns.ALL, rows.subList(0, 1));
        e = assertThrows(IOException.class, () -> ParquetCacheBridge.importInto(labelled, cache, strip));
        assertTrue(e.getMessage().contains("has a 'labels' column already; drop --labels-from-folder"), e.getMessage());
    }

    @Test
    void exportWritesThroughATemporaryFileAndReplacesOnlyItsOwn() throws IOException {
        Path cache = tmp.resolve("cache");
        SyntheticParquet.cache(cache, rows("cat", 3));
        Path out = tmp.resolve("out.parquet");
        assertEquals(3, ParquetCacheBridge.exportCache(cache, out, false));
        assertEquals(ParquetMetadataKeys.FORMAT_VALUE, ParquetCacheBridge.readIdentity(out).get(ParquetMetadataKeys.FORMAT));
        assertEquals(List.of("out.parquet"), siblings(out), "no temporary or .crc file beside it");
        IOException e = assertThrows(IOException.class, () -> ParquetCacheBridge.exportCache(cache, out, false));
        assertTrue(e.getMessage().contains("pass --overwrite"), e.getMessage());
        assertEquals(3, ParquetCacheBridge.exportCache(cache, out, true));

        Path notOurs = Files.writeString(tmp.resolve("notes.parquet"), "my notes");
        e = assertThrows(IOException.class, () -> ParquetCacheBridge.exportCache(cache, notOurs, true));
        assertTrue(e.getMessage().contains("is not a Parquet embedding table written by vitfit"), e.getMessage());
        assertEquals("my notes", Files.readString(notOurs));

        // a failure half way leaves no temporary either: SafeOutput.writeFile deletes it
    }

    private static List<String> siblings(Path file) throws IOException {
        try (Stream<Path> s = Files.list(file.getParent())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.contains(file.getFileName().toString()))
                    .sorted().toList();
        }
    }

    private static CacheHeader header(Path cache) throws IOException {
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            return c.header();
        }
    }
}
