package org.vitfit.heads;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import org.tribuo.Example;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;
import org.tribuo.provenance.ModelProvenance;

import java.util.LinkedHashMap;
import java.util.Map;

/** An MLP multi-class classifier: softmax over the classes, predicting the most probable one. */
public final class MLPClassificationModel extends MLPModel<Label> {

    private static final long serialVersionUID = 1L;

    MLPClassificationModel(String name, ModelProvenance provenance, ImmutableFeatureMap featureIDMap,
                           ImmutableOutputInfo<Label> outputIDInfo, MlpNetwork network) {
        super(name, provenance, featureIDMap, outputIDInfo, network);
    }

    /** Called reflectively by Tribuo's {@code Model.deserialize} for protobuf-serialised models. */
    public static MLPClassificationModel deserializeFromProto(int version, String className, Any message)
            throws InvalidProtocolBufferException {
        Restored<Label> r = restore(version, className, message, Label.class);
        return new MLPClassificationModel(r.carrier().name(), r.carrier().provenance(), r.carrier().featureDomain(),
                r.outputs(), r.network());
    }

    @Override
    Objective objective() {
        return Objective.SOFTMAX_CROSS_ENTROPY;
    }

    @Override
    public Prediction<Label> predict(Example<Label> example) {
        int[] used = new int[1];
        float[] p = probabilities(dense(example, used), 1);
        Map<String, Label> scores = new LinkedHashMap<>();
        Label best = null;
        for (int id = 0; id < p.length; id++) {
            Label label = new Label(outputIDInfo.getOutput(id).getLabel(), p[id]);
            scores.put(label.getLabel(), label);
            if (best == null || label.getScore() > best.getScore()) {
                best = label;
            }
        }
        return new Prediction<>(best, scores, used[0], example, true);
    }

    @Override
    protected MLPClassificationModel copy(String newName, ModelProvenance newProvenance) {
        return new MLPClassificationModel(newName, newProvenance, featureIDMap, outputIDInfo, network.copy());
    }
}
