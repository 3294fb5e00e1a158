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
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/** File names, the vectors file header and checksummed JSON shared by reader and writer. */
final class CacheFiles {

    static final String HEADER = "header.json";
    /** A second copy of the commit record, written right after {@link #HEADER}: a damaged header costs nothing. */
    static final String HEADER_BACKUP = "header.backup.json";
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

    /** True when {@code b} starts with a whole vectors file header: our magic, its checksum and a known version. */
    static boolean isIntactVectorsHeader(ByteBuffer b) {
        return vectorsHeaderProblem(b) == null;
    }

    private static String vectorsHeaderProblem(ByteBuffer actual) {
        ByteBuffer b = actual.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (b.limit() < VECTORS_HEADER_BYTES) {
            return "shorter than its " + VECTORS_HEADER_BYTES + "-byte header";
        }
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
        return null;
    }

    /** Null when the header matches, else what is wrong with it. */
    static String checkVectorsHeader(ByteBuffer actual, CacheHeader header) {
        String problem = vectorsHeaderProblem(actual);
        return problem != null ? problem : disagreement(actual, header);
    }

    /**
     * The fields in which an intact vectors file header and {@code header.json} disagree ("dimension 999 in
     * header.json, 192 in the vectors file"), or null when they agree.
     */
    static String disagreement(ByteBuffer intactFileHeader, CacheHeader header) {
        ByteBuffer b = intactFileHeader.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        List<String> diffs = new ArrayList<>();
        VectorDtype dtype = VectorDtype.fromCode(b.getInt(12));
        VectorDtype claimed = VectorDtype.fromCode(header.dtype() == null ? -1 : dtypeCode(header.dtype()));
        if (dtype != claimed) {
            diffs.add("dtype " + header.dtype() + " in the header, " + (dtype == null ? "code " + b.getInt(12) : dtype)
                    + " in the vectors file");
        }
        if (b.getInt(16) != header.dimension()) {
            diffs.add("dimension " + header.dimension() + " in the header, " + b.getInt(16) + " in the vectors file");
        }
        if (b.getInt(24) != header.epoch()) {
            diffs.add("epoch " + header.epoch() + " in the header, " + b.getInt(24) + " in the vectors file");
        }
        byte[] id = new byte[16];
        b.get(28, id);
        if (header.cacheId() == null || !java.util.Arrays.equals(id, cacheIdBytes(header.cacheId()))) {
            diffs.add("cache id " + header.cacheId() + " in the header, "
                    + java.util.HexFormat.of().formatHex(id) + " in the vectors file");
        }
        return diffs.isEmpty() ? null : String.join(", ", diffs);
    }

    private static int dtypeCode(String label) {
        try {
            return VectorDtype.parse(label).code();
        } catch (IllegalArgumentException e) {
            return -1;
        }
    }

    /** The first 64 bytes of a vectors file, or null when it is missing or shorter. */
    static ByteBuffer readVectorsHeader(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() < VECTORS_HEADER_BYTES) {
                return null;
            }
            ByteBuffer b = ByteBuffer.allocate(VECTORS_HEADER_BYTES);
            readFully(ch, b, 0, file);
            return b.flip();
        }
    }

    /**
     * Files a crash can leave beside the cache's own (temporary copies of the header or the errors log). Deleted by
     * the next writer, which only ever runs in a directory proven to be a cache.
     */
    static boolean isLeftover(String fileName) {
        return LEFTOVER.matcher(fileName).matches();
    }

    /** Temporary copies written by {@code Durable}, and the fixed temporary names of earlier versions. */
    private static final Pattern LEFTOVER = Pattern.compile(
            "header\\.json\\.tmp|errors\\.jsonl\\.partial"
                    + "|\\.(header\\.json|header\\.backup\\.json|errors\\.jsonl)\\.vitfit-tmp-[0-9a-f]{8}");

    /**
     * Recognises an embedding cache written before vitfit marked its outputs: a commit record with a valid checksum,
     * or a vectors file with an intact vitfit file header (a cache whose header was damaged is still vitfit's).
     */
    static boolean looksLikeCache(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                if ((name.equals(HEADER) || name.equals(HEADER_BACKUP)) && Files.size(p) < MAX_HEADER_BYTES
                        && checksumMatches(JSON.readTree(Files.readAllBytes(p)))) {
                    return true;
                }
                if (name.startsWith("vectors-") && epochOf(name) > 0) {
                    ByteBuffer h = readVectorsHeader(p);
                    if (h != null && isIntactVectorsHeader(h)) {
                        return true;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }

    /** A header is a few kilobytes; anything far larger is not one. */
    static final long MAX_HEADER_BYTES = 1 << 20;

    private static byte[] cacheIdBytes(String cacheId) {
        byte[] out = new byte[16];
        for (int i = 0; i < 16 && 2 * i + 1 < cacheId.length(); i++) {
            out[i] = (byte) Integer.parseInt(cacheId.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
