package org.vitfit.heads;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import org.tribuo.Example;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.provenance.ModelProvenance;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An MLP multi-label classifier: one sigmoid per label; {@link #predict} returns the labels above 0.5, as Tribuo's
 * linear multi-label model does (tuned thresholds are applied by {@link Head}).
 */
public final class MLPMultiLabelModel extends MLPModel<MultiLabel> {

    private static final long serialVersionUID = 1L;

    MLPMultiLabelModel(String name, ModelProvenance provenance, ImmutableFeatureMap featureIDMap,
                       ImmutableOutputInfo<MultiLabel> outputIDInfo, MlpNetwork network) {
        super(name, provenance, featureIDMap, outputIDInfo, network);
    }

    /** Called reflectively by Tribuo's {@code Model.deserialize} for protobuf-serialised models. */
    public static MLPMultiLabelModel deserializeFromProto(int version, String className, Any message)
            throws InvalidProtocolBufferException {
        Restored<MultiLabel> r = restore(version, className, message, MultiLabel.class);
        return new MLPMultiLabelModel(r.carrier().name(), r.carrier().provenance(), r.carrier().featureDomain(),
                r.outputs(), r.network());
    }

    @Override
    Objective objective() {
        return Objective.SIGMOID_BINARY_CROSS_ENTROPY;
    }

    @Override
    public Prediction<MultiLabel> predict(Example<MultiLabel> example) {
        int[] used = new int[1];
        float[] p = probabilities(dense(example, used), 1);
        Map<String, MultiLabel> scores = new LinkedHashMap<>();
        Set<Label> predicted = new HashSet<>();
        for (int id = 0; id < p.length; id++) {
            Label label = new Label(outputIDInfo.getOutput(id).getLabelString(), p[id]);
            scores.put(label.getLabel(), new MultiLabel(label));
            if (p[id] > 0.5f) {
                predicted.add(label);
            }
        }
        return new Prediction<>(new MultiLabel(predicted), scores, used[0], example, true);
    }

    @Override
    protected MLPMultiLabelModel copy(String newName, ModelProvenance newProvenance) {
        return new MLPMultiLabelModel(newName, newProvenance, featureIDMap, outputIDInfo, network.copy());
    }
}
