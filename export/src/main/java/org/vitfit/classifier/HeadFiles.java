package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What the exporter needs from a head directory written by {@code vitfit train}: {@code head.json}, {@code head.onnx}
 * and, when present, {@code metrics.json}. Read as files (the format the head-trainer README documents) rather than
 * through the head-trainer classes, so export does not depend on Tribuo's training code.
 *
 * @param dir                 the head directory
 * @param kind                {@code linear} or {@code mlp}
 * @param task                {@link ClassifierDescriptor#MULTICLASS} or {@link ClassifierDescriptor#MULTILABEL}
 * @param labels              label names in score column order
 * @param dimension           embedding width the head takes
 * @param thresholds          multi-label thresholds, null for multi-class
 * @param thresholdMode       how they were chosen, null for multi-class
 * @param backboneModelSha256 the sha256 of the backbone ONNX model whose embeddings trained the head
 * @param onnx                {@code head.onnx}
 * @param onnxSha256          sha256 of the {@code head.onnx} bytes
 * @param onnxInput           the head graph's input name
 * @param onnxOutput          the head graph's output name (probabilities)
 * @param json                the whole {@code head.json}, for provenance
 * @param metrics             {@code metrics.json}, or null when the directory has none
 */
record HeadFiles(Path dir, String kind, String task, List<String> labels, int dimension, float[] thresholds,
                 String thresholdMode, String backboneModelSha256, OnnxMl.ModelProto onnx, String onnxSha256,
                 String onnxInput, String onnxOutput, JsonNode json, JsonNode metrics) {

    static final String HEAD_JSON = "head.json";
    static final String METRICS_JSON = "metrics.json";
    private static final String FORMAT = "vitfit-head";
    private static final int FORMAT_VERSION = 1;

    private static final ObjectMapper JSON = new ObjectMapper();

    static HeadFiles read(Path dir) throws IOException {
        Path jsonFile = dir.resolve(HEAD_JSON);
        if (!Files.isRegularFile(jsonFile)) {
            throw new NoSuchFileException(jsonFile.toString(), null,
                    "not a vitfit head directory (no " + HEAD_JSON + "); train one with 'vitfit train'");
        }
        JsonNode json;
        try {
            json = JSON.readTree(jsonFile.toFile());
        } catch (IOException e) {
            throw new ClassifierExportException(jsonFile + ": unreadable head description: " + e.getMessage(), e);
        }
        if (!FORMAT.equals(json.path("format").asText()) || json.path("formatVersion").asInt() < 1
                || json.path("formatVersion").asInt() > FORMAT_VERSION) {
            throw new ClassifierExportException(jsonFile + ": format '" + json.path("format").asText() + "' v"
                    + json.path("formatVersion").asText() + " is not a head this vitfit can export ("
                    + FORMAT + " v" + FORMAT_VERSION + ")");
        }
        String task = json.path("task").asText();
        if (!ClassifierDescriptor.MULTICLASS.equals(task) && !ClassifierDescriptor.MULTILABEL.equals(task)) {
            throw new ClassifierExportException(jsonFile + ": task '" + task + "' is neither "
                    + ClassifierDescriptor.MULTICLASS + " nor " + ClassifierDescriptor.MULTILABEL);
        }
        List<String> labels = new ArrayList<>();
        json.path("labels").forEach(l -> labels.add(l.asText()));
        int dimension = json.path("dimension").asInt();
        if (labels.isEmpty() || dimension < 1) {
            throw new ClassifierExportException(jsonFile + ": needs 'labels' and a positive 'dimension'");
        }
        float[] thresholds = null;
        String thresholdMode = null;
        if (ClassifierDescriptor.MULTILABEL.equals(task)) {
            JsonNode values = json.path("thresholds").path("values");
            if (!values.isArray() || values.size() != labels.size()) {
                throw new ClassifierExportException(jsonFile + ": a multi-label head needs thresholds.values with one "
                        + "value per label (" + labels.size() + "); retrain it with 'vitfit train --multilabel'");
            }
            thresholds = new float[labels.size()];
            for (int j = 0; j < thresholds.length; j++) {
                thresholds[j] = (float) values.get(j).asDouble();
            }
            thresholdMode = json.path("thresholds").path("mode").asText(null);
        }
        String backbone = json.path("backboneModelSha256").asText(null);
        Path onnxFile = dir.resolve(json.path("onnxFile").asText("head.onnx"));
        byte[] onnxBytes;
        try {
            onnxBytes = Files.readAllBytes(onnxFile);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(onnxFile.toString(), null,
                    HEAD_JSON + " is there but the head's ONNX graph is missing; retrain or re-save the head");
        }
        OnnxMl.ModelProto onnx;
        try {
            onnx = OnnxMl.ModelProto.parseFrom(onnxBytes);
        } catch (IOException e) {
            throw new ClassifierExportException(onnxFile + ": not an ONNX model: " + e.getMessage(), e);
        }
        Path metricsFile = dir.resolve(METRICS_JSON);
        JsonNode metrics = null;
        if (Files.isRegularFile(metricsFile)) {
            try {
                metrics = JSON.readTree(metricsFile.toFile());
            } catch (IOException e) {
                throw new ClassifierExportException(metricsFile + ": unreadable metrics: " + e.getMessage(), e);
            }
        }
        return new HeadFiles(dir, json.path("kind").asText(null), task, List.copyOf(labels), dimension, thresholds,
                thresholdMode, backbone, onnx, Hashing.sha256(onnxBytes), json.path("onnxInput").asText("embedding"),
                json.path("onnxOutput").asText("scores"), json, metrics);
    }

    boolean multiLabel() {
        return ClassifierDescriptor.MULTILABEL.equals(task);
    }
}
