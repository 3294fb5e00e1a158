package org.vitfit.cache;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vitfit.cache.CacheFixtures.DIM;
import static org.vitfit.cache.CacheFixtures.meta;
import static org.vitfit.cache.CacheFixtures.vector;

class EmbeddingCacheTest {

    @TempDir
    Path tmp;

    @Test
    void rowsLabelsSplitsAndVectorsRoundTrip() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "cat1", "cat2", "val-dog");
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            CacheHeader h = c.header();
            assertEquals(CacheHeader.FORMAT, h.format());
            assertEquals(CacheFixtures.SHA_A, h.modelSha256());
            assertEquals(CacheFixtures.recipe(), h.preprocessing());
            assertEquals(DIM, c.dimension());
            assertEquals("f32", h.dtype());
            assertEquals(3, h.count());
            List<CacheRow> rows = c.rows();
            assertEquals(List.of("cat1", "cat2", "val-dog"), rows.stream().map(CacheRow::path).toList());
            assertEquals(List.of(0L, 1L, 2L), rows.stream().map(CacheRow::row).toList());
            assertEquals(List.of("label-v"), rows.get(2).labels());
            assertEquals("val", rows.get(2).split());
            assertEquals(CacheFixtures.sha("cat2"), rows.get(1).sha256());
            for (CacheRow r : rows) {
                assertArrayEquals(vector(r.path()), c.vector(r), 0f);
            }
            float[] dst = new float[DIM + 3];
            c.vector(rows.get(1), dst, 3);
            assertArrayEquals(vector("cat2"), java.util.Arrays.copyOfRange(dst, 3, DIM + 3), 0f);

            ByteBuffer raw = c.rawVectors();
            assertTrue(raw.isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, raw.order());
            assertEquals(3 * DIM * 4, raw.remaining());
            assertEquals(vector("val-dog")[5], raw.getFloat((2 * DIM + 5) * 4));
        }
    }

    @Test
    void f16VectorsAreRoundedToNearestHalf() throws IOException {
        Path dir = tmp.resolve("cache16");
        CacheFixtures.write(dir, VectorDtype.F16, "a", "b");
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals("f16", c.header().dtype());
            assertEquals(2 * DIM * 2, c.rawVectors().remaining());
            for (CacheRow r : c.rows()) {
                float[] expected = vector(r.path());
                float[] got = c.vector(r);
                for (int i = 0; i < DIM; i++) {
                    assertEquals(Half.toFloat(Half.fromFloat(expected[i])), got[i], 0f);
                    assertEquals(expected[i], got[i], Math.abs(expected[i]) * 0x1p-11f + 0x1p-25f);
                }
            }
        }
    }

    @Test
    void replacedAndDeletedRowsAreNotListedButKeepTheirRowNumbers() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b", "c", "d");
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(VectorDtype.F32, w.dtype());
            w.append(meta("b", "new-label"), vector("b2"), 0);
            assertTrue(w.delete("c", "deleted"));
            assertFalse(w.delete("no-such-path", "deleted"));
            CacheRow aRow = w.liveRow("a").orElseThrow();
            w.appendCopy(aRow, new RowMeta("a-copy", aRow.sha256(), aRow.size(), List.of("x"), null));
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(List.of("a", "d", "b", "a-copy"), c.rows().stream().map(CacheRow::path).toList());
            assertEquals(List.of(0L, 3L, 4L, 5L), c.rows().stream().map(CacheRow::row).toList());
            assertEquals(4, c.header().count());
            assertEquals(6, c.header().rows());
            assertEquals(2, c.header().deletedRows());
            assertArrayEquals(vector("b2"), c.vector(c.row("b").orElseThrow()), 0f);
            assertEquals(List.of("new-label"), c.row("b").orElseThrow().labels());
            assertArrayEquals(vector("a"), c.vector(c.row("a-copy").orElseThrow()), 0f);
            assertTrue(c.row("c").isEmpty());
        }
        String deletions = Files.readString(CacheFixtures.onlyFile(dir, "deletions-"));
        assertTrue(deletions.contains("\"row\":1,\"reason\":\"replaced\""), deletions);
        assertTrue(deletions.contains("\"row\":2,\"reason\":\"deleted\""), deletions);
    }

    @Test
    void mostlyDeadCacheIsCompactedIntoANewEpoch() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b", "c");
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(VectorDtype.F32))) {
            w.delete("a", "deleted");
            w.delete("b", "deleted");
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(2, c.header().epoch());
            assertEquals(1, c.header().rows());
            assertEquals(0, c.header().deletedRows());
            assertEquals(List.of(new CacheRow(0, "c", CacheFixtures.sha("c"), 1, List.of("label-c"), "train")),
                    c.rows());
            assertArrayEquals(vector("c"), c.vector(c.rows().get(0)), 0f);
        }
        assertTrue(Files.notExists(dir.resolve("vectors-000001.bin")));
        assertTrue(Files.exists(dir.resolve("vectors-000002.bin")));
    }

    @Test
    void readerSeesOnlyTheLastCommitAndIgnoresATornTail() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            w.append(meta("c"), vector("c"), 0);
            w.delete("a", "deleted");
            // Disk state at a crash now: rows appended and a deletion logged, none of it committed.
            Path crashed = CacheFixtures.snapshot(dir, tmp.resolve("crashed"));
            try (EmbeddingCache c = EmbeddingCache.open(crashed)) {
                assertEquals(List.of("a", "b"), c.rows().stream().map(CacheRow::path).toList());
            }
            // A half-written vector and a half-written index line on top.
            append(crashed.resolve("vectors-000001.bin"), new byte[DIM * 4 / 2]);
            append(crashed.resolve("index-000001.jsonl"), "{\"row\":3,\"pa".getBytes(StandardCharsets.UTF_8));
            try (EmbeddingCache c = EmbeddingCache.open(crashed)) {
                assertEquals(2, c.rows().size());
            }
            try (CacheWriter recovered = CacheWriter.open(crashed, CacheFixtures.identity(null))) {
                assertEquals(1, recovered.recoveryNotes().size());
                assertTrue(recovered.recoveryNotes().get(0).contains("2 uncommitted vectors"),
                        recovered.recoveryNotes().toString());
                assertEquals(64 + 2 * DIM * 4, Files.size(crashed.resolve("vectors-000001.bin")));
                recovered.append(meta("d"), vector("d"), 0);
            }
            try (EmbeddingCache c = EmbeddingCache.open(crashed)) {
                assertEquals(List.of("a", "b", "d"), c.rows().stream().map(CacheRow::path).toList());
                assertArrayEquals(vector("d"), c.vector(c.rows().get(2)), 0f);
            }
        }
    }

    @Test
    void flippedIndexByteIsReportedWithFileAndLineThenRepairedByTheWriter() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b", "c");
        Path index = dir.resolve("index-000001.jsonl");
        List<String> lines = Files.readAllLines(index);
        long secondLineStart = lines.get(0).length() + 1;
        // Inside the sha256 value of line 2: still valid JSON, silently different content.
        CacheFixtures.flipByte(index, secondLineStart + lines.get(1).indexOf("sha256") + 12);
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("index-000001.jsonl line 2: checksum mismatch"), e.getMessage());
        assertTrue(e.getMessage().contains("Run 'vitfit extract' again"), e.getMessage());

        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertTrue(w.recoveryNotes().get(0).contains("dropping 1 rows"), w.recoveryNotes().toString());
            assertEquals(java.util.Set.of("a", "c"), w.livePaths());
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(List.of("a", "c"), c.rows().stream().map(CacheRow::path).toList());
            assertArrayEquals(vector("c"), c.vector(c.rows().get(1)), 0f);
        }
    }

    @Test
    void flippedVectorByteIsReportedWithRowAndPathThenRepairedByTheWriter() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b", "c");
        CacheFixtures.flipByte(dir.resolve("vectors-000001.bin"), 64 + 2L * DIM * 4 + 7);
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("vectors-000001.bin row 2 (c): vector checksum mismatch"), e.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(java.util.Set.of("a", "b"), w.livePaths());
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(2, c.header().count());
        }
    }

    @Test
    void flippedHeaderOrFileHeaderByteIsRefused() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        Path header = dir.resolve("header.json");
        String json = Files.readString(header);
        Files.writeString(header, json.replace("\"count\" : 2", "\"count\" : 3"));
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("header.json: checksum mismatch"), e.getMessage());
        Files.writeString(header, json);

        CacheFixtures.flipByte(dir.resolve("vectors-000001.bin"), 17);
        e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("vectors-000001.bin: file header checksum mismatch"), e.getMessage());
    }

    @Test
    void truncatedCommittedDataIsReported() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b", "c");
        Path vectors = dir.resolve("vectors-000001.bin");
        try (var ch = java.nio.channels.FileChannel.open(vectors, StandardOpenOption.WRITE)) {
            ch.truncate(64 + 2L * DIM * 4 + 5);
        }
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("holds 2 complete rows, the commit records 3"), e.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(java.util.Set.of("a", "b"), w.livePaths());
        }
    }

    @Test
    void damagedDeletionLineIsRepairedKeepingTheNewestRowPerPath() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            w.append(meta("a"), vector("a-new"), 0);
        }
        CacheFixtures.flipByte(dir.resolve("deletions-000001.jsonl"), 7);
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("deletions-000001.jsonl line 1"), e.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(2, w.liveCount());
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertArrayEquals(vector("a-new"), c.vector(c.row("a").orElseThrow()), 0f);
            assertArrayEquals(vector("b"), c.vector(c.row("b").orElseThrow()), 0f);
        }
    }

    @Test
    void anotherModelPreprocessingOrDtypeIsRefusedAndTheCacheLeftUntouched() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a");
        byte[] before = Files.readAllBytes(dir.resolve("header.json"));

        CacheIdentity otherModel = new CacheIdentity(CacheFixtures.SHA_B, "other", CacheFixtures.recipe(), DIM, null);
        CacheMismatchException e = assertThrows(CacheMismatchException.class, () -> CacheWriter.open(dir, otherModel));
        assertTrue(e.getMessage().contains(CacheFixtures.SHA_A) && e.getMessage().contains(CacheFixtures.SHA_B),
                e.getMessage());
        assertTrue(e.getMessage().contains("choose another --output directory"), e.getMessage());

        CacheIdentity otherCrop = new CacheIdentity(CacheFixtures.SHA_A, "test-model",
                new org.vitfit.preprocess.PreprocessRecipe("shortest_edge", 256, 0, 0, "bicubic", 224, 224, "round",
                        1.0 / 255, List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false), DIM, null);
        e = assertThrows(CacheMismatchException.class, () -> CacheWriter.open(dir, otherCrop));
        assertTrue(e.getMessage().contains("resizeShortestEdge 248 in the cache, 256 now"), e.getMessage());

        e = assertThrows(CacheMismatchException.class,
                () -> CacheWriter.open(dir, CacheFixtures.identity(VectorDtype.F16)));
        assertTrue(e.getMessage().contains("stored as f32 in the cache, f16 asked for now"), e.getMessage());

        assertArrayEquals(before, Files.readAllBytes(dir.resolve("header.json")));
    }

    @Test
    void foreignDirectoryAndSecondWriterAreRefused() throws IOException {
        Path foreign = tmp.resolve("photos");
        Files.createDirectories(foreign);
        Files.writeString(foreign.resolve("notes.txt"), "mine");
        IOException e = assertThrows(IOException.class,
                () -> CacheWriter.open(foreign, CacheFixtures.identity(null)));
        assertTrue(e.getMessage().contains("holds no vitfit cache (found 'notes.txt')"), e.getMessage());

        Path dir = tmp.resolve("cache");
        try (CacheWriter first = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            e = assertThrows(IOException.class, () -> CacheWriter.open(dir, CacheFixtures.identity(null)));
            assertTrue(e.getMessage().contains("being written by another vitfit process"), e.getMessage());
        }
        IOException missing = assertThrows(IOException.class, () -> EmbeddingCache.open(tmp.resolve("nothing")));
        assertTrue(missing.getMessage().contains("not a vitfit embedding cache"), missing.getMessage());
    }

    private static void append(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes, StandardOpenOption.APPEND);
    }
}
