package org.vitfit.heads;

import com.google.protobuf.Any;
import com.oracle.labs.mlrg.olcut.provenance.Provenance;
import com.oracle.labs.mlrg.olcut.provenance.primitives.StringProvenance;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.MutableDataset;
import org.tribuo.Output;
import org.tribuo.Tribuo;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.classification.sgd.objectives.LogMulticlass;
import org.tribuo.classification.sgd.protos.ClassificationLinearSGDProto;
import org.tribuo.impl.ModelDataCarrier;
import org.tribuo.math.LinearParameters;
import org.tribuo.math.la.DenseMatrix;
import org.tribuo.math.optimisers.AdaGrad;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.multilabel.MultiLabelFactory;
import org.tribuo.multilabel.sgd.objectives.BinaryCrossEntropy;
import org.tribuo.multilabel.sgd.protos.MultiLabelLinearSGDProto;
import org.tribuo.protos.core.ModelDataProto;
import org.tribuo.protos.core.ModelProto;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.tribuo.provenance.TrainerProvenance;
import org.vitfit.runtime.Finite;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds a linear {@link Head} from weights trained elsewhere (Spark MLlib's logistic regression, vitfit finetune, the
 * L-BFGS trainer), so such a head is saved, loaded, evaluated and exported exactly like any other.
 *
 * <p>Tribuo's linear models have no public constructor; the one public way in is their protobuf form, which is what
 * this class writes: the model's metadata (feature and output domains from a dataset holding one placeholder row per
 * label, never fitted), the given weights as {@link LinearParameters}, and the normaliser (and, multi-label, the
 * decision threshold) of the objective Tribuo's own linear trainer would have used. Nothing is trained, so nothing is
 * logged; the provenance says where the weights came from.
 */
public final class LinearHeads {

    private static final String WEIGHT_ADVICE = "the solver diverged; lower the learning rate (--lr) or C";

    private LinearHeads() {
    }

    /**
     * A linear head computing {@code softmax(W x + b)} (multi-class) or {@code sigmoid(W x + b)} per label
     * (multi-label) on {@code x = normalization(embedding)}.
     *
     * @param task            multi-class or multi-label
     * @param labels          label names; row {@code j} of {@code weights} and {@code biases[j]} belong to label j
     * @param weights         {@code [labels][dimension]}, on normalised embeddings
     * @param biases          {@code [labels]}
     * @param normalization   what the head applies to a raw embedding first (fitted on the training rows)
     * @param thresholds      multi-label decision thresholds (one per label, in {@code labels} order); null for
     *                        multi-class
     * @param backboneSha256  sha256 of the model whose embeddings trained the head, or null when unknown
     * @param trainedBy       where the weights came from, recorded in the model provenance
     * @param training        the training options, recorded in {@code head.json}
     */
    public static Head fromWeights(HeadTask task, List<String> labels, float[][] weights, float[] biases,
                                   Normalization normalization, Thresholds thresholds, String backboneSha256,
                                   String trainedBy, Map<String, Object> training) {
        int k = labels.size();
        if (k < 2) {
            throw new IllegalArgumentException("a head needs at least 2 labels, got " + labels);
        }
        if (Set.copyOf(labels).size() != k) {
            throw new IllegalArgumentException("duplicate label names in " + labels);
        }
        if (weights.length != k || biases.length != k) {
            throw new IllegalArgumentException(k + " labels but " + weights.length + " weight rows and "
                    + biases.length + " biases");
        }
        int d = weights[0].length;
        for (int j = 0; j < k; j++) {
            if (weights[j].length != d) {
                throw new IllegalArgumentException("weight row " + j + " (" + labels.get(j) + ") has " + weights[j].length
                        + " values, row 0 has " + d);
            }
            for (int i = 0; i < d; i++) {
                if (!Float.isFinite(weights[j][i])) {
                    throw new IllegalArgumentException("weight [" + labels.get(j) + "][" + i + "] is " + weights[j][i]);
                }
            }
            if (!Float.isFinite(biases[j])) {
                throw new IllegalArgumentException("bias of " + labels.get(j) + " is " + biases[j]);
            }
        }
        if (normalization.standardize() && normalization.mean().length != d) {
            throw new IllegalArgumentException("normalisation is for " + normalization.mean().length
                    + "-dimensional embeddings, the weights for " + d);
        }
        boolean multiLabel = task == HeadTask.MULTILABEL;
        if (multiLabel && (thresholds == null || thresholds.values().length != k)) {
            throw new IllegalArgumentException("a multi-label head needs one threshold per label (" + k + ")");
        }

        Map<String, Provenance> provenance = new HashMap<>();
        provenance.put("vitfit-weights", new StringProvenance("vitfit-weights", trainedBy));
        if (backboneSha256 != null) {
            provenance.put("vitfit-backbone-sha256", new StringProvenance("vitfit-backbone-sha256", backboneSha256));
        }
        Model<?> model = model(task, labels, weights, biases, provenance);
        List<String> order = Head.outputOrder(model);
        float[] orderedThresholds = null;
        if (multiLabel) {
            orderedThresholds = new float[k];
            for (int id = 0; id < k; id++) {
                orderedThresholds[id] = thresholds.values()[labels.indexOf(order.get(id))];
            }
        }
        HeadMetadata metadata = new HeadMetadata(HeadMetadata.FORMAT, HeadMetadata.FORMAT_VERSION, HeadKind.LINEAR,
                task, order, d, normalization,
                multiLabel ? new Thresholds(thresholds.mode(), orderedThresholds) : null, backboneSha256,
                Head.MODEL_FILE, Head.ONNX_FILE, Head.ONNX_INPUT, Head.ONNX_OUTPUT, model.getClass().getName(),
                OffsetDateTime.now(ZoneOffset.UTC).toString(), HeadTrainer.toolVersion(), training);
        return new Head(metadata, model);
    }

