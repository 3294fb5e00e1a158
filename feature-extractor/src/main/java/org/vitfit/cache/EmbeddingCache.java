package org.vitfit.cache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Read-only view of an embedding cache written by {@code vitfit extract}: the live rows with their labels and
 * splits, and their vectors straight from a memory-mapped file.
 *
 * <p>Opening checks everything the last commit vouches for (header checksum, every index line's checksum, every
 * live vector's checksum) and refuses a damaged cache with a {@link CorruptCacheException}; bytes a crashed writer
 * left past the last commit are ignored. A reader never writes, so it may run while {@code vitfit extract} appends;
 * it sees the cache as of the commit it opened.
 *
 * <p>Instances are safe for concurrent reads. The mapping is released by the garbage collector, not by
 * {@link #close()} (Java 17 has no explicit unmap); close only makes further reads fail fast.
 */
public final class EmbeddingCache implements AutoCloseable {

    /** Images that could not be embedded in the last run, one JSON object per line: {@code path}, {@code reason}. */
    public static final String ERRORS_FILE = CacheFiles.ERRORS;

    /** Keep each mapping under the 2 GiB limit of one {@link ByteBuffer}. */
    private static final long MAX_CHUNK_BYTES = 1L << 30;

    private final Path dir;
    private final CacheHeader header;
    private final VectorDtype dtype;
    private final int rowBytes;
    private final List<CacheRow> rows;
    private final Map<String, CacheRow> byPath;
    private final ByteBuffer[] chunks;
    private final int rowsPerChunk;
    private volatile boolean closed;

    private EmbeddingCache(Path dir, CacheHeader header, List<CacheRow> rows, ByteBuffer[] chunks, int rowsPerChunk) {
        this.dir = dir;
        this.header = header;
        this.dtype = header.vectorDtype();
        this.rowBytes = header.rowBytes();
        this.rows = Collections.unmodifiableList(rows);
        this.chunks = chunks;
        this.rowsPerChunk = rowsPerChunk;
        Map<String, CacheRow> m = new HashMap<>();
        rows.forEach(r -> m.put(r.path(), r));
        this.byPath = m;
    }

    /** Opens the cache in {@code dir} as of its last commit. */
    public static EmbeddingCache open(Path dir) throws IOException {
        CacheHeader h = committedHeader(dir);
        for (int attempt = 0; ; attempt++) {
            try {
                return open(dir, h);
            } catch (NoSuchFileException e) {
                // A writer may have compacted the cache (new epoch, old files deleted) since the header was read.
                CacheHeader now = committedHeader(dir);
                if (now.epoch() == h.epoch() || attempt >= 3) {
                    throw new CorruptCacheException(dir + ": " + e.getFile() + " is missing; the cache is "
                            + "incomplete: run 'vitfit extract' again with the same --model, --input and --output");
                }
                h = now;
            }
        }
    }

    /**
     * The commit record in force. A reader never writes, so a damaged {@code header.json} with an intact backup is
     * refused with the advice the writer acts on: re-running extract restores the header from its backup.
     */
    private static CacheHeader committedHeader(Path dir) throws IOException {
        CommitPoint p = CommitPoint.read(dir);
        if (p.fromBackup()) {
            throw new CorruptCacheException(dir + " is damaged: " + p.damage() + "; its backup "
                    + CacheFiles.HEADER_BACKUP + " is intact. " + REPAIR_ADVICE + " (the header is restored from the "
                    + "backup; no image is re-embedded).");
        }
        return p.header();
    }

    private static final String REPAIR_ADVICE = "Run 'vitfit extract' again with the same --model, --input and "
            + "--output to repair it";

    private static EmbeddingCache open(Path dir, CacheHeader h) throws IOException {
        Path vectorsFile = dir.resolve(CacheFiles.vectorsName(h.epoch()));
        try (FileChannel ch = FileChannel.open(vectorsFile, StandardOpenOption.READ)) {
            int rowBytes = h.rowBytes();
            long size = ch.size();
            long fileRows = size < CacheFiles.VECTORS_HEADER_BYTES ? 0
                    : (size - CacheFiles.VECTORS_HEADER_BYTES) / rowBytes;
            long mappedRows = Math.min(fileRows, h.rows());
            int rowsPerChunk = (int) Math.max(1, MAX_CHUNK_BYTES / rowBytes);
            int chunkCount = (int) ((mappedRows + rowsPerChunk - 1) / rowsPerChunk);
            ByteBuffer[] chunks = new ByteBuffer[chunkCount];
            for (int c = 0; c < chunkCount; c++) {
                long first = (long) c * rowsPerChunk;
                long n = Math.min(rowsPerChunk, mappedRows - first);
                chunks[c] = ch.map(FileChannel.MapMode.READ_ONLY,
                        CacheFiles.VECTORS_HEADER_BYTES + first * rowBytes, n * rowBytes);
            }
            ByteBuffer fileHeader = null;
            if (size >= CacheFiles.VECTORS_HEADER_BYTES) {
                fileHeader = ByteBuffer.allocate(CacheFiles.VECTORS_HEADER_BYTES);
                CacheFiles.readFully(ch, fileHeader, 0, vectorsFile);
                fileHeader.flip();
            }
            CommittedState state = CommittedState.load(dir, h, fileHeader, fileRows,
                    row -> slice(chunks, rowsPerChunk, rowBytes, row));
            if (!state.problems.isEmpty()) {
                throw damaged(dir, state.problems);
            }
            List<CacheRow> live = new ArrayList<>((int) h.count());
            for (int r = 0; r < state.entries.size(); r++) {
                if (state.isLive(r)) {
                    live.add(state.entries.get(r).row());
                }
            }
            return new EmbeddingCache(dir, h, live, chunks, rowsPerChunk);
        }
    }

    static CorruptCacheException damaged(Path dir, List<String> problems) {
        StringBuilder sb = new StringBuilder(dir + " is damaged: ");
        int shown = Math.min(5, problems.size());
        sb.append(String.join("; ", problems.subList(0, shown)));
        if (problems.size() > shown) {
            sb.append("; and ").append(problems.size() - shown).append(" more");
        }
        sb.append(". ").append(REPAIR_ADVICE).append(" (intact rows are kept, damaged ones dropped and re-embedded).");
        return new CorruptCacheException(sb.toString());
    }

    public Path directory() {
        return dir;
    }

    public CacheHeader header() {
        return header;
    }

    public int dimension() {
        return header.dimension();
    }

    /** Live rows (deleted and replaced ones excluded), in row order. */
    public List<CacheRow> rows() {
        return rows;
    }

    /** The live row for an image path, as it appears in {@link CacheRow#path()}. */
    public Optional<CacheRow> row(String path) {
        return Optional.ofNullable(byPath.get(path));
    }

    /** The vector of a row as float32 (f16 caches are widened). */
    public float[] vector(CacheRow row) {
        float[] v = new float[header.dimension()];
        vector(row, v, 0);
        return v;
    }

    /** Copies the vector of a row, as float32, into {@code dst[offset .. offset + dimension)}. */
    public void vector(CacheRow row, float[] dst, int offset) {
        ByteBuffer b = rowBuffer(row.row());
        int dim = header.dimension();
        if (dtype == VectorDtype.F32) {
            b.asFloatBuffer().get(dst, offset, dim);
        } else {
            for (int i = 0; i < dim; i++) {
                dst[offset + i] = Half.toFloat(b.getShort(2 * i));
            }
        }
    }

    /**
     * The stored vectors of every committed row (dead rows included, so {@link CacheRow#row()} indexes it): row
     * {@code r} starts at byte {@code r * dimension * bytesPerValue}, little-endian f32 or f16 as
     * {@link CacheHeader#dtype()} says. Read-only and zero-copy; a new buffer object per call.
     *
     * @throws UnsupportedOperationException when the vectors exceed one mapping (1 GiB); use {@link #vector} then
     */
    public ByteBuffer rawVectors() {
        ensureOpen();
        if (chunks.length == 0) {
            return ByteBuffer.allocate(0).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        if (chunks.length > 1) {
            throw new UnsupportedOperationException(dir + ": " + header.rows() + " vectors of " + rowBytes
                    + " bytes do not fit one mapped buffer; read them with vector(row)");
        }
        return chunks[0].asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    private ByteBuffer rowBuffer(long row) {
        ensureOpen();
        if (row < 0 || row >= header.rows()) {
            throw new IndexOutOfBoundsException("row " + row + " is not in " + dir + " (" + header.rows()
                    + " committed rows)");
        }
        return slice(chunks, rowsPerChunk, rowBytes, row);
    }

    private static ByteBuffer slice(ByteBuffer[] chunks, int rowsPerChunk, int rowBytes, long row) {
        ByteBuffer chunk = chunks[(int) (row / rowsPerChunk)];
        return chunk.slice((int) (row % rowsPerChunk) * rowBytes, rowBytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("embedding cache " + dir + " is closed");
        }
    }

    @Override
    public void close() {
        closed = true;
    }
}
