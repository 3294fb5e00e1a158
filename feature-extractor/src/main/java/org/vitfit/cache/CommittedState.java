package org.vitfit.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Everything the last commit of a cache directory vouches for, checked line by line and vector by vector.
 * The reader refuses a cache with any problem; the writer repairs it by dropping what is damaged.
 */
final class CommittedState {

    /** A row of the index together with the checksum of its vector bytes. */
    record Entry(CacheRow row, int vectorCrc) {
    }

    /** Gives the stored bytes of one row (little-endian f32 or f16), or null when the file is too short. */
    interface VectorBytes {
        ByteBuffer row(long row) throws IOException;
    }

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern CRC = Pattern.compile("[0-9a-f]{8}");

    final CacheHeader header;
    /** One slot per committed row; null where the index line is missing or damaged. */
    final List<Entry> entries;
    final BitSet dead = new BitSet();
    final BitSet damaged = new BitSet();
    final List<String> problems = new ArrayList<>();
    /** Deletion lines that could not be read: some dead rows may look alive, so duplicates must be resolved. */
    boolean deletionsDamaged;

    private CommittedState(CacheHeader header) {
        this.header = header;
        this.entries = new ArrayList<>((int) Math.min(header.rows(), 1 << 20));
    }

    /**
     * Checks the committed prefix of the index and deletions files and, for live rows, the vector checksums.
     *
     * @param vectorsFileHeader the first 64 bytes of the vectors file, or null when it is shorter than that
     * @param vectorRows        how many complete rows the vectors file holds
     */
    static CommittedState load(Path dir, CacheHeader header, ByteBuffer vectorsFileHeader, long vectorRows,
                               VectorBytes vectors) throws IOException {
        CommittedState s = new CommittedState(header);
        s.readIndex(dir.resolve(CacheFiles.indexName(header.epoch())));
        s.readDeletions(dir.resolve(CacheFiles.deletionsName(header.epoch())));
        s.checkVectors(vectorsFileHeader, vectorRows, vectors);
        s.checkUniquePaths();
        if (s.problems.isEmpty() && s.liveCount() != header.count()) {
            s.problems.add(CacheFiles.HEADER + ": count " + header.count() + ", but the index and deletions hold "
                    + s.liveCount() + " live rows");
        }
        return s;
    }

    boolean isLive(int row) {
        return !dead.get(row) && !damaged.get(row) && entries.get(row) != null;
    }

    long liveCount() {
        long n = 0;
        for (int r = 0; r < entries.size(); r++) {
            if (isLive(r)) {
                n++;
            }
        }
        return n;
    }