    /**
     * The Tribuo linear model ({@code LinearSGDModel}, softmax or sigmoid) computing {@code weights x + biases}:
     * {@code weights[j]} and {@code biases[j]} belong to {@code labels.get(j)}; the model's own output order may
     * differ ({@link Head#outputOrder}). Weights and biases are checked to be finite.
     */
    static Model<?> model(HeadTask task, List<String> labels, float[][] weights, float[] biases,
                          Map<String, Provenance> provenance) {
        int k = labels.size();
        int d = weights[0].length;
        for (int j = 0; j < k; j++) {
            Finite.require(weights[j], "the weights of '" + labels.get(j) + "'", WEIGHT_ADVICE);
        }
        Finite.require(biases, "the biases", WEIGHT_ADVICE);
        boolean multiLabel = task == HeadTask.MULTILABEL;
        MutableDataset<?> domains = multiLabel ? multiLabelDomains(labels, d) : multiClassDomains(labels, d);
        ImmutableOutputInfo<?> outputs = domains.getOutputIDInfo();
        List<String> order = new ArrayList<>(k);
        for (int id = 0; id < k; id++) {
            Output<?> o = outputs.getOutput(id);
            order.add(o instanceof Label l ? l.getLabel() : ((MultiLabel) o).getLabelString());
        }
        int[] rowOf = new int[k];
        for (int id = 0; id < k; id++) {
            rowOf[id] = labels.indexOf(order.get(id));
        }
        // Tribuo's LinearParameters: one row per output id, one column per feature id, the bias in the last column
        DenseMatrix w = new DenseMatrix(k, d + 1);
        for (int id = 0; id < k; id++) {
            float[] row = weights[rowOf[id]];
            for (int i = 0; i < d; i++) {
                w.set(id, i, row[i]);
            }
            w.set(id, d, biases[rowOf[id]]);
        }
        Model<?> model = linearModel(multiLabel, domains, new LinearParameters(w), provenance);
        // Guards the layout assumed above against a Tribuo version that changes it.
        if (model.getFeatureIDMap().size() != d || !Head.outputOrder(model).equals(order)) {
            throw new IllegalStateException("Tribuo laid out " + model.getFeatureIDMap().size() + " features and "
                    + "outputs " + Head.outputOrder(model) + " for " + d + "-dimensional weights over " + order
                    + "; this Tribuo version is not supported by LinearHeads");
        }
        return model;
    }

