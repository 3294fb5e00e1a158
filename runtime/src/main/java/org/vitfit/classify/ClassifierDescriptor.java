package org.vitfit.classify;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The contents of {@code vitfit-classifier.json} inside a {@code .vitfit} file, also stored whole in the
 * {@code vitfit.classifier} metadata property of {@code classifier.onnx}: what the fused graph computes and what
 * it was made from. Written by {@code vitfit export}, read by {@link VitClassifier}.
 *
 * @param format        always {@value #FORMAT}
 * @param formatVersion bumped on incompatible changes; readers refuse newer versions
 * @param task          {@value #MULTICLASS} (softmax, one label per image) or {@value #MULTILABEL} (sigmoid per label)
 * @param labels        label names in output column order
 * @param thresholds    multi-label only: label {@code j} is active when {@code probabilities[j] > thresholds[j]}
 *                      (what the {@code labels_mask} output computes); null for multi-class
 * @param thresholdMode how the thresholds were chosen ({@code fixed}, {@code global}, {@code per-label}); null for
 *                      multi-class
 * @param imageHeight   height of {@code pixel_values}
 * @param imageWidth    width of {@code pixel_values}
 * @param input         name of the ONNX input, float32 {@code [N, 3, imageHeight, imageWidth]}
 * @param outputs       names of the ONNX outputs, in graph order
 * @param preprocessing how images become {@code pixel_values}
 * @param metrics       the head's {@code metrics.json} (validation/test figures), or null when the head had none
 * @param provenance    what the classifier was made from
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonPropertyOrder({"format", "formatVersion", "task", "labels", "thresholds", "thresholdMode", "imageHeight",
        "imageWidth", "input", "outputs", "preprocessing", "metrics", "provenance"})
public record ClassifierDescriptor(
        String format,
        int formatVersion,
        String task,
        List<String> labels,
        float[] thresholds,
        String thresholdMode,
        int imageHeight,
        int imageWidth,
        String input,
        List<String> outputs,
        PreprocessRecipe preprocessing,
        JsonNode metrics,
        Provenance provenance) {

    public static final String FORMAT = "vitfit-classifier";
    public static final int FORMAT_VERSION = 1;
    public static final String MULTICLASS = "multiclass";
    public static final String MULTILABEL = "multilabel";

    /** Entry names inside the {@code .vitfit} zip. */
    public static final String ONNX_ENTRY = "classifier.onnx";
    public static final String JSON_ENTRY = "vitfit-classifier.json";

    /** ONNX input and output names of the fused graph. */
    public static final String INPUT = "pixel_values";
    public static final String OUTPUT_LOGITS = "logits";
    public static final String OUTPUT_PROBABILITIES = "probabilities";
    public static final String OUTPUT_LABELS_MASK = "labels_mask";
    public static final String OUTPUT_EMBEDDING = "embedding";

    /** {@code metadata_props} keys of {@code classifier.onnx}; values are plain strings or JSON. */
    public static final String META_CLASSIFIER = "vitfit.classifier";
    public static final String META_FORMAT = "vitfit.format";
    public static final String META_TASK = "vitfit.task";
    public static final String META_LABELS = "vitfit.labels";
    public static final String META_THRESHOLDS = "vitfit.thresholds";
    public static final String META_PREPROCESSING = "vitfit.preprocessing";
    public static final String META_BACKBONE_ONNX_SHA256 = "vitfit.backbone_onnx_sha256";
    /** sha256 of the serialised graph, so a bare {@code classifier.onnx} can be checked on its own. */
    public static final String META_GRAPH_SHA256 = "vitfit.graph_sha256";

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Where the classifier came from.
     *
     * @param backbone   the converted model whose {@code embedding} output feeds the head
     * @param head       the trained head
     * @param exportedAt ISO-8601 time of export
     * @param toolVersion vitfit version that exported it
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Provenance(Backbone backbone, HeadInfo head, String exportedAt, String toolVersion) {
    }

    /**
     * @param source        where the checkpoint came from ({@code vitfit-model.json} {@code source})
     * @param family        checkpoint family ({@code timm_vit}, {@code hf_vit}, ...)
     * @param architecture  architecture name the checkpoint gives
     * @param embeddingDim  width of {@code embedding}
     * @param embeddingPooling what {@code embedding} is
     * @param weightsSha256 sha256 of the checkpoint weights
     * @param onnxSha256    sha256 of the backbone's {@code model.onnx}, the identity heads record
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Backbone(String source, String family, String architecture, int embeddingDim,
                           String embeddingPooling, String weightsSha256, String onnxSha256) {
    }

    /**
     * @param kind        {@code linear} or {@code mlp}
     * @param dimension   embedding width the head takes
     * @param normalization what the head applies to an embedding first ({@code head.json}'s record)
     * @param onnxSha256  sha256 of the head's own {@code head.onnx} that was fused
     * @param trainedAt   ISO-8601 time of training
     * @param toolVersion vitfit version that trained the head
     * @param training    the training options {@code head.json} records
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record HeadInfo(String kind, int dimension, JsonNode normalization, String onnxSha256, String trainedAt,
                           String toolVersion, JsonNode training) {
    }

    /**
     * The one figure a user should see before shipping the classifier: accuracy (multi-class) or micro-F1
     * (multi-label) on the test split, else validation, else the out-of-fold cross-validation figures of a head
     * that had no held-out rows.
     */
    public record Headline(String split, String name, double value, int examples) {
    }

    /** {@link Headline} from {@link #metrics()}, or null when the head recorded none. */
    public Headline headline() {
        if (metrics == null) {
            return null;
        }
        for (String split : List.of("test", "validation", "crossValidation")) {
            JsonNode s = metrics.path(split);
            for (String key : List.of("accuracy", "microF1")) {
                if (s.path(key).isNumber() && Double.isFinite(s.path(key).asDouble())) {
                    return new Headline(split, key, s.path(key).asDouble(), s.path("examples").asInt());
                }
            }
        }
        return null;
    }

    public boolean multiLabel() {
        return MULTILABEL.equals(task);
    }

    /** Parses the JSON form; {@code where} names the file or property in errors. */
    public static ClassifierDescriptor parse(byte[] json, String where) throws IOException {
        ClassifierDescriptor d;
        try {
            d = JSON.readValue(json, ClassifierDescriptor.class);
        } catch (IOException e) {
            throw new IOException(where + ": unreadable classifier description: " + e.getMessage(), e);
        }
        d.validate(where);
        return d;
    }

    /** Checks the fields a reader relies on, naming {@code where} and what is wrong. */
    public void validate(String where) throws IOException {
        if (!FORMAT.equals(format)) {
            throw new IOException(where + ": format is '" + format + "', expected '" + FORMAT
                    + "'; export a classifier with 'vitfit export'");
        }
        if (formatVersion > FORMAT_VERSION || formatVersion < 1) {
            throw new IOException(where + ": classifier format version " + formatVersion + " is not one this vitfit"
                    + " reads (1.." + FORMAT_VERSION + "); use a newer vitfit runtime");
        }
        if (!MULTICLASS.equals(task) && !MULTILABEL.equals(task)) {
            throw new IOException(where + ": task is '" + task + "', expected " + MULTICLASS + " or " + MULTILABEL);
        }
        if (labels == null || labels.isEmpty()) {
            throw new IOException(where + ": no labels");
        }
        if (multiLabel() && (thresholds == null || thresholds.length != labels.size())) {
            throw new IOException(where + ": a multi-label classifier needs one threshold per label ("
                    + labels.size() + "), found " + (thresholds == null ? "none" : thresholds.length));
        }
        if (preprocessing == null || imageHeight < 1 || imageWidth < 1) {
            throw new IOException(where + ": no preprocessing recipe or input size");
        }
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