    private void readIndex(Path file) throws IOException {
        String name = file.getFileName().toString();
        List<byte[]> lines = committedLines(file, header.indexBytes(), name);
        for (int i = 0; i < header.rows(); i++) {
            if (i >= lines.size()) {
                problems.add(name + ": " + lines.size() + " committed lines, the commit records " + header.rows()
                        + " rows");
                break;
            }
            Entry e = parseIndexLine(lines.get(i), i, name);
            entries.add(e);
        }
        if (lines.size() > header.rows()) {
            problems.add(name + ": " + lines.size() + " committed lines, the commit records " + header.rows()
                    + " rows (a line break was damaged)");
        }
        while (entries.size() < header.rows()) {
            entries.add(null);
        }
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i) == null) {
                damaged.set(i);
            }
        }
    }

    private Entry parseIndexLine(byte[] line, int lineIndex, String fileName) {
        String where = fileName + " line " + (lineIndex + 1);
        JsonNode n;
        try {
            n = CacheFiles.JSON.readTree(line);
        } catch (IOException e) {
            problems.add(where + ": not valid JSON");
            return null;
        }
        if (!CacheFiles.checksumMatches(n)) {
            problems.add(where + ": checksum mismatch");
            return null;
        }
        if (n.path("row").asLong(-1) != lineIndex) {
            problems.add(where + ": holds row " + n.path("row").asText() + ", expected " + lineIndex);
            return null;
        }
        String path = n.path("path").asText("");
        String sha = n.path("sha256").asText("");
        String vcrc = n.path("vcrc").asText("");
        if (path.isEmpty() || !SHA256.matcher(sha).matches() || !CRC.matcher(vcrc).matches()
                || !n.path("size").canConvertToLong()) {
            problems.add(where + ": missing or malformed path, sha256, size or vcrc");
            return null;
        }
        List<String> labels = new ArrayList<>();
        for (JsonNode l : n.path("labels")) {
            labels.add(l.asText());
        }
        String split = n.hasNonNull("split") ? n.get("split").asText() : null;
        CacheRow row = new CacheRow(lineIndex, path, sha, n.get("size").asLong(), labels, split);
        return new Entry(row, Integer.parseUnsignedInt(vcrc, 16));
    }

    private void readDeletions(Path file) throws IOException {
        String name = file.getFileName().toString();
        List<byte[]> lines = committedLines(file, header.deletionsBytes(), name);
        if (lines.size() != header.deletedRows()) {
            problems.add(name + ": " + lines.size() + " committed lines, the commit records " + header.deletedRows()
                    + " deletions");
            deletionsDamaged = true;
        }
        for (int i = 0; i < lines.size(); i++) {
            String where = name + " line " + (i + 1);
            JsonNode n;
            try {
                n = CacheFiles.JSON.readTree(lines.get(i));
            } catch (IOException e) {
                problems.add(where + ": not valid JSON");
                deletionsDamaged = true;
                continue;
            }
            long row = n.path("row").asLong(-1);
            if (!CacheFiles.checksumMatches(n)) {
                problems.add(where + ": checksum mismatch");
                deletionsDamaged = true;
            } else if (row < 0 || row >= header.rows() || dead.get((int) row)) {
                problems.add(where + ": deletes row " + row + ", which is out of range or already deleted");
                deletionsDamaged = true;
            } else {
                dead.set((int) row);
            }
        }
    }

    private void checkVectors(ByteBuffer fileHeader, long vectorRows, VectorBytes vectors) throws IOException {
        String name = CacheFiles.vectorsName(header.epoch());
        if (fileHeader == null) {
            problems.add(name + ": missing or shorter than its " + CacheFiles.VECTORS_HEADER_BYTES + "-byte header");
            damaged.set(0, entries.size());
            return;
        }
        String headerProblem = CacheFiles.checkVectorsHeader(fileHeader, header);
        if (headerProblem != null) {
            problems.add(name + ": " + headerProblem);
            if (CacheFiles.isIntactVectorsHeader(fileHeader)) {
                // An intact file header that disagrees: these are another cache's vectors.
                damaged.set(0, entries.size());
                return;
            }
            // Only the file header is damaged: each row still proves itself by its own checksum below.
        }
        if (vectorRows < header.rows()) {
            problems.add(name + ": holds " + vectorRows + " complete rows, the commit records " + header.rows());
            damaged.set((int) vectorRows, entries.size());
        }
        for (int r = 0; r < Math.min(vectorRows, entries.size()); r++) {
            if (!isLive(r)) {
                continue;
            }
            Entry e = entries.get(r);
            if (CacheFiles.crc32c(vectors.row(r)) != e.vectorCrc()) {
                problems.add(name + " row " + r + " (" + e.row().path() + "): vector checksum mismatch");
                damaged.set(r);
            }
        }
    }

    /** Two live rows for one path can only come from a lost deletion line; the later row is the current one. */
    private void checkUniquePaths() {
        Map<String, Integer> byPath = new HashMap<>();
        for (int r = 0; r < entries.size(); r++) {
            if (!isLive(r)) {
                continue;
            }
            Integer earlier = byPath.put(entries.get(r).row().path(), r);
            if (earlier != null) {
                problems.add("rows " + earlier + " and " + r + " are both live for " + entries.get(r).row().path());
                damaged.set(earlier);
            }
        }
    }

    /** The lines in the first {@code committedBytes} of a file, each without its newline. */
    private List<byte[]> committedLines(Path file, long committedBytes, String name) throws IOException {
        List<byte[]> lines = new ArrayList<>();
        if (!Files.exists(file)) {
            if (committedBytes > 0) {
                problems.add(name + ": missing, the commit records " + committedBytes + " bytes");
            }
            return lines;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long available = Math.min(ch.size(), committedBytes);
            if (ch.size() < committedBytes) {
                problems.add(name + ": " + ch.size() + " bytes, the commit records " + committedBytes);
            }
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            ByteArrayOutputStream current = new ByteArrayOutputStream(256);
            long pos = 0;
            while (pos < available) {
                buf.clear();
                buf.limit((int) Math.min(buf.capacity(), available - pos));
                int n = ch.read(buf, pos);
                if (n <= 0) {
                    break;
                }
                pos += n;
                byte[] a = buf.array();
                int start = 0;
                for (int i = 0; i < n; i++) {
                    if (a[i] == '\n') {
                        current.write(a, start, i - start);
                        lines.add(current.toByteArray());
                        current.reset();
                        start = i + 1;
                    }
                }
                current.write(a, start, n - start);
            }
            if (current.size() > 0) {
                // The commit never ends inside a line, so a partial last line means the newline was damaged.
                lines.add(current.toByteArray());
            }
        }
        return lines;
    }

    /** The index line for a row: its fields, the vector checksum, then the line checksum. */
    static ObjectNode indexLine(CacheRow row, int vectorCrc) {
        ObjectNode n = CacheFiles.JSON.createObjectNode();
        n.put("row", row.row());
        n.put("path", row.path());
        n.put("sha256", row.sha256());
        n.put("size", row.size());
        var labels = n.putArray("labels");
        row.labels().forEach(labels::add);
        if (row.split() != null) {
            n.put("split", row.split());
        }
        n.put("vcrc", CacheFiles.hex(vectorCrc));
        return n;
    }

    static ObjectNode deletionLine(long row, String reason) {
        ObjectNode n = CacheFiles.JSON.createObjectNode();
        n.put("row", row);
        n.put("reason", reason);
        return n;
    }
}