    /** One placeholder row per label: fixes the feature and output domains, and is never fitted. */
    private static MutableDataset<Label> multiClassDomains(List<String> labels, int d) {
        LabelFactory factory = new LabelFactory();
        MutableDataset<Label> ds = new MutableDataset<>(placeholderSource(factory), factory);
        String[] names = FeatureNames.of(d);
        float[] ones = ones(d);
        for (String label : labels) {
            ds.add(FeatureNames.example(new Label(label), names, ones, 0, d));
        }
        return ds;
    }

    private static MutableDataset<MultiLabel> multiLabelDomains(List<String> labels, int d) {
        MultiLabelFactory factory = new MultiLabelFactory();
        MutableDataset<MultiLabel> ds = new MutableDataset<>(placeholderSource(factory), factory);
        String[] names = FeatureNames.of(d);
        float[] ones = ones(d);
        for (String label : labels) {
            ds.add(FeatureNames.example(new MultiLabel(label), names, ones, 0, d));
        }
        return ds;
    }

    /**
     * The Tribuo linear model Tribuo's own linear SGD trainer would return with these parameters: softmax
     * ({@link LogMulticlass}'s normaliser) or per-label sigmoid and threshold ({@link BinaryCrossEntropy}'s), read
     * back through {@link Model#deserialize} from the protobuf form written here.
     */
    private static Model<?> linearModel(boolean multiLabel, MutableDataset<?> domains, LinearParameters parameters,
                                        Map<String, Provenance> instanceProvenance) {
        TrainerProvenance trainer;
        String className;
        if (multiLabel) {
            trainer = new org.tribuo.multilabel.sgd.linear.LinearSGDTrainer(new BinaryCrossEntropy(),
                    new AdaGrad(0.1), 1, 1, 1, 1L).getProvenance();
            className = org.tribuo.multilabel.sgd.linear.LinearSGDModel.class.getName();
        } else {
            trainer = new org.tribuo.classification.sgd.linear.LinearSGDTrainer(new LogMulticlass(),
                    new AdaGrad(0.1), 1, 1, 1, 1L).getProvenance();
            className = org.tribuo.classification.sgd.linear.LinearSGDModel.class.getName();
        }
        ModelProvenance provenance = new ModelProvenance(className, OffsetDateTime.now(ZoneOffset.UTC),
                domains.getProvenance(), trainer, instanceProvenance);
        ModelDataProto metadata = metadata(domains, provenance);
        Any data;
        int version;
        if (multiLabel) {
            BinaryCrossEntropy objective = new BinaryCrossEntropy();
            data = Any.pack(MultiLabelLinearSGDProto.newBuilder().setMetadata(metadata)
                    .setParams(parameters.serialize()).setNormalizer(objective.getNormalizer().serialize())
                    .setThreshold(objective.threshold()).build());
            version = org.tribuo.multilabel.sgd.linear.LinearSGDModel.CURRENT_VERSION;
        } else {
            data = Any.pack(ClassificationLinearSGDProto.newBuilder().setMetadata(metadata)
                    .setParams(parameters.serialize()).setNormalizer(new LogMulticlass().getNormalizer().serialize())
                    .build());
            version = org.tribuo.classification.sgd.linear.LinearSGDModel.CURRENT_VERSION;
        }
        return Model.deserialize(ModelProto.newBuilder().setVersion(version).setClassName(className)
                .setSerializedData(data).build());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static ModelDataProto metadata(MutableDataset<?> domains, ModelProvenance provenance) {
        return new ModelDataCarrier("linear-sgd-model", provenance, domains.getFeatureIDMap(),
                domains.getOutputIDInfo(), true, Tribuo.VERSION).serialize();
    }

    private static <T extends org.tribuo.Output<T>> SimpleDataSourceProvenance placeholderSource(
            org.tribuo.OutputFactory<T> factory) {
        return new SimpleDataSourceProvenance("one placeholder row per label (model domains only; never fitted)",
                factory);
    }

    private static float[] ones(int d) {
        float[] x = new float[d];
        java.util.Arrays.fill(x, 1f);
        return x;
    }
}
