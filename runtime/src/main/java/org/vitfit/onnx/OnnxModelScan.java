package org.vitfit.onnx;

import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a serialised ONNX {@code ModelProto} says about itself, read from its bytes without a protobuf library and
 * without ONNX Runtime: its {@code metadata_props} and the sha256 of its {@code graph} field (the graph's own bytes,
 * which adding metadata does not change). Every length is bounds-checked, so damaged bytes give an error, never a
 * huge allocation.
 *
 * @param metadata    {@code metadata_props} in file order (a key given twice is refused)
 * @param graphSha256 sha256 of the serialised {@code GraphProto} (field 7), or null when the model has no graph
 */
public record OnnxModelScan(Map<String, String> metadata, String graphSha256) {

    private static final int FIELD_GRAPH = 7;
    private static final int FIELD_METADATA_PROPS = 14;

    public OnnxModelScan {
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** Scans {@code model}; {@code where} names the file or entry in errors. */
    public static OnnxModelScan scan(byte[] model, String where) throws IOException {
        Reader r = new Reader(model, 0, model.length, where);
        Map<String, String> metadata = new LinkedHashMap<>();
        String graphSha = null;
        while (r.more()) {
            long tag = r.varint();
            int field = (int) (tag >>> 3);
            int wireType = (int) (tag & 7);
            if (wireType != 2) {
                r.skip(wireType);
                continue;
            }
            int length = r.length();
            int start = r.position();
            r.advance(length);
            if (field == FIELD_GRAPH) {
                if (graphSha != null) {
                    // Protobuf merges a repeated message field: a second graph would change what runs unseen.
                    throw r.error("more than one graph field");
                }
                MessageDigest md = Hashing.sha256();
                md.update(model, start, length);
                graphSha = HexFormat.of().formatHex(md.digest());
            } else if (field == FIELD_METADATA_PROPS) {
                readEntry(new Reader(model, start, start + length, where), metadata);
            }
        }
        return new OnnxModelScan(metadata, graphSha);
    }

    private static void readEntry(Reader r, Map<String, String> metadata) throws IOException {
        String key = "";
        String value = "";
        while (r.more()) {
            long tag = r.varint();
            int field = (int) (tag >>> 3);
            int wireType = (int) (tag & 7);
            if (wireType != 2 || (field != 1 && field != 2)) {
                r.skip(wireType);
                continue;
            }
            int length = r.length();
            String s = r.utf8(length);
            if (field == 1) {
                key = s;
            } else {
                value = s;
            }
        }
        if (metadata.putIfAbsent(key, value) != null) {
            throw r.error("metadata key '" + key + "' appears twice");
        }
    }

    /** A bounds-checked cursor over {@code bytes[from, to)}. */
    private static final class Reader {
        private final byte[] bytes;
        private final int end;
        private final String where;
        private int pos;

        Reader(byte[] bytes, int from, int to, String where) {
            this.bytes = bytes;
            this.pos = from;
            this.end = to;
            this.where = where;
        }

        boolean more() {
            return pos < end;
        }

        int position() {
            return pos;
        }

        long varint() throws IOException {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) {
                    throw error("truncated");
                }
                byte b = bytes[pos++];
                v |= (long) (b & 0x7f) << shift;
                if (b >= 0) {
                    return v;
                }
            }
            throw error("malformed varint");
        }

        int length() throws IOException {
            long n = varint();
            if (n < 0 || n > end - pos) {
                throw error("a field of " + n + " bytes runs past the end");
            }
            return (int) n;
        }

        void advance(int n) {
            pos += n;
        }

        void skip(int wireType) throws IOException {
            switch (wireType) {
                case 0 -> varint();
                case 1 -> fixed(8);
                case 5 -> fixed(4);
                case 2 -> advance(length());
                default -> throw error("unsupported wire type " + wireType);
            }
        }

        private void fixed(int n) throws IOException {
            if (end - pos < n) {
                throw error("truncated");
            }
            pos += n;
        }

        String utf8(int length) throws IOException {
            try {
                String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(bytes, pos, length)).toString();
                pos += length;
                return s;
            } catch (CharacterCodingException e) {
                throw error("a metadata string is not UTF-8");
            }
        }

        IOException error(String what) {
            return new IOException(where + ": not a valid ONNX model (" + what + " at byte " + pos + ")");
        }
    }
}
