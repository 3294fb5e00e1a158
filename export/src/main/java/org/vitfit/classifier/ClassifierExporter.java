package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.classify.ClassifierArchive;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.ClassifierIntegrity;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
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
 * its {@code metadata_props}), {@code vitfit-classifier.json} ({@link ClassifierDescriptor}) and the sizes and
 * sha256 of both ({@link ClassifierIntegrity}). The file appears complete or not at all, through {@link SafeOutput}.
 */
public final class ClassifierExporter {

    /** The result of an export: where it went and what it holds. */
    public record Result(Path file, ClassifierDescriptor descriptor, long bytes) {
    }

    /** Key under which the head graph's own metadata (Tribuo's provenance) is kept in {@code classifier.onnx}. */
    static final String META_HEAD_PREFIX = "vitfit.head.";

    private static final ObjectMapper COMPACT = new ObjectMapper();

    private ClassifierExporter() {
    }

    /**
     * Fuses {@code modelDir} (from {@code vitfit convert}) with {@code headDir} (from {@code vitfit train}) into
     * {@code output}. Refuses a head trained on another backbone or embedding width or with non-finite weights, an
     * output that is the model or head directory, and an existing file unless {@code overwrite} is set and the file
     * is a classifier vitfit exported.
     */
    public static Result export(Path modelDir, Path headDir, Path output, boolean overwrite) throws IOException {
        List<SafeOutput.Input> inputs = List.of(SafeOutput.Input.of("--model", modelDir),
                SafeOutput.Input.of("--head", headDir));
        SafeOutput.checkFile(output, OutputKind.CLASSIFIER, ClassifierArchive::isClassifierFile, overwrite, inputs);
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
        requireFinite(head);

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
        String graphSha = Hashing.sha256(fused.getGraph().toByteArray());
        byte[] onnx = withMetadata(fused, backbone, head, descriptor, graphSha).toByteArray();
        byte[] json = descriptor.toJson().getBytes(StandardCharsets.UTF_8);
        ClassifierIntegrity integrity = ClassifierIntegrity.of(List.of(
                ClassifierIntegrity.Entry.of(ClassifierDescriptor.ONNX_ENTRY, onnx),
                ClassifierIntegrity.Entry.of(ClassifierDescriptor.JSON_ENTRY, json)), graphSha);
        long bytes = SafeOutput.writeFile(output, OutputKind.CLASSIFIER, ClassifierArchive::isClassifierFile, overwrite,
                inputs, tmp -> {
                    writeZip(tmp, onnx, json, integrity.toJson(), now);
                    // Read back with every check a loader runs, before the file is published.
                    ClassifierArchive.verify(tmp);
                    return Files.size(tmp);
                });
        return new Result(output, descriptor, bytes);
    }

    /**
     * "Finite or refused": a head whose training diverged would answer NaN with an arbitrary label for every image.
     * Checks every float initializer of {@code head.onnx} and the multi-label thresholds.
     */
    private static void requireFinite(HeadFiles head) throws ClassifierExportException {
        String onnxFile = head.json().path("onnxFile").asText("head.onnx");
        String advice = "the head's training diverged; train it again (e.g. with a lower --lr) - vitfit does not "
                + "export non-finite weights";
        try {
            for (OnnxMl.TensorProto t : head.onnx().getGraph().getInitializerList()) {
                if (t.getDataType() != OnnxMl.TensorProto.DataType.FLOAT_VALUE) {
                    continue;
                }
                float[] values;
                if (!t.getRawData().isEmpty()) {
                    FloatBuffer fb = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                    values = new float[fb.remaining()];
                    fb.get(values);
                } else {
                    values = new float[t.getFloatDataCount()];
                    for (int i = 0; i < values.length; i++) {
                        values[i] = t.getFloatData(i);
                    }
                }
                Finite.require(values, "head " + head.dir() + ": " + onnxFile + " initializer '"
                        + t.getName() + "'", advice);
            }
            if (head.thresholds() != null) {
                Finite.require(head.thresholds(), "head " + head.dir() + ": the thresholds in " + HeadFiles.HEAD_JSON,
                        advice);
            }
        } catch (Finite.NonFiniteException e) {
            throw new ClassifierExportException(e.getMessage(), e);
        }
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
                                                  ClassifierDescriptor d, String graphSha256) throws IOException {
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
        m.addMetadataProps(prop(ClassifierDescriptor.META_GRAPH_SHA256, graphSha256));
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
     * The zip: {@code classifier.onnx} stored (float weights barely compress and a stored entry loads without
     * inflating), then {@code vitfit-classifier.json}, then the integrity record of both.
     */
    private static void writeZip(Path file, byte[] onnx, byte[] json, byte[] integrity, Instant time)
            throws IOException {
        try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
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
            for (String name : List.of(ClassifierDescriptor.JSON_ENTRY, ClassifierIntegrity.ENTRY)) {
                ZipEntry e = new ZipEntry(name);
                e.setLastModifiedTime(FileTime.from(time));
                zip.putNextEntry(e);
                zip.write(name.equals(ClassifierIntegrity.ENTRY) ? integrity : json);
                zip.closeEntry();
            }
        }
    }
}
