package org.vitfit.heads;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

import java.util.List;
import java.util.Map;

/**
 * The contents of {@code head.json}: everything needed to use the head besides the model weights.
 *
 * @param format              always {@value #FORMAT}
 * @param formatVersion       bumped on incompatible changes
 * @param kind                linear or mlp
 * @param task                multiclass or multilabel
 * @param labels              class / label names in output order (column j of the scores)
 * @param dimension           embedding width the head expects
 * @param normalization       what is applied to an embedding before the model
 * @param thresholds          multi-label decision thresholds, null for multi-class heads
 * @param backboneModelSha256 sha256 of the backbone ONNX model whose embeddings trained the head, or null if unknown
 * @param modelFile           the Tribuo model (protobuf serialisation), relative to the head directory
 * @param onnxFile            the whole head (normalisation + model) as ONNX, relative to the head directory
 * @param onnxInput           name of the ONNX input ({@code [batch][dimension]} float)
 * @param onnxOutput          name of the ONNX output ({@code [batch][labels]} probabilities)
 * @param tribuoModelClass    class of the Tribuo model
 * @param trainedAt           ISO-8601 time of training
 * @param toolVersion         vitfit version that trained the head
 * @param training            the training options, for the record
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonPropertyOrder({"format", "formatVersion", "kind", "task", "labels", "dimension", "normalization", "thresholds",
        "backboneModelSha256", "modelFile", "onnxFile", "onnxInput", "onnxOutput", "tribuoModelClass", "trainedAt",
        "toolVersion", "training"})
public record HeadMetadata(
        String format,
        int formatVersion,
        HeadKind kind,
        HeadTask task,
        List<String> labels,
        int dimension,
        Normalization normalization,
        Thresholds thresholds,
        String backboneModelSha256,
        String modelFile,
        String onnxFile,
        String onnxInput,
        String onnxOutput,
        String tribuoModelClass,
        String trainedAt,
        String toolVersion,
        Map<String, Object> training) {

    public static final String FORMAT = "vitfit-head";
    public static final int FORMAT_VERSION = 1;
}
