package org.vitfit.classify;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.onnx.OnnxModelScan;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads a {@code .vitfit} file (or a bare {@code classifier.onnx}) and checks it before anything in it is used:
 * <ul>
 *   <li>every entry is read with a bound (never more than its zip header, the integrity record and a per-entry limit
 *       allow), so a header that lies about a size is an error, not an OutOfMemoryError, and its CRC-32 is checked;</li>
 *   <li>with {@value ClassifierIntegrity#ENTRY} (files exported since it exists): exactly the entries it lists, each
 *       with the recorded size and sha256, and the ONNX graph with the recorded graph sha256;</li>
 *   <li>{@code vitfit-classifier.json} and the metadata of {@code classifier.onnx} must agree: the whole description,
 *       and the labels (order included), task, thresholds, preprocessing and backbone the separate keys repeat.</li>
 * </ul>
 * Every refusal names the file and the entry and says to re-export.
 */
public final class ClassifierArchive {

    /** Descriptions and records are a few KB; a metrics block makes them larger, never this large. */
    private static final long MAX_JSON_BYTES = 16L << 20;
    /** A single protobuf cannot exceed 2 GiB. */
    private static final long MAX_ONNX_BYTES = Integer.MAX_VALUE - 8L;
    private static final int CHUNK = 1 << 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a checked file holds: its description and the bytes of its ONNX graph. */
    record Contents(ClassifierDescriptor descriptor, byte[] onnx) {
    }

    private ClassifierArchive() {
    }

    /**
     * Whether {@code file} is a classifier file vitfit exported: a zip whose directory holds
     * {@value ClassifierDescriptor#JSON_ENTRY}. What {@code vitfit export --overwrite} accepts to replace.
     */
    public static boolean isClassifierFile(Path file) {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            return zip.getEntry(ClassifierDescriptor.JSON_ENTRY) != null;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Runs every check {@link VitClassifier#load} runs on a {@code .vitfit} file, without ONNX Runtime, and returns
     * its description.
     */
    public static ClassifierDescriptor verify(Path file) throws IOException {
        return readArchive(file).descriptor();
    }

    /** Reads and checks a {@code .vitfit} zip. */
    static Contents readArchive(Path file) throws IOException {
        try (ZipFile zip = open(file)) {
            Set<String> names = entryNames(zip, file);
            ZipEntry integrityEntry = zip.getEntry(ClassifierIntegrity.ENTRY);
            ClassifierIntegrity integrity = integrityEntry == null ? null : ClassifierIntegrity.parse(
                    read(zip, integrityEntry, MAX_JSON_BYTES, "it can hold", file),
                    where(file, ClassifierIntegrity.ENTRY));
            byte[] json = entry(zip, file, ClassifierDescriptor.JSON_ENTRY, MAX_JSON_BYTES, integrity);
            byte[] onnx = entry(zip, file, ClassifierDescriptor.ONNX_ENTRY, MAX_ONNX_BYTES, integrity);
            String onnxWhere = where(file, ClassifierDescriptor.ONNX_ENTRY);
            OnnxModelScan scan = OnnxModelScan.scan(onnx, onnxWhere);
            if (integrity != null) {
                for (String name : names) {
                    if (!name.equals(ClassifierIntegrity.ENTRY) && integrity.entry(name) == null) {
                        throw damaged(file, "holds an entry '" + name + "' that its " + ClassifierIntegrity.ENTRY
                                + " does not list");
                    }
                }
                for (ClassifierIntegrity.Entry e : integrity.entries()) {
                    if (!names.contains(e.name())) {
                        throw damaged(file, "lacks the entry '" + e.name() + "' its " + ClassifierIntegrity.ENTRY
                                + " lists");
                    }
                }
                if (integrity.onnxGraphSha256() != null
                        && !integrity.onnxGraphSha256().equals(scan.graphSha256())) {
                    throw damaged(file, "the graph in " + ClassifierDescriptor.ONNX_ENTRY + " has sha256 "
                            + scan.graphSha256() + " but " + ClassifierIntegrity.ENTRY + " records "
                            + integrity.onnxGraphSha256());
                }
            } else if (scan.metadata().containsKey(ClassifierDescriptor.META_GRAPH_SHA256)) {
                // Exported with an integrity record that is now missing: nothing else may be trusted either.
                throw damaged(file, "lacks its " + ClassifierIntegrity.ENTRY + " entry, which "
                        + ClassifierDescriptor.ONNX_ENTRY + " says it was exported with");
            }
            checkGraphHash(scan, onnxWhere, file);
            ClassifierDescriptor d = ClassifierDescriptor.parse(json, where(file, ClassifierDescriptor.JSON_ENTRY));
            // The fields that change answers first, so the message names the one that differs; then everything.
            checkMetadata(d, scan, ClassifierDescriptor.JSON_ENTRY, ClassifierDescriptor.ONNX_ENTRY, onnxWhere, file);
            String embedded = metadata(scan, ClassifierDescriptor.META_CLASSIFIER, onnxWhere);
            if (!tree(json, file).equals(tree(embedded.getBytes(StandardCharsets.UTF_8), file))) {
                throw disagree(file, "the classifier description", ClassifierDescriptor.JSON_ENTRY + " differs from "
                        + "the copy in " + ClassifierDescriptor.ONNX_ENTRY + " metadata '"
                        + ClassifierDescriptor.META_CLASSIFIER + "'");
            }
            return new Contents(d, onnx);
        }
    }

    /** Reads and checks a bare {@code classifier.onnx} (the description comes from its metadata). */
    static Contents readBareOnnx(Path file) throws IOException {
        long size = Files.size(file);
        if (size > MAX_ONNX_BYTES) {
            throw new IOException(file + ": " + size + " bytes, over the 2 GiB a single ONNX model can hold");
        }
        byte[] onnx = Files.readAllBytes(file);
        OnnxModelScan scan = OnnxModelScan.scan(onnx, file.toString());
        String json = scan.metadata().get(ClassifierDescriptor.META_CLASSIFIER);
        if (json == null) {
            throw new IOException(file + ": an ONNX model without the '" + ClassifierDescriptor.META_CLASSIFIER
                    + "' metadata property, so not an exported vitfit classifier; export one with 'vitfit export'");
        }
        checkGraphHash(scan, file.toString(), file);
        ClassifierDescriptor d = ClassifierDescriptor.parse(json.getBytes(StandardCharsets.UTF_8),
                file + " metadata " + ClassifierDescriptor.META_CLASSIFIER);
        checkMetadata(d, scan, "metadata '" + ClassifierDescriptor.META_CLASSIFIER + "'", "its", file.toString(), file);
        return new Contents(d, onnx);
    }

    private static ZipFile open(Path file) throws IOException {
        try {
            return new ZipFile(file.toFile());
        } catch (ZipException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("END header")) {
                throw new IOException(file + ": not a complete vitfit classifier (zip end header missing; the file is "
                        + "truncated, e.g. by an interrupted copy) - re-export it or copy it again", e);
            }
            throw new IOException(file + ": not a readable vitfit classifier (" + m + ") - re-export it", e);
        }
    }

    private static Set<String> entryNames(ZipFile zip, Path file) throws IOException {
        Set<String> names = new HashSet<>();
        try {
            for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
                String name = en.nextElement().getName();
                if (!names.add(name)) {
                    throw damaged(file, "holds two entries named '" + name + "'");
                }
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw damaged(file, "has an unreadable zip directory (" + e.getMessage() + ")");
        }
        return names;
    }

    private static byte[] entry(ZipFile zip, Path file, String name, long limit, ClassifierIntegrity integrity)
            throws IOException {
        ZipEntry e = zip.getEntry(name);
        if (e == null) {
            throw new IOException(file + ": not a vitfit classifier (no " + name + " entry); export one with "
                    + "'vitfit export'");
        }
        ClassifierIntegrity.Entry recorded = integrity == null ? null : integrity.entry(name);
        if (integrity != null && recorded == null) {
            throw damaged(file, "its " + ClassifierIntegrity.ENTRY + " does not list " + name);
        }
        byte[] bytes = recorded != null && recorded.size() <= limit
                ? read(zip, e, recorded.size(), "bytes " + ClassifierIntegrity.ENTRY + " records", file)
                : read(zip, e, limit, "it can hold", file);
        if (recorded != null) {
            String sha = Hashing.sha256(bytes);
            if (bytes.length != recorded.size() || !sha.equals(recorded.sha256())) {
                throw damaged(file, "entry " + name + " has " + bytes.length + " bytes with sha256 " + sha + " but "
                        + ClassifierIntegrity.ENTRY + " records " + recorded.size() + " bytes with sha256 "
                        + recorded.sha256() + " (changed after export)");
            }
        }
        return bytes;
    }

    /**
     * Reads one entry, never more than {@code limit} bytes and never more or fewer than its header says, and checks
     * its CRC-32. Memory grows with what is actually read, not with what a header claims.
     */
    private static byte[] read(ZipFile zip, ZipEntry e, long limit, String limitIs, Path file) throws IOException {
        long declared = e.getSize();
        if (declared > limit) {
            throw damaged(file, "the zip header of " + e.getName() + " says " + declared + " bytes, more than the "
                    + limit + " " + limitIs);
        }
        long cap = declared >= 0 ? declared : limit;
        // Start at what the file can hold at most (a stored entry is no larger than the file), not at what a header
        // claims; grow only with bytes actually read.
        byte[] buf = new byte[(int) Math.min(declared >= 0 ? declared : CHUNK, Files.size(file))];
        int n = 0;
        CRC32 crc = new CRC32();
        try (InputStream in = zip.getInputStream(e)) {
            while (true) {
                if (n == buf.length) {
                    if (n >= cap) {
                        if (in.read() >= 0) {
                            throw damaged(file, "entry " + e.getName() + " holds more bytes than its zip header "
                                    + "says (" + cap + ")");
                        }
                        break;
                    }
                    buf = Arrays.copyOf(buf, (int) Math.min(cap, Math.max(CHUNK, 2L * buf.length)));
                }
                int r = in.read(buf, n, buf.length - n);
                if (r < 0) {
                    break;
                }
                crc.update(buf, n, r);
                n += r;
            }
        } catch (ZipException | java.io.EOFException ex) {
            throw damaged(file, "entry " + e.getName() + " cannot be read (" + ex.getMessage() + ")");
        }
        if (declared >= 0 && n != declared) {
            throw damaged(file, "entry " + e.getName() + " holds " + n + " bytes but its zip header says " + declared);
        }
        if (e.getCrc() >= 0 && crc.getValue() != e.getCrc()) {
            throw damaged(file, "entry " + e.getName() + " fails its CRC-32 check (the zip records "
                    + Long.toHexString(e.getCrc()) + ", the data gives " + Long.toHexString(crc.getValue()) + ")");
        }
        return n == buf.length ? buf : Arrays.copyOf(buf, n);
    }

    private static void checkGraphHash(OnnxModelScan scan, String where, Path file) throws IOException {
        String recorded = scan.metadata().get(ClassifierDescriptor.META_GRAPH_SHA256);
        if (recorded != null && !recorded.equals(scan.graphSha256())) {
            throw damaged(file, "the graph in " + where + " has sha256 " + scan.graphSha256() + " but its metadata '"
                    + ClassifierDescriptor.META_GRAPH_SHA256 + "' records " + recorded + " (changed after export)");
        }
    }

    /**
     * The separate metadata keys (what a user of plain ONNX Runtime reads) must say what the description says:
     * otherwise one of them was edited, and vitfit cannot tell which one is right.
     */
    private static void checkMetadata(ClassifierDescriptor d, OnnxModelScan scan, String described, String onnx,
                                      String onnxWhere, Path file) throws IOException {
        String format = ClassifierDescriptor.FORMAT + "/" + d.formatVersion();
        String metaFormat = metadata(scan, ClassifierDescriptor.META_FORMAT, onnxWhere);
        if (!format.equals(metaFormat)) {
            throw disagree(file, "the format", described + " says " + format + ", " + onnx + " metadata '"
                    + ClassifierDescriptor.META_FORMAT + "' says " + metaFormat);
        }
        String task = metadata(scan, ClassifierDescriptor.META_TASK, onnxWhere);
        if (!task.equals(d.task())) {
            throw disagree(file, "the task", described + " says " + d.task() + ", " + onnx + " metadata '"
                    + ClassifierDescriptor.META_TASK + "' says " + task);
        }
        List<String> labels = new ArrayList<>();
        tree(metadata(scan, ClassifierDescriptor.META_LABELS, onnxWhere).getBytes(StandardCharsets.UTF_8), file)
                .forEach(l -> labels.add(l.asText()));
        if (!labels.equals(d.labels())) {
            throw disagree(file, "the labels", firstDifference(d.labels(), labels, described, onnx + " metadata '"
                    + ClassifierDescriptor.META_LABELS + "'"));
        }
        String thresholds = scan.metadata().get(ClassifierDescriptor.META_THRESHOLDS);
        float[] metaThresholds = thresholds == null ? null : JSON.readValue(thresholds, float[].class);
        if (!Arrays.equals(metaThresholds, d.thresholds())) {
            throw disagree(file, "the thresholds", described + " says " + Arrays.toString(d.thresholds()) + ", "
                    + onnx + " metadata '" + ClassifierDescriptor.META_THRESHOLDS + "' says "
                    + Arrays.toString(metaThresholds));
        }
        JsonNode recipe = tree(metadata(scan, ClassifierDescriptor.META_PREPROCESSING, onnxWhere)
                .getBytes(StandardCharsets.UTF_8), file);
        if (!recipe.equals(tree(JSON.writeValueAsBytes(d.preprocessing()), file))) {
            throw disagree(file, "the preprocessing", described + " says " + JSON.writeValueAsString(d.preprocessing())
                    + ", " + onnx + " metadata '" + ClassifierDescriptor.META_PREPROCESSING + "' says " + recipe);
        }
        String backbone = scan.metadata().get(ClassifierDescriptor.META_BACKBONE_ONNX_SHA256);
        String described256 = d.provenance() == null || d.provenance().backbone() == null ? null
                : d.provenance().backbone().onnxSha256();
        if (!Objects.equals(backbone, described256)) {
            throw disagree(file, "the backbone", described + " says " + described256 + ", " + onnx + " metadata '"
                    + ClassifierDescriptor.META_BACKBONE_ONNX_SHA256 + "' says " + backbone);
        }
    }

    private static String firstDifference(List<String> a, List<String> b, String aName, String bName) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            if (!a.get(i).equals(b.get(i))) {
                return "label " + i + " is '" + a.get(i) + "' in " + aName + " but '" + b.get(i) + "' in " + bName;
            }
        }
        return aName + " has " + a.size() + " labels, " + bName + " " + b.size();
    }

    private static String metadata(OnnxModelScan scan, String key, String where) throws IOException {
        String v = scan.metadata().get(key);
        if (v == null) {
            throw new IOException(where + ": no '" + key + "' metadata, so not a classifier vitfit exported; "
                    + "re-export it with 'vitfit export'");
        }
        return v;
    }

    private static JsonNode tree(byte[] json, Path file) throws IOException {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw damaged(file, "holds unreadable JSON (" + e.getMessage() + ")");
        }
    }

    private static String where(Path file, String entry) {
        return file + "!" + entry;
    }

    private static IOException damaged(Path file, String what) {
        return new IOException(file + ": " + what + "; the file is damaged or was edited - re-export it with "
                + "'vitfit export' (or copy it again)");
    }

    private static IOException disagree(Path file, String what, String detail) {
        return new IOException(file + ": its description and its ONNX metadata disagree on " + what + " (" + detail
                + "); the file was edited after export and vitfit cannot tell which is right - re-export it with "
                + "'vitfit export'");
    }
}
