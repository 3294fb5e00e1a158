package org.vitfit.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.io.Durable;
import org.vitfit.io.OutputKind;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

/**
 * The only way rows get into a cache. Appends vectors and index lines, records deletions, and makes them durable
 * together with {@link #commit()}: data files are fsynced first, then {@code header.json} (which records how many
 * bytes of each data file are committed) is replaced atomically. Whatever a crash leaves past the committed lengths
 * is cut off by the next {@link #open}; damaged committed data is dropped (and so re-embedded by the next run).
 *
 * <p>One writer per cache directory at a time (an OS file lock on {@code write.lock}, released even by kill -9).
 * Not thread-safe: the extractor calls it from its writer thread only.
 */
public final class CacheWriter implements AutoCloseable {

    private final Path dir;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final VectorDtype dtype;
    private final int dimension;
    private final int rowBytes;
    private final ByteBuffer rowBuffer;
    private final List<String> recoveryNotes = new ArrayList<>();

    private CacheHeader committed;
    private int epoch;
    private FileChannel vectors;
    private FileChannel index;
    private FileChannel deletions;
    private List<CommittedState.Entry> entries;
    private BitSet dead;
    private long deletedRows;
    private long live;
    private long indexBytes;
    private long deletionsBytes;
    private Map<String, Integer> liveByPath;
    private Map<String, Integer> liveBySha;
    private boolean dirty;
    /** Set after a failed write: the files may hold a partial record, so nothing more may be committed. */
    private boolean broken;
    private boolean closed;

