package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * {@code vitfit export}: a converted model plus a trained head become one {@code .vitfit} file, a zip holding
 * {@code classifier.onnx} (backbone and head fused into one graph, see {@link GraphFusion}, with the description in
 * its {@code metadata_props}) and {@code vitfit-classifier.json} ({@link ClassifierDescriptor}). The file appears
 * complete or not at all.
 */
public final class ClassifierExporter {

    /** The result of an export: where it went and what it holds. */
    public record Result(Path file, ClassifierDescriptor descriptor, long bytes) {
    }

    /** Key under which the head graph's own metadata (Tribuo's provenance) is kept in {@code classifier.onnx}. */
    static final String META_HEAD_PREFIX = "vitfit.head.";

    private static final ObjectMapper COMPACT = new ObjectMapper();
    private static final SecureRandom RANDOM = new SecureRandom();

    private ClassifierExporter() {
    }

    /**
     * Fuses {@code modelDir} (from {@code vitfit convert}) with {@code headDir} (from {@code vitfit train}) into
     * {@code output}. Refuses a head trained on another backbone or embedding width, and an existing output unless
     * {@code overwrite}.
     */
    public static Result export(Path modelDir, Path headDir, Path output, boolean overwrite) throws IOException {
        if (Files.isDirectory(output)) {
            throw new FileAlreadyExistsException(output.toString(), null, "is a directory; give a file name such as "
                    + output.resolve("classifier.vitfit"));
        }
        if (Files.exists(output) && !overwrite) {
            throw new FileAlreadyExistsException(output.toString(), null, "already exists; pass --overwrite to replace it");
        }
        ModelDescriptor model = ModelDescriptor.read(modelDir);
        Path modelOnnx = modelDir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        byte[] backboneBytes;
        try {
            backboneBytes = Files.readAllBytes(modelOnnx);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(modelOnnx.toString(), null, "the model directory has "
                    + ModelDescriptor.FILE_NAME + " but no " + ModelDescriptor.ONNX_FILE_NAME + "; convert it again");
        }
        String backboneSha = Hashing.sha256(backboneBytes);
        if (model.onnxSha256() != null && !model.onnxSha256().equals(backboneSha)) {
            throw new ClassifierExportException(modelOnnx + " has sha256 " + backboneSha + " but "
                    + ModelDescriptor.FILE_NAME + " records " + model.onnxSha256()
                    + "; the file changed after conversion, convert the model again");
        }
        HeadFiles head = HeadFiles.read(headDir);
        if (head.dimension() != model.embeddingDim()) {
            throw new ClassifierExportException("head " + headDir + " takes " + head.dimension()
                    + "-dimensional embeddings but model " + modelDir + " produces " + model.embeddingDim()
                    + "; export with the model the head was trained on");
        }
        if (head.backboneModelSha256() == null) {
            throw new ClassifierExportException("head " + headDir + " does not record which backbone produced its "
                    + "training embeddings (no backboneModelSha256 in head.json), so it cannot be checked against "
                    + modelDir + "; train it with 'vitfit train' on a cache made by 'vitfit extract'");
        }
        if (!head.backboneModelSha256().equals(backboneSha)) {
            throw new ClassifierExportException("head " + headDir + " was trained on embeddings of the model with "
                    + "sha256 " + head.backboneModelSha256() + " but " + modelDir + " is sha256 " + backboneSha
                    + "; export with the model directory 'vitfit extract' used for the head's training cache");
        }

        OnnxMl.ModelProto backbone;
        try {
            backbone = OnnxMl.ModelProto.parseFrom(backboneBytes);
        } catch (IOException e) {
            throw new ClassifierExportException(modelOnnx + ": not an ONNX model: " + e.getMessage(), e);
        }
        OnnxMl.ModelProto fused;
        try {
            fused = GraphFusion.fuse(backbone, head.onnx(), head.onnxInput(), head.onnxOutput(), head.multiLabel(),
                    head.thresholds());
        } catch (ClassifierExportException e) {
            throw new ClassifierExportException("cannot fuse " + modelOnnx + " with head " + headDir + ": "
                    + e.getMessage(), e);
        }
        Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        ClassifierDescriptor descriptor = describe(model, backboneSha, head, fused, now);
        OnnxMl.ModelProto withMeta = withMetadata(fused, backbone, head, descriptor);
        long bytes = writeAtomically(output, overwrite, withMeta.toByteArray(),
                descriptor.toJson().getBytes(StandardCharsets.UTF_8), now);
        return new Result(output, descriptor, bytes);
    }

    private static ClassifierDescriptor describe(ModelDescriptor model, String backboneSha, HeadFiles head,
                                                 OnnxMl.ModelProto fused, Instant now) {
        List<String> outputs = fused.getGraph().getOutputList().stream().map(OnnxMl.ValueInfoProto::getName).toList();
        var backboneInfo = new ClassifierDescriptor.Backbone(model.source(), model.family(), model.architecture(),
                model.embeddingDim(), model.embeddingPooling(), model.weightsSha256(), backboneSha);
        var headInfo = new ClassifierDescriptor.HeadInfo(head.kind(), head.dimension(), head.json().get("normalization"),
                head.onnxSha256(), head.json().path("trainedAt").asText(null),
                head.json().path("toolVersion").asText(null), head.json().get("training"));
        var provenance = new ClassifierDescriptor.Provenance(backboneInfo, headInfo,
                now.atOffset(ZoneOffset.UTC).toString(), VitfitVersion.get());
        return new ClassifierDescriptor(ClassifierDescriptor.FORMAT, ClassifierDescriptor.FORMAT_VERSION, head.task(),
                head.labels(), head.thresholds(), head.thresholdMode(), model.imageHeight(), model.imageWidth(),
                ClassifierDescriptor.INPUT, outputs, model.preprocessing(), head.metrics(), provenance);
    }

