package org.vitfit.cache;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vitfit.cache.CacheFixtures.meta;
import static org.vitfit.cache.CacheFixtures.vector;

/** {@link CacheWriter#rollback}: what an all-or-nothing job (vitfit parquet import) relies on. */
class CacheWriterRollbackTest {

    @TempDir
    Path tmp;

    @Test
    void rollbackLeavesTheCacheExactlyAsItsLastCommitWithNothingForTheNextWriterToRepair() throws IOException {
        Path dir = tmp.resolve("cache");
        CacheFixtures.write(dir, VectorDtype.F32, "cat1", "cat2");
        byte[] header = Files.readAllBytes(dir.resolve(CacheFiles.HEADER));
        long vectorsBytes = Files.size(CacheFixtures.onlyFile(dir, "vectors-"));
        long indexBytes = Files.size(CacheFixtures.onlyFile(dir, "index-"));

        CacheWriter w = CacheWriter.open(dir, CacheFixtures.identity(null));
        w.append(meta("dog1", "label-d"), vector("dog1"), 0);
        w.append(meta("cat1", "relabelled"), vector("cat1"), 0);   // replaces cat1: a deletion line too
        w.delete("cat2", "deleted");
        w.rollback();
        w.close();                                                  // after a rollback, close commits nothing

        assertArrayEquals(header, Files.readAllBytes(dir.resolve(CacheFiles.HEADER)));
        assertEquals(vectorsBytes, Files.size(CacheFixtures.onlyFile(dir, "vectors-")));
        assertEquals(indexBytes, Files.size(CacheFixtures.onlyFile(dir, "index-")));
        assertEquals(0, Files.size(CacheFixtures.onlyFile(dir, "deletions-")));
        try (CacheWriter again = CacheWriter.open(dir, CacheFixtures.identity(null))) {
            assertEquals(List.of(), again.recoveryNotes(), "no torn tail left for the next writer");
            assertEquals(2, again.liveCount());
            assertEquals(List.of("label-c"), again.liveRow("cat1").orElseThrow().labels());
        }
        try (EmbeddingCache c = EmbeddingCache.open(dir)) {
            assertEquals(List.of("cat1", "cat2"), c.rows().stream().map(CacheRow::path).toList());
            assertArrayEquals(vector("cat2"), c.vector(c.row("cat2").orElseThrow()), 0f);
        }
    }
}
