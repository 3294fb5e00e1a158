package org.vitfit.heads;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.tribuo.Example;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.ONNXExportable;
import org.tribuo.Output;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.multilabel.MultiLabelFactory;
import org.tribuo.util.onnx.ONNXContext;
import org.tribuo.util.onnx.ONNXPlaceholder;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.Finite;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A trained head: the Tribuo model plus what surrounds it (labels, input normalisation, multi-label thresholds,
 * the backbone it belongs to). Saved as a directory holding {@code head.json}, {@code model.tribuo} (Tribuo's
 * protobuf serialisation) and {@code head.onnx} (normalisation and model in one graph).
 */
public final class Head {

    public static final String HEAD_JSON = "head.json";
    public static final String MODEL_FILE = "model.tribuo";
    public static final String ONNX_FILE = "head.onnx";
    public static final String ONNX_INPUT = "embedding";
    public static final String ONNX_OUTPUT = "scores";

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final HeadMetadata metadata;
    private final Model<?> model;
    private final String[] featureNames;

    Head(HeadMetadata metadata, Model<?> model) {
        this.metadata = metadata;
        this.model = model;
        this.featureNames = FeatureNames.of(metadata.dimension());
        List<String> modelLabels = outputOrder(model);
        if (!modelLabels.equals(metadata.labels())) {
            throw new IllegalArgumentException("head labels " + metadata.labels()
                    + " do not match the model's output order " + modelLabels);
        }
        if (model.getFeatureIDMap().size() != metadata.dimension()) {
            throw new IllegalArgumentException("head expects " + metadata.dimension() + "-dimensional embeddings but "
                    + "its model has " + model.getFeatureIDMap().size() + " features");
        }
        boolean multiLabel = model.validate(MultiLabel.class);
        if (multiLabel != (metadata.task() == HeadTask.MULTILABEL)) {
            throw new IllegalArgumentException("head.json says " + metadata.task().jsonName() + " but the model predicts "
                    + (multiLabel ? "MultiLabel" : "Label"));
        }
        if (multiLabel && (metadata.thresholds() == null
                || metadata.thresholds().values().length != metadata.labels().size())) {
            throw new IllegalArgumentException("a multi-label head needs one threshold per label ("
                    + metadata.labels().size() + ")");
        }
    }

    /** Label names in output-id order. */
    static List<String> outputOrder(Model<?> model) {
        ImmutableOutputInfo<?> info = model.getOutputIDInfo();
        List<String> labels = new ArrayList<>(info.size());
        for (int id = 0; id < info.size(); id++) {
            Output<?> o = info.getOutput(id);
            labels.add(o instanceof Label l ? l.getLabel() : ((MultiLabel) o).getLabelString());
        }
        return labels;
    }

    public HeadMetadata metadata() {
        return metadata;
    }

    public Model<?> model() {
        return model;
    }

    public HeadKind kind() {
        return metadata.kind();
    }

    public HeadTask task() {
        return metadata.task();
    }

    public List<String> labels() {
        return metadata.labels();
    }

    public int dimension() {
        return metadata.dimension();
    }

    public Normalization normalization() {
        return metadata.normalization();
    }

    /** Multi-label thresholds, or null for a multi-class head. */
    public Thresholds thresholds() {
        return metadata.thresholds();
    }

    /** Scores and decision for one raw embedding (the head applies its own normalisation). */
    public HeadPrediction predict(float[] embedding) {
        float[] scores = scores(embedding);
        List<String> predicted = new ArrayList<>();
        if (task() == HeadTask.MULTICLASS) {
            int best = 0;
            for (int j = 1; j < scores.length; j++) {
                if (scores[j] > scores[best]) {
                    best = j;
                }
            }
            predicted.add(labels().get(best));
        } else {
            float[] t = thresholds().values();
            for (int j = 0; j < scores.length; j++) {
                if (scores[j] > t[j]) {
                    predicted.add(labels().get(j));
                }
            }
        }
        return new HeadPrediction(labels(), scores, List.copyOf(predicted));
    }

    /** Probabilities for one raw embedding, in label order. */
    public float[] scores(float[] embedding) {
        checkDimension(embedding.length, "the embedding");
        for (int j = 0; j < embedding.length; j++) {
            if (!Float.isFinite(embedding[j])) {
                throw new IllegalArgumentException("embedding component " + j + " is " + embedding[j]);
            }
        }
        return scoreRows(embedding, 1);
    }