    /**
     * Puts everything a user of plain ONNX Runtime needs into {@code metadata_props}: the whole description, and the
     * labels, task, thresholds and preprocessing as separate keys so no JSON digging is needed for the common case.
     * The backbone's own properties (family, source, weights sha256) are kept as they were.
     */
    private static OnnxMl.ModelProto withMetadata(OnnxMl.ModelProto fused, OnnxMl.ModelProto backbone, HeadFiles head,
                                                  ClassifierDescriptor d) throws IOException {
        OnnxMl.ModelProto.Builder m = fused.toBuilder().clearMetadataProps();
        m.addAllMetadataProps(backbone.getMetadataPropsList());
        for (OnnxMl.StringStringEntryProto p : head.onnx().getMetadataPropsList()) {
            m.addMetadataProps(prop(META_HEAD_PREFIX + p.getKey().toLowerCase(Locale.ROOT), p.getValue()));
        }
        m.addMetadataProps(prop(ClassifierDescriptor.META_FORMAT, ClassifierDescriptor.FORMAT + "/"
                + ClassifierDescriptor.FORMAT_VERSION));
        m.addMetadataProps(prop(ClassifierDescriptor.META_TASK, d.task()));
        m.addMetadataProps(prop(ClassifierDescriptor.META_LABELS, COMPACT.writeValueAsString(d.labels())));
        if (d.thresholds() != null) {
            m.addMetadataProps(prop(ClassifierDescriptor.META_THRESHOLDS, COMPACT.writeValueAsString(d.thresholds())));
        }
        m.addMetadataProps(prop(ClassifierDescriptor.META_PREPROCESSING, COMPACT.writeValueAsString(d.preprocessing())));
        m.addMetadataProps(prop(ClassifierDescriptor.META_BACKBONE_ONNX_SHA256, d.provenance().backbone().onnxSha256()));
        m.addMetadataProps(prop(ClassifierDescriptor.META_CLASSIFIER, COMPACT.writeValueAsString(d)));
        m.setDocString("vitfit classifier: input " + ClassifierDescriptor.INPUT + " float32 [N,3," + d.imageHeight() + ","
                + d.imageWidth() + "] preprocessed as metadata '" + ClassifierDescriptor.META_PREPROCESSING
                + "' says; outputs " + String.join(", ", d.outputs()) + " over the labels in metadata '"
                + ClassifierDescriptor.META_LABELS + "'.");
        return m.build();
    }

    private static OnnxMl.StringStringEntryProto prop(String key, String value) {
        return OnnxMl.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    /**
     * Writes the zip to a hidden temporary sibling, forces it to disk and renames it into place, so a reader never
     * sees a half-written classifier and a failed export leaves nothing behind. The ONNX entry is stored uncompressed:
     * float weights barely compress and a stored entry loads without inflating.
     */
    private static long writeAtomically(Path output, boolean overwrite, byte[] onnx, byte[] json, Instant time)
            throws IOException {
        Path dir = output.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // Not Files.createTempFile: its owner-only permissions would stay on the published file.
        Path tmp = dir.resolve("." + output.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 ZipOutputStream zip = new ZipOutputStream(out)) {
                zip.setComment("vitfit classifier");
                ZipEntry onnxEntry = new ZipEntry(ClassifierDescriptor.ONNX_ENTRY);
                onnxEntry.setMethod(ZipEntry.STORED);
                onnxEntry.setSize(onnx.length);
                onnxEntry.setCompressedSize(onnx.length);
                CRC32 crc = new CRC32();
                crc.update(onnx);
                onnxEntry.setCrc(crc.getValue());
                onnxEntry.setLastModifiedTime(FileTime.from(time));
                zip.putNextEntry(onnxEntry);
                zip.write(onnx);
                zip.closeEntry();
                ZipEntry jsonEntry = new ZipEntry(ClassifierDescriptor.JSON_ENTRY);
                jsonEntry.setLastModifiedTime(FileTime.from(time));
                zip.putNextEntry(jsonEntry);
                zip.write(json);
                zip.closeEntry();
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            if (!overwrite && Files.exists(output)) {
                throw new FileAlreadyExistsException(output.toString(), null,
                        "appeared while exporting; pass --overwrite to replace it");
            }
            // Same directory, so rename(2): atomic, and it replaces an existing file.
            Files.move(tmp, output, StandardCopyOption.ATOMIC_MOVE);
            // Make the rename itself durable; skipped where a directory cannot be opened (it stays atomic).
            try (FileChannel parent = FileChannel.open(output.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
                parent.force(true);
            } catch (IOException e) {
                // Not every platform lets a directory be opened; the rename is atomic either way.
            }
            return Files.size(output);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
