package org.vitfit.classify;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * {@value #ENTRY}, the last entry of a {@code .vitfit} zip: the size and sha256 of every other entry and the sha256
 * of the ONNX graph, written by {@code vitfit export} and checked by {@link VitClassifier#load} before anything in the
 * file is used.
 *
 * <pre>{@code
 * {"format": "vitfit-integrity", "formatVersion": 1, "algorithm": "sha256",
 *  "entries": [{"name": "classifier.onnx", "size": 22801234, "sha256": "..."},
 *              {"name": "vitfit-classifier.json", "size": 4210, "sha256": "..."}],
 *  "onnxGraphSha256": "..."}
 * }</pre>
 *
 * @param onnxGraphSha256 sha256 of the serialised graph inside {@code classifier.onnx}, also stored in that file's
 *                        metadata as {@value ClassifierDescriptor#META_GRAPH_SHA256} so a bare
 *                        {@code classifier.onnx} can be checked on its own
 */
@JsonPropertyOrder({"format", "formatVersion", "algorithm", "entries", "onnxGraphSha256"})
public record ClassifierIntegrity(String format, int formatVersion, String algorithm, List<Entry> entries,
                                  String onnxGraphSha256) {

    public static final String ENTRY = "vitfit-integrity.json";
    public static final String FORMAT = "vitfit-integrity";
    public static final int FORMAT_VERSION = 1;
    public static final String ALGORITHM = "sha256";

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One zip entry: its name, its size in bytes and the sha256 of its content. */
    public record Entry(String name, long size, String sha256) {
        public static Entry of(String name, byte[] content) {
            return new Entry(name, content.length, Hashing.sha256(content));
        }
    }

    public static ClassifierIntegrity of(List<Entry> entries, String onnxGraphSha256) {
        return new ClassifierIntegrity(FORMAT, FORMAT_VERSION, ALGORITHM, List.copyOf(entries), onnxGraphSha256);
    }

    /** The entry recorded for {@code name}, or null. */
    public Entry entry(String name) {
        for (Entry e : entries) {
            if (e.name().equals(name)) {
                return e;
            }
        }
        return null;
    }

    public byte[] toJson() {
        try {
            return (JSON.writeValueAsString(this) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Parses and checks the record; {@code where} names the file and entry in errors. */
    static ClassifierIntegrity parse(byte[] json, String where) throws IOException {
        ClassifierIntegrity r;
        try {
            r = JSON.readValue(json, ClassifierIntegrity.class);
        } catch (IOException e) {
            throw new IOException(where + ": unreadable integrity record (" + e.getMessage() + ")", e);
        }
        if (!FORMAT.equals(r.format()) || r.formatVersion() < 1 || r.formatVersion() > FORMAT_VERSION
                || !ALGORITHM.equals(r.algorithm()) || r.entries() == null) {
            throw new IOException(where + ": integrity record " + r.format() + " v" + r.formatVersion() + " ("
                    + r.algorithm() + ") is not one this vitfit reads (" + FORMAT + " v" + FORMAT_VERSION + ", "
                    + ALGORITHM + "); use a newer vitfit runtime");
        }
        Set<String> names = new HashSet<>();
        List<Entry> checked = new ArrayList<>();
        for (Entry e : r.entries()) {
            if (e == null || e.name() == null || e.size() < 0 || e.sha256() == null
                    || !SHA256.matcher(e.sha256()).matches() || !names.add(e.name())) {
                throw new IOException(where + ": malformed integrity record entry " + e);
            }
            checked.add(e);
        }
        if (r.onnxGraphSha256() != null && !SHA256.matcher(r.onnxGraphSha256()).matches()) {
            throw new IOException(where + ": malformed onnxGraphSha256 '" + r.onnxGraphSha256() + "'");
        }
        return new ClassifierIntegrity(r.format(), r.formatVersion(), r.algorithm(), List.copyOf(checked),
                r.onnxGraphSha256());
    }
}
