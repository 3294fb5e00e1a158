package org.vitfit.cache;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.runtime.Finite;

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
    void damagedHeaderIsRestoredFromItsBackupWithoutLosingARow() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        Path header = dir.resolve("header.json");
        String json = Files.readString(header);
        assertEquals(json, Files.readString(dir.resolve("header.backup.json")), "every commit writes both copies");
        Files.writeString(header, json.replace("\"count\" : 2", "\"count\" : 3"));

        // The reader never writes: it refuses, and says what the writer will do.
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertEquals(dir + " is damaged: header.json fails its checksum (damaged or edited); its backup "
                + "header.backup.json is intact. Run 'vitfit extract' again with the same --model, --input and "
                + "--output to repair it (the header is restored from the backup; no image is re-embedded).",
                e.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(List.of("header.json fails its checksum (damaged or edited): restored it from "
                    + "header.backup.json (commit 1); no vector was lost"), w.recoveryNotes());
            assertEquals(2, w.liveCount());
        }
        assertEquals(json, Files.readString(header));
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertArrayEquals(vector("b"), c.vector(c.row("b").orElseThrow()), 0f);
        }

        // Truncated to nothing, or missing: the same.
        Files.write(header, new byte[0]);
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(2, w.liveCount());
            assertTrue(w.recoveryNotes().get(0).startsWith("header.json is empty: restored"), w.recoveryNotes().toString());
        }
        Files.delete(header);
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(List.of("header.json is missing: restored it from header.backup.json (commit 1); no vector "
                    + "was lost"), w.recoveryNotes());
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(2, c.rows().size());
        }
    }

    @Test
    void aForgedDimensionGetsTheSameAdviceFromReaderAndWriter() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        // Edited with a recomputed checksum: only the vectors file's own header shows the lie.
        forge(dir.resolve("header.json"), "dimension", 999);
        String expected = "header.json disagrees with vectors-000001.bin (dimension 999 in the header, 12 in the "
                + "vectors file), so it was edited or damaged";
        CorruptCacheException read = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(read.getMessage().contains(expected) && read.getMessage().contains("Run 'vitfit extract' again"),
                read.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertTrue(w.recoveryNotes().get(0).startsWith(expected), w.recoveryNotes().toString());
            assertEquals(2, w.liveCount());
        }

        // Both copies forged: nothing trustworthy is left, and reader and writer say so in the same words.
        forge(dir.resolve("header.json"), "dimension", 999);
        forge(dir.resolve("header.backup.json"), "dimension", 999);
        CorruptCacheException r = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        CorruptCacheException w = assertThrows(CorruptCacheException.class,
                () -> CacheWriter.open(dir, CacheFixtures.identity(null)));
        assertEquals(r.getMessage(), w.getMessage());
        assertEquals(dir + " cannot be read: " + expected + ", and " + expected.replace("header.json",
                "header.backup.json") + ". The commit record says which rows are valid, so no row can be trusted "
                + "without it: delete " + dir + " and run 'vitfit extract' again.", r.getMessage());
    }

    /** Sets a header field and recomputes the checksum, as someone editing the cache by hand would. */
    private static void forge(Path header, String field, int value) throws IOException {
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) CacheFiles.JSON.readTree(header.toFile());
        node.put(field, value);
        Files.write(header, CacheFiles.PRETTY_JSON.writeValueAsBytes(CacheFiles.seal(node)));
    }

    @Test
    void damagedVectorsFileHeaderKeepsEveryIntactRow() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "a", "b");
        CacheFixtures.flipByte(dir.resolve("vectors-000001.bin"), 17);
        CorruptCacheException e = assertThrows(CorruptCacheException.class, () -> EmbeddingCache.open(dir));
        assertTrue(e.getMessage().contains("vectors-000001.bin: file header checksum mismatch"), e.getMessage());
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(2, w.liveCount(), "each row proves itself by its own checksum");
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertArrayEquals(vector("a"), c.vector(c.row("a").orElseThrow()), 0f);
            assertEquals(2, c.header().epoch(), "repaired into a new epoch with a fresh file header");
        }
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
        Files.writeString(foreign.resolve("vectors-000001.bin"), "also mine");
        OutputRefusedException e = assertThrows(OutputRefusedException.class,
                () -> CacheWriter.open(foreign, CacheFixtures.identity(null)));
        assertTrue(e.getMessage().contains("was not written by vitfit") && e.getMessage().contains("notes.txt"),
                e.getMessage());
        try (var s = Files.list(foreign)) {
            assertEquals(List.of("notes.txt", "vectors-000001.bin"),
                    s.map(p -> p.getFileName().toString()).sorted().toList(), "nothing created, nothing deleted");
        }
        assertEquals("also mine", Files.readString(foreign.resolve("vectors-000001.bin")));

        Path dir = tmp.resolve("cache");
        try (CacheWriter first = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            IOException busy = assertThrows(IOException.class, () -> CacheWriter.open(dir, CacheFixtures.identity(null)));
            assertTrue(busy.getMessage().contains("being written by another vitfit process"), busy.getMessage());
        }
        IOException missing = assertThrows(IOException.class, () -> EmbeddingCache.open(tmp.resolve("nothing")));
        assertTrue(missing.getMessage().contains("not a vitfit embedding cache"), missing.getMessage());
    }

    @Test
    void aNonFiniteVectorIsNeverStored() throws IOException {
        Path dir = tmp.resolve("cache");
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(VectorDtype.F16))) {
            float[] v = vector("a");
            v[3] = Float.NaN;
            Finite.NonFiniteException e = assertThrows(Finite.NonFiniteException.class, () -> w.append(meta("a"), v, 0));
            assertTrue(e.getMessage().contains("refusing to store the vector of a: value NaN at index 3"), e.getMessage());
            v[3] = 70000f;
            e = assertThrows(Finite.NonFiniteException.class, () -> w.append(meta("a"), v, 0));
            assertTrue(e.getMessage().contains("beyond the f16 range (largest 65504)"), e.getMessage());
            v[3] = 65504f;
            w.append(meta("a"), v, 0);
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(1, c.rows().size());
            assertEquals(65504f, c.vector(c.rows().get(0))[3], 0f);
        }
    }

    /** Linux's /dev/full fails every write with ENOSPC: the disk-full error must name the file. */
    @Test
    void aFullDiskErrorNamesTheFile() throws IOException {
        Path full = Path.of("/dev/full");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isWritable(full), "needs Linux's /dev/full");
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32);
        Path index = dir.resolve("index-000001.jsonl");
        Files.delete(index);
        Files.createSymbolicLink(index, full);
        try (CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            IOException e = assertThrows(IOException.class, () -> w.append(meta("a"), vector("a"), 0));
            assertTrue(e.getMessage().startsWith("writing " + index + ": No space left on device (free some space "
                    + "on that disk, or write somewhere else)"), e.getMessage());
            IllegalStateException after = assertThrows(IllegalStateException.class, w::commit);
            assertTrue(after.getMessage().contains("nothing more is committed"), after.getMessage());
        }
    }

    private static void append(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes, StandardOpenOption.APPEND);
    }
}
