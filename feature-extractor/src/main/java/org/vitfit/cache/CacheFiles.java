package org.vitfit.cache;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/** File names, the vectors file header, checksummed JSON and durable writes shared by reader and writer. */
final class CacheFiles {

    static final String HEADER = "header.json";
    static final String HEADER_TMP = "header.json.tmp";
    static final String LOCK = "write.lock";
    static final String ERRORS = "errors.jsonl";
    static final String ERRORS_PARTIAL = "errors.jsonl.partial";
    static final String CRC_FIELD = "crc32c";

    /** Data files carry the epoch in their name so compaction can write a new set beside the old one. */
    static final Pattern EPOCH_FILE = Pattern.compile("(vectors|index|deletions)-(\\d{6})\\.(bin|jsonl)(\\.tmp)?");

    /** 64 bytes keep every f32 vector 4-byte aligned and leave room to grow the header. */
    static final int VECTORS_HEADER_BYTES = 64;
    static final byte[] VECTORS_MAGIC = "VITFITVC".getBytes(StandardCharsets.US_ASCII);
    static final int VECTORS_VERSION = 1;

    static final ObjectMapper JSON = new ObjectMapper();
    static final ObjectMapper PRETTY_JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private CacheFiles() {
    }

    static String vectorsName(int epoch) {
        return String.format("vectors-%06d.bin", epoch);
    }

    static String indexName(int epoch) {
        return String.format("index-%06d.jsonl", epoch);
    }

    static String deletionsName(int epoch) {
        return String.format("deletions-%06d.jsonl", epoch);
    }

    /** The epoch of a data file name, or -1 when the name is not one of ours. */
    static int epochOf(String fileName) {
        Matcher m = EPOCH_FILE.matcher(fileName);
        return m.matches() ? Integer.parseInt(m.group(2)) : -1;
    }

    static int crc32c(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    static int crc32c(ByteBuffer buffer) {
        CRC32C crc = new CRC32C();
        crc.update(buffer);
        return (int) crc.getValue();
    }

    static String hex(int crc) {
        return String.format("%08x", crc);
    }

    /**
     * Adds a {@value #CRC_FIELD} field: CRC-32C of the compact JSON of the node without it. Checking re-serialises
     * the parsed node the same way, so the checksum is independent of whitespace and catches any changed value.
     */
    static ObjectNode seal(ObjectNode node) {
        node.remove(CRC_FIELD);
        byte[] body = compact(node);
        node.put(CRC_FIELD, hex(crc32c(body, 0, body.length)));
        return node;
    }

    /** True when the node carries a checksum that matches its content. */
    static boolean checksumMatches(JsonNode node) {
        if (!(node instanceof ObjectNode object) || !object.path(CRC_FIELD).isTextual()) {
            return false;
        }
        ObjectNode copy = object.deepCopy();
        String stored = copy.remove(CRC_FIELD).asText();
        byte[] body = compact(copy);
        return stored.equals(hex(crc32c(body, 0, body.length)));
    }

    static byte[] compact(JsonNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One sealed JSON line, newline included. */
    static byte[] sealedLine(ObjectNode node) {
        byte[] json = compact(seal(node));
        byte[] line = new byte[json.length + 1];
        System.arraycopy(json, 0, line, 0, json.length);
        line[json.length] = '\n';
        return line;
    }

    /**
     * Replaces {@code dir/name} with {@code content} so that a crash leaves either the old or the new file, never a
     * mix: write a temporary file, fsync it, rename it over the old one, fsync the directory.
     */
    static void writeAtomically(Path dir, String name, String tmpName, byte[] content) throws IOException {
        Path tmp = dir.resolve(tmpName);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, ByteBuffer.wrap(content), 0);
            ch.force(true);
        }
        try {
            Files.move(tmp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException(dir + " is on a file system without atomic rename; the cache needs one to be "
                    + "crash-safe", e);
        }
        fsyncDirectory(dir);
    }

    /** Makes a rename or a new file's directory entry durable; a no-op where the platform cannot open directories. */
    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Windows cannot open a directory as a channel; NTFS journals the rename itself.
            if (!System.getProperty("os.name", "").startsWith("Windows")) {
                throw e instanceof IOException io ? io : new IOException(e);
            }
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer buffer, long position) throws IOException {
        long pos = position;
        while (buffer.hasRemaining()) {
            pos += ch.write(buffer, pos);
        }
    }

    static void readFully(FileChannel ch, ByteBuffer buffer, long position, Path file) throws IOException {
        long pos = position;
        while (buffer.hasRemaining()) {
            int n = ch.read(buffer, pos);
            if (n < 0) {
                throw new CorruptCacheException(file + ": ends at byte " + pos + ", expected at least "
                        + (pos + buffer.remaining()));
            }
            pos += n;
        }
    }

    /** The fixed 64-byte header of a vectors file. */
    static ByteBuffer vectorsHeader(VectorDtype dtype, int dimension, String cacheId, int epoch) {
        ByteBuffer b = ByteBuffer.allocate(VECTORS_HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.put(VECTORS_MAGIC);
        b.putInt(VECTORS_VERSION);
        b.putInt(dtype.code());
        b.putInt(dimension);
        b.putInt(VECTORS_HEADER_BYTES);
        b.putInt(epoch);
        b.put(cacheIdBytes(cacheId));
        b.putInt(VECTORS_HEADER_BYTES - 4, crc32c(b.array(), 0, VECTORS_HEADER_BYTES - 4));
        b.clear();
        return b;
    }

    /** Null when the header matches, else what is wrong with it. */
    static String checkVectorsHeader(ByteBuffer actual, CacheHeader header) {
        ByteBuffer expected = vectorsHeader(header.vectorDtype(), header.dimension(), header.cacheId(), header.epoch());
        ByteBuffer b = actual.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[VECTORS_MAGIC.length];
        b.get(0, magic);
        if (!java.util.Arrays.equals(magic, VECTORS_MAGIC)) {
            return "not a vitfit vectors file (bad magic)";
        }
        byte[] bytes = new byte[VECTORS_HEADER_BYTES];
        b.get(0, bytes);
        if (crc32c(bytes, 0, VECTORS_HEADER_BYTES - 4) != b.getInt(VECTORS_HEADER_BYTES - 4)) {
            return "file header checksum mismatch";
        }
        if (b.getInt(8) != VECTORS_VERSION) {
            return "file format version " + b.getInt(8) + ", this vitfit reads " + VECTORS_VERSION;
        }
        if (!expected.equals(b.position(0).limit(VECTORS_HEADER_BYTES))) {
            return "file header (dtype, dimension, epoch or cache id) does not match " + HEADER;
        }
        return null;
    }

    private static byte[] cacheIdBytes(String cacheId) {
        byte[] out = new byte[16];
        for (int i = 0; i < 16 && 2 * i + 1 < cacheId.length(); i++) {
            out[i] = (byte) Integer.parseInt(cacheId.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