    /** Probabilities {@code [rows.length][labels]} for rows of {@code set}. */
    public float[] scores(EmbeddingSet set, int[] rows) {
        checkDimension(set.dimension(), set.source());
        int d = dimension();
        float[] raw = new float[rows.length * d];
        float[] data = set.data();
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(data, rows[i] * d, raw, i * d, d);
        }
        return scoreRows(raw, rows.length);
    }

    private float[] scoreRows(float[] raw, int n) {
        int d = dimension();
        int k = labels().size();
        float[] x = new float[n * d];
        for (int i = 0; i < n; i++) {
            normalization().apply(raw, i * d, x, i * d, d);
        }
        if (model instanceof MLPModel<?> mlp) {
            return mlp.probabilities(x, n);
        }
        float[] out = new float[n * k];
        for (int i = 0; i < n; i++) {
            Prediction<?> p = predictTribuo(x, i * d);
            var scores = p.getOutputScores();
            for (int j = 0; j < k; j++) {
                String name = labels().get(j);
                Output<?> o = scores.get(name);
                out[i * k + j] = (float) (o instanceof Label l ? l.getScore()
                        : ((MultiLabel) o).getLabelScore(new Label(name)).orElse(((MultiLabel) o).getScore()));
            }
        }
        return out;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Prediction<?> predictTribuo(float[] x, int offset) {
        Output<?> unknown = task() == HeadTask.MULTICLASS ? LabelFactory.UNKNOWN_LABEL : MultiLabelFactory.UNKNOWN_MULTILABEL;
        Example example = FeatureNames.example((Output) unknown, featureNames, x, offset, dimension());
        return ((Model) model).predict(example);
    }

    private void checkDimension(int d, String what) {
        if (d != dimension()) {
            throw new IllegalArgumentException(what + " has dimension " + d + " but this head was trained on "
                    + dimension() + "-dimensional embeddings; use embeddings of the same backbone ("
                    + (metadata.backboneModelSha256() == null ? "unknown" : "model sha256 " + metadata.backboneModelSha256())
                    + ")");
        }
    }

    /** The whole head (normalisation and model) as an ONNX graph: {@code embedding [n][d]} to {@code scores [n][k]}. */
    public OnnxMl.ModelProto toOnnx() {
        ONNXContext onnx = new ONNXContext();
        onnx.setName("vitfit-" + kind().jsonName() + "-head");
        ONNXPlaceholder input = onnx.floatInput(ONNX_INPUT, dimension());
        ONNXPlaceholder output = onnx.floatOutput(ONNX_OUTPUT, labels().size());
        ((ONNXExportable) model).writeONNXGraph(normalization().writeONNXGraph(input)).assignTo(output);
        return ONNXExportable.buildModel(onnx, "org.vitfit.heads", 1, model);
    }

    /**
     * Saves into {@code dir}, which must not exist or be empty; all files appear at once or not at all
     * ({@link SafeOutput}, kind {@link OutputKind#HEAD}).
     */
    public void save(Path dir) throws IOException {
        SafeOutput.writeDirectory(dir, OutputKind.HEAD, false, List.of(), tmp -> {
            writeFiles(tmp);
            return null;
        });
    }

    /** Writes {@code head.json}, {@code model.tribuo} and {@code head.onnx} into an existing directory. */
    void writeFiles(Path dir) throws IOException {
        model.serializeToFile(dir.resolve(MODEL_FILE));
        try (OutputStream out = Files.newOutputStream(dir.resolve(ONNX_FILE))) {
            toOnnx().writeTo(out);
        }
        JSON.writeValue(dir.resolve(HEAD_JSON).toFile(), metadata);
    }

    /**
     * head.json's numbers are applied to every embedding: one NaN or infinity there (a damaged or edited file; a float
     * past 3.4e38 reads as infinity) would make every score NaN and every decision arbitrary.
     */
    private static void requireFinite(Path json, String field, float[] values) throws IOException {
        int bad = values == null ? -1 : Finite.firstNonFinite(values);
        if (bad >= 0) {
            throw new IOException(json + ": " + field + " holds " + values[bad] + " at index " + bad
                    + "; the file is damaged or was edited - train the head again");
        }
    }

    /** Loads a head saved by {@link #save}. */
    public static Head load(Path dir) throws IOException {
        Path json = dir.resolve(HEAD_JSON);
        if (!Files.isRegularFile(json)) {
            throw new NoSuchFileException(json.toString(), null,
                    "not a vitfit head directory (no " + HEAD_JSON + "); train one with 'vitfit train'");
        }
        HeadMetadata meta;
        try {
            meta = JSON.readValue(json.toFile(), HeadMetadata.class);
        } catch (IOException e) {
            throw new IOException(json + ": unreadable head description: " + e.getMessage(), e);
        }
        if (!HeadMetadata.FORMAT.equals(meta.format()) || meta.formatVersion() > HeadMetadata.FORMAT_VERSION) {
            throw new IOException(json + ": format " + meta.format() + " v" + meta.formatVersion()
                    + " is not a head this vitfit can read (" + HeadMetadata.FORMAT + " v" + HeadMetadata.FORMAT_VERSION + ")");
        }
        requireFinite(json, "normalization.mean", meta.normalization() == null ? null : meta.normalization().mean());
        requireFinite(json, "normalization.invStd", meta.normalization() == null ? null
                : meta.normalization().invStd());
        requireFinite(json, "thresholds", meta.thresholds() == null ? null : meta.thresholds().values());
        Path modelPath = dir.resolve(meta.modelFile() == null ? MODEL_FILE : meta.modelFile());
        Model<?> model;
        try {
            model = Model.deserializeFromFile(modelPath);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(modelPath.toString(), null, "head.json is there but the model file is missing");
        } catch (IOException | RuntimeException e) {
            throw new IOException(modelPath + ": cannot read the Tribuo model: " + e.getMessage(), e);
        }
        try {
            return new Head(meta, model);
        } catch (IllegalArgumentException e) {
            throw new IOException(dir + ": inconsistent head: " + e.getMessage(), e);
        }
    }
}