    private CacheWriter(Path dir, FileChannel lockChannel, FileLock lock, CacheHeader header) {
        this.dir = dir;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.committed = header;
        this.epoch = header.epoch();
        this.dtype = header.vectorDtype();
        this.dimension = header.dimension();
        this.rowBytes = header.rowBytes();
        this.rowBuffer = ByteBuffer.allocate(rowBytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Opens the cache in {@code dir} for writing, creating it when the directory is missing or empty.
     *
     * @throws CacheMismatchException when the cache was made with another model, preprocessing, width or dtype
     * @throws OutputRefusedException when {@code dir} holds something that is not an embedding cache
     */
    public static CacheWriter open(Path dir, CacheIdentity identity) throws IOException {
        return open(dir, identity, List.of());
    }

    /**
     * {@link #open(Path, CacheIdentity)}, also refusing a directory that is, contains or lies inside one of the
     * {@code inputs} of the command. Every refusal happens before anything in the directory changes.
     */
    public static CacheWriter open(Path dir, CacheIdentity identity, List<SafeOutput.Input> inputs)
            throws IOException {
        Path d = dir.toAbsolutePath().normalize();
        check(d, identity, inputs);
        // Only now, in a directory proven to be (or to become) a cache, does anything get written.
        SafeOutput.openInPlace(d, OutputKind.CACHE, CacheFiles::looksLikeCache, inputs);
        FileChannel lockChannel = FileChannel.open(d.resolve(CacheFiles.LOCK), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = lockChannel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) {
            lockChannel.close();
            throw new IOException(d + " is being written by another vitfit process; wait for it to finish");
        }
        try {
            deleteLeftovers(d);
            List<String> notes = new ArrayList<>();
            CacheHeader header;
            if (CommitPoint.exists(d)) {
                CommitPoint p = CommitPoint.read(d);
                header = checkIdentity(d, p.header(), identity);
                restoreCopies(d, p, notes);
            } else {
                header = create(d, identity);
            }
            CacheWriter w = new CacheWriter(d, lockChannel, lock, header);
            w.recoveryNotes.addAll(notes);
            w.load();
            return w;
        } catch (IOException | RuntimeException e) {
            lock.release();
            lockChannel.close();
            throw e;
        }
    }

    /**
     * Everything {@link #open} refuses, checked without writing: a directory that is not a cache, one overlapping
     * the inputs, a damaged commit record that cannot be restored, a cache of another model or preprocessing.
     */
    public static void check(Path dir, CacheIdentity identity, List<SafeOutput.Input> inputs) throws IOException {
        Path d = dir.toAbsolutePath().normalize();
        SafeOutput.checkInPlace(d, OutputKind.CACHE, CacheFiles::looksLikeCache, inputs);
        if (Files.isDirectory(d) && CommitPoint.exists(d)) {
            checkIdentity(d, CommitPoint.read(d).header(), identity);
        }
    }

    /** Temporary files of an interrupted commit or run; the caller has proven {@code dir} is a cache. */
    private static void deleteLeftovers(Path dir) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                if (CacheFiles.isLeftover(p.getFileName().toString())
                        && Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.delete(p);
                }
            }
        }
    }

    /** Makes both copies of the commit record hold the one in force (after a damaged copy or a crash between). */
    private static void restoreCopies(Path dir, CommitPoint p, List<String> notes) throws IOException {
        if (p.fromBackup()) {
            notes.add(p.damage() + ": restored it from " + CacheFiles.HEADER_BACKUP + " (commit "
                    + p.header().generation() + "); no vector was lost");
        }
        for (String name : List.of(CacheFiles.HEADER, CacheFiles.HEADER_BACKUP)) {
            Path file = dir.resolve(name);
            if (!Files.isRegularFile(file) || !java.util.Arrays.equals(Files.readAllBytes(file), p.bytes())) {
                Durable.writeAtomically(file, p.bytes());
            }
        }
    }

    private static CacheHeader checkIdentity(Path dir, CacheHeader h, CacheIdentity id) throws IOException {
        List<String> diffs = new ArrayList<>();
        if (!h.modelSha256().equals(id.modelSha256())) {
            diffs.add("model.onnx sha256 " + h.modelSha256() + " (" + h.modelSource() + ") in the cache, "
                    + id.modelSha256() + " (" + id.modelSource() + ") now");
        }
        if (!Objects.equals(h.preprocessing(), id.preprocessing())) {
            diffs.add("preprocessing differs: " + recipeDiff(h, id));
        }
        if (h.dimension() != id.dimension()) {
            diffs.add("embedding dimension " + h.dimension() + " in the cache, " + id.dimension() + " now");
        }
        if (id.dtype() != null && id.dtype() != h.vectorDtype()) {
            diffs.add("vectors stored as " + h.dtype() + " in the cache, " + id.dtype() + " asked for now");
        }
        if (!diffs.isEmpty()) {
            throw new CacheMismatchException(dir + " was made with different settings and is left untouched: "
                    + String.join("; ", diffs) + ". Embeddings from different models or preprocessing must not be "
                    + "mixed: choose another --output directory, or delete " + dir + " to re-extract.");
        }
        return h;
    }

    private static String recipeDiff(CacheHeader h, CacheIdentity id) {
        JsonNode was = CacheFiles.JSON.valueToTree(h.preprocessing());
        JsonNode now = CacheFiles.JSON.valueToTree(id.preprocessing());
        List<String> fields = new ArrayList<>();
        Iterator<String> names = was.fieldNames();
        while (names.hasNext()) {
            String f = names.next();
            if (!Objects.equals(was.get(f), now.get(f))) {
                fields.add(f + " " + was.get(f) + " in the cache, " + now.get(f) + " now");
            }
        }
        now.fieldNames().forEachRemaining(f -> {
            if (!was.has(f)) {
                fields.add(f + " absent in the cache, " + now.get(f) + " now");
            }
        });
        return String.join(", ", fields);
    }

    /**
     * Starts an empty cache: epoch 1 data files first, then the header that makes them a cache. The directory is
     * proven to be ours ({@link SafeOutput#openInPlace}); data files of a cache whose first commit never happened
     * are removed (nothing in them was ever promised), anything else is left alone.
     */
    private static CacheHeader create(Path dir, CacheIdentity id) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                if (CacheFiles.epochOf(p.getFileName().toString()) > 0) {
                    Files.delete(p);
                }
            }
        }
        VectorDtype dtype = id.dtype() == null ? VectorDtype.F32 : id.dtype();
        String cacheId = HexFormat.of().formatHex(uuidBytes());
        int epoch = 1;
        writeEmptyEpoch(dir, epoch, dtype, id.dimension(), cacheId);
        CacheHeader h = new CacheHeader(CacheHeader.FORMAT, CacheHeader.FORMAT_VERSION, cacheId, id.modelSha256(),
                id.modelSource(), id.preprocessing(), id.dimension(), dtype.label(), 0, 0, 0, epoch, 0, 0, 0,
                VitfitVersion.get(), Instant.now().toString());
        writeHeader(dir, h);
        return h;
    }

    private static byte[] uuidBytes() {
        UUID u = UUID.randomUUID();
        return ByteBuffer.allocate(16).putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits()).array();
    }

    private static void writeEmptyEpoch(Path dir, int epoch, VectorDtype dtype, int dimension, String cacheId)
            throws IOException {
        try (FileChannel v = create(dir.resolve(CacheFiles.vectorsName(epoch)));
             FileChannel i = create(dir.resolve(CacheFiles.indexName(epoch)));
             FileChannel d = create(dir.resolve(CacheFiles.deletionsName(epoch)))) {
            CacheFiles.writeFully(v, CacheFiles.vectorsHeader(dtype, dimension, cacheId, epoch), 0);
            v.force(true);
            i.force(true);
            d.force(true);
        }
        Durable.fsyncDirectory(dir);
    }

    private static FileChannel create(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ,
                StandardOpenOption.TRUNCATE_EXISTING);
    }

    /**
     * Commits {@code h}: {@code header.json}, then its backup copy, each replaced atomically. A crash between the two
     * leaves two valid records; the next writer keeps {@code header.json} and rewrites the copy.
     */
    private static void writeHeader(Path dir, CacheHeader h) throws IOException {
        ObjectNode node = CacheFiles.JSON.valueToTree(h);
        byte[] json = CacheFiles.PRETTY_JSON.writeValueAsBytes(CacheFiles.seal(node));
        Durable.writeAtomically(dir.resolve(CacheFiles.HEADER), json);
        Durable.writeAtomically(dir.resolve(CacheFiles.HEADER_BACKUP), json);
    }

    /** Cuts off uncommitted tails, checks the committed data and repairs what is damaged. */
    private void load() throws IOException {
        deleteOtherEpochs();
        vectors = openData(CacheFiles.vectorsName(epoch));
        index = openData(CacheFiles.indexName(epoch));
        deletions = openData(CacheFiles.deletionsName(epoch));
        long vectorsEnd = CacheFiles.VECTORS_HEADER_BYTES + committed.rows() * rowBytes;
        long vectorsTail = truncateTail(vectors, vectorsEnd);
        long indexTail = truncateTail(index, committed.indexBytes());
        long deletionsTail = truncateTail(deletions, committed.deletionsBytes());
        if (vectorsTail + indexTail + deletionsTail > 0) {
            recoveryNotes.add("discarded what an interrupted run wrote after its last commit ("
                    + (vectorsTail + rowBytes - 1) / rowBytes + " uncommitted vectors, " + indexTail + " index bytes, "
                    + deletionsTail + " deletion bytes)");
        }
        long size = vectors.size();
        ByteBuffer fileHeader = null;
        if (size >= CacheFiles.VECTORS_HEADER_BYTES) {
            fileHeader = ByteBuffer.allocate(CacheFiles.VECTORS_HEADER_BYTES);
            CacheFiles.readFully(vectors, fileHeader, 0, dir.resolve(CacheFiles.vectorsName(epoch)));
            fileHeader.flip();
        }
        long fileRows = size < CacheFiles.VECTORS_HEADER_BYTES ? 0
                : (size - CacheFiles.VECTORS_HEADER_BYTES) / rowBytes;
        CommittedState state = CommittedState.load(dir, committed, fileHeader, fileRows, this::readRow);

        entries = new ArrayList<>(state.entries);
        dead = (BitSet) state.dead.clone();
        dead.or(state.damaged);
        deletedRows = committed.deletedRows();
        indexBytes = committed.indexBytes();
        deletionsBytes = committed.deletionsBytes();
        rebuildLiveMaps();
        if (!state.problems.isEmpty()) {
            int shown = Math.min(5, state.problems.size());
            recoveryNotes.add("repaired damaged cache files, dropping " + state.damaged.cardinality()
                    + " rows to be re-embedded: " + String.join("; ", state.problems.subList(0, shown))
                    + (state.problems.size() > shown ? "; and " + (state.problems.size() - shown) + " more" : ""));
            compact();
        }
    }

    private void deleteOtherEpochs() throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path p : files) {
                int e = CacheFiles.epochOf(p.getFileName().toString());
                if (e > 0 && e != epoch) {
                    Files.delete(p);
                }
            }
        }
    }

    private FileChannel openData(String name) throws IOException {
        return FileChannel.open(dir.resolve(name), StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
    }

    private static long truncateTail(FileChannel ch, long committedLength) throws IOException {
        long extra = ch.size() - committedLength;
        if (extra > 0) {
            ch.truncate(committedLength);
            ch.force(true);
            return extra;
        }
        return 0;
    }

    private ByteBuffer readRow(long row) throws IOException {
        rowBuffer.clear();
        CacheFiles.readFully(vectors, rowBuffer, CacheFiles.VECTORS_HEADER_BYTES + row * rowBytes,
                dir.resolve(CacheFiles.vectorsName(epoch)));
        rowBuffer.flip();
        return rowBuffer;
    }

    private void rebuildLiveMaps() {
        liveByPath = new HashMap<>();
        liveBySha = new HashMap<>();
        live = 0;
        for (int r = 0; r < entries.size(); r++) {
            if (!dead.get(r)) {
                CacheRow row = entries.get(r).row();
                liveByPath.put(row.path(), r);
                liveBySha.put(row.sha256(), r);
                live++;
            }
        }
    }

    public Path directory() {
        return dir;
    }

    /** The state as of the last commit. */
    public CacheHeader header() {
        return committed;
    }

    public VectorDtype dtype() {
        return dtype;
    }

    public int dimension() {
        return dimension;
    }

    /** What {@link #open} found and fixed: an interrupted run's tail, damaged rows. Empty for a clean cache. */
    public List<String> recoveryNotes() {
        return List.copyOf(recoveryNotes);
    }

    /** Paths of the live rows, including rows appended since the last commit. */
    public Set<String> livePaths() {
        return Collections.unmodifiableSet(liveByPath.keySet());
    }

    /** A copy of the live rows by path, for threads that must not touch the writer. */
    public Map<String, CacheRow> liveRowsByPath() {
        Map<String, CacheRow> copy = new HashMap<>(liveByPath.size() * 2);
        liveByPath.forEach((path, r) -> copy.put(path, entries.get(r).row()));
        return copy;
    }

    public Optional<CacheRow> liveRow(String path) {
        Integer r = liveByPath.get(path);
        return r == null ? Optional.empty() : Optional.of(entries.get(r).row());
    }

    /** A live row whose image had exactly these bytes, under any path. */
    public Optional<CacheRow> liveRowWithContent(String sha256) {
        Integer r = liveBySha.get(sha256);
        return r == null || dead.get(r) ? Optional.empty() : Optional.of(entries.get(r).row());
    }

    /** Live rows, committed or not. */
    public long liveCount() {
        return live;
    }

    /**
     * Appends a row for {@code meta.path()} with the vector {@code vector[offset .. offset + dimension)}; a live row
     * for the same path is marked replaced.
     */
    public CacheRow append(RowMeta meta, float[] vector, int offset) throws IOException {
        ensureWritable();
        int bad = dtype.firstUnstorable(vector, offset, offset + dimension);
        if (bad >= 0) {
            // Callers check first (the extractor records such images as failed rows); this is the last line.
            throw new Finite.NonFiniteException(dir + ": refusing to store the vector of " + meta.path() + ": value "
                    + vector[bad] + " at index " + (bad - offset) + dtype.unstorableReason(vector[bad])
                    + "; nothing was written");
        }
        rowBuffer.clear();
        if (dtype == VectorDtype.F32) {
            for (int i = 0; i < dimension; i++) {
                rowBuffer.putFloat(vector[offset + i]);
            }
        } else {
            for (int i = 0; i < dimension; i++) {
                rowBuffer.putShort(Half.fromFloat(vector[offset + i]));
            }
        }
        rowBuffer.flip();
        return appendRow(meta, rowBuffer);
    }

    /**
     * Appends a row for {@code meta} whose vector is a byte-for-byte copy of {@code source}'s: for an image that
     * moved, was relabelled, or duplicates one already embedded.
     */
    public CacheRow appendCopy(CacheRow source, RowMeta meta) throws IOException {
        ensureWritable();
        int src = (int) source.row();
        if (src < 0 || src >= entries.size() || entries.get(src) == null) {
            throw new IllegalArgumentException("row " + source.row() + " is not in " + dir);
        }
        ByteBuffer bytes = readRow(src);
        if (CacheFiles.crc32c(bytes.duplicate()) != entries.get(src).vectorCrc()) {
            throw new CorruptCacheException(dir + ": row " + src + " (" + source.path() + ") changed on disk while "
                    + "the cache was open (vector checksum mismatch)");
        }
        return appendRow(meta, bytes);
    }

    private CacheRow appendRow(RowMeta meta, ByteBuffer bytes) throws IOException {
        int r = entries.size();
        int crc = CacheFiles.crc32c(bytes.duplicate());
        CacheRow row = meta.atRow(r);
        byte[] line = CacheFiles.sealedLine(CommittedState.indexLine(row, crc));
        try {
            CacheFiles.writeFully(vectors, bytes, CacheFiles.VECTORS_HEADER_BYTES + (long) r * rowBytes);
        } catch (IOException e) {
            throw failed(e, CacheFiles.vectorsName(epoch));
        }
        try {
            CacheFiles.writeFully(index, ByteBuffer.wrap(line), indexBytes);
        } catch (IOException e) {
            throw failed(e, CacheFiles.indexName(epoch));
        }
        indexBytes += line.length;
        Integer previous = liveByPath.get(meta.path());
        if (previous != null) {
            kill(previous, "replaced");
        }
        entries.add(new CommittedState.Entry(row, crc));
        liveByPath.put(row.path(), r);
        liveBySha.put(row.sha256(), r);
        live++;
        dirty = true;
        return row;
    }

    /**
     * Marks the live row for {@code path} dead; false when there is none.
     *
     * @param reason recorded in the deletions file: {@code deleted} (gone from the input), {@code failed} (can no
     *               longer be decoded), ...
     */
    public boolean delete(String path, String reason) throws IOException {
        ensureWritable();
        Integer r = liveByPath.get(path);
        if (r == null) {
            return false;
        }
        kill(r, reason);
        return true;
    }

    private void kill(int row, String reason) throws IOException {
        byte[] line = CacheFiles.sealedLine(CommittedState.deletionLine(row, reason));
        try {
            CacheFiles.writeFully(deletions, ByteBuffer.wrap(line), deletionsBytes);
        } catch (IOException e) {
            throw failed(e, CacheFiles.deletionsName(epoch));
        }
        deletionsBytes += line.length;
        deletedRows++;
        dead.set(row);
        live--;
        liveByPath.remove(entries.get(row).row().path(), row);
        dirty = true;
    }

    /** Makes everything appended or deleted so far durable, all or nothing. */
    public void commit() throws IOException {
        ensureWritable();
        if (!dirty) {
            return;
        }
        force(vectors, CacheFiles.vectorsName(epoch));
        force(index, CacheFiles.indexName(epoch));
        force(deletions, CacheFiles.deletionsName(epoch));
        CacheHeader next = new CacheHeader(CacheHeader.FORMAT, CacheHeader.FORMAT_VERSION, committed.cacheId(),
                committed.modelSha256(), committed.modelSource(), committed.preprocessing(), dimension, dtype.label(),
                live, entries.size(), deletedRows, epoch, committed.generation() + 1, indexBytes, deletionsBytes,
                VitfitVersion.get(), Instant.now().toString());
        try {
            writeHeader(dir, next);
        } catch (IOException e) {
            broken = true;
            throw e;
        }
        committed = next;
        dirty = false;
    }

    private void force(FileChannel ch, String name) throws IOException {
        try {
            ch.force(false);
        } catch (IOException e) {
            throw failed(e, name);
        }
    }

    /**
     * A failed write may have left part of a record behind, so nothing more may be committed; the error names the
     * file ("No space left on device" alone does not say where).
     */
    private IOException failed(IOException e, String fileName) {
        broken = true;
        return Durable.withPath(e, dir.resolve(fileName));
    }

    /** Dead rows outnumber live ones: rewriting is cheaper than carrying them on. */
    public boolean wantsCompaction() {
        return entries.size() - live > live;
    }

    /**
     * Rewrites the live rows, in row order, into a new epoch of data files and commits it; rows are renumbered.
     * A crash before the new header lands leaves the old epoch in force; the new files are then deleted on open.
     */
    public void compact() throws IOException {
        ensureWritable();
        try {
            compactInto(epoch + 1);
        } catch (IOException e) {
            // Until the new header is written the old epoch stays in force; the next writer deletes the other
            // epoch's files.
            throw Durable.withPath(e, dir.resolve(CacheFiles.vectorsName(epoch + 1)));
        }
    }

    private void compactInto(int next) throws IOException {
        writeEmptyEpoch(dir, next, dtype, dimension, committed.cacheId());
        List<CommittedState.Entry> kept = new ArrayList<>((int) live);
        long newIndexBytes = 0;
        try (FileChannel v = openData(CacheFiles.vectorsName(next));
             FileChannel i = openData(CacheFiles.indexName(next))) {
            for (int r = 0; r < entries.size(); r++) {
                if (dead.get(r)) {
                    continue;
                }
                CommittedState.Entry e = entries.get(r);
                ByteBuffer bytes = readRow(r);
                int newRow = kept.size();
                CacheRow row = new CacheRow(newRow, e.row().path(), e.row().sha256(), e.row().size(),
                        e.row().labels(), e.row().split());
                byte[] line = CacheFiles.sealedLine(CommittedState.indexLine(row, e.vectorCrc()));
                CacheFiles.writeFully(v, bytes, CacheFiles.VECTORS_HEADER_BYTES + (long) newRow * rowBytes);
                CacheFiles.writeFully(i, ByteBuffer.wrap(line), newIndexBytes);
                newIndexBytes += line.length;
                kept.add(new CommittedState.Entry(row, e.vectorCrc()));
            }
            v.force(true);
            i.force(true);
        }
        CacheHeader h = new CacheHeader(CacheHeader.FORMAT, CacheHeader.FORMAT_VERSION, committed.cacheId(),
                committed.modelSha256(), committed.modelSource(), committed.preprocessing(), dimension, dtype.label(),
                kept.size(), kept.size(), 0, next, committed.generation() + 1, newIndexBytes, 0,
                VitfitVersion.get(), Instant.now().toString());
        writeHeader(dir, h);
        closeData();
        int old = epoch;
        epoch = next;
        committed = h;
        Files.deleteIfExists(dir.resolve(CacheFiles.vectorsName(old)));
        Files.deleteIfExists(dir.resolve(CacheFiles.indexName(old)));
        Files.deleteIfExists(dir.resolve(CacheFiles.deletionsName(old)));
        vectors = openData(CacheFiles.vectorsName(epoch));
        index = openData(CacheFiles.indexName(epoch));
        deletions = openData(CacheFiles.deletionsName(epoch));
        entries = kept;
        dead = new BitSet();
        deletedRows = 0;
        indexBytes = newIndexBytes;
        deletionsBytes = 0;
        rebuildLiveMaps();
        dirty = false;
    }

    private void ensureWritable() {
        if (closed) {
            throw new IllegalStateException("cache writer for " + dir + " is closed");
        }
        if (broken) {
            throw new IllegalStateException("an earlier write to " + dir + " failed; nothing more is committed. "
                    + "Fix the cause (disk full?) and run again: the cache resumes from its last commit");
        }
    }

    private void closeData() throws IOException {
        for (FileChannel ch : new FileChannel[] {vectors, index, deletions}) {
            if (ch != null) {
                ch.close();
            }
        }
    }

    /**
     * Closes without committing: everything appended or deleted since the last commit is cut off, so the cache is
     * exactly as its last commit left it. For all-or-nothing jobs (an import that meets a bad row half way).
     */
    public void rollback() throws IOException {
        if (closed) {
            return;
        }
        try {
            truncateTail(vectors, CacheFiles.VECTORS_HEADER_BYTES + committed.rows() * rowBytes);
            truncateTail(index, committed.indexBytes());
            truncateTail(deletions, committed.deletionsBytes());
        } finally {
            release();
        }
    }

    /** Commits (unless a write failed), compacts when mostly dead, releases the lock. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        try {
            if (!broken) {
                commit();
                if (wantsCompaction()) {
                    compact();
                }
            }
        } finally {
            release();
        }
    }

    private void release() throws IOException {
        closed = true;
        try {
            closeData();
        } finally {
            lock.release();
            lockChannel.close();
        }
    }
}
