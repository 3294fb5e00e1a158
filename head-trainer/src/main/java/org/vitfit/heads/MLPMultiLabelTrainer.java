package org.vitfit.heads;

import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.classification.Label;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.provenance.ModelProvenance;

/** Trains an {@link MLPMultiLabelModel}: one sigmoid per label, binary cross-entropy loss. */
public final class MLPMultiLabelTrainer extends MLPTrainer<MultiLabel> {

    /** For OLCUT's configuration system. */
    private MLPMultiLabelTrainer() {
    }

    public MLPMultiLabelTrainer(MLPOptions options) {
        super(options);
    }

    @Override
    protected Objective objective() {
        return Objective.SIGMOID_BINARY_CROSS_ENTROPY;
    }

    @Override
    protected void encodeTarget(MultiLabel output, ImmutableOutputInfo<MultiLabel> info, float[] dst, int offset) {
        for (Label label : output.getLabelSet()) {
            int id = info.getID(new MultiLabel(label.getLabel()));
            if (id < 0) {
                throw new IllegalArgumentException("label '" + label.getLabel() + "' is not among the training labels");
            }
            dst[offset + id] = 1f;
        }
    }

    @Override
    protected MLPModel<MultiLabel> createModel(String name, ModelProvenance provenance, ImmutableFeatureMap features,
                                               ImmutableOutputInfo<MultiLabel> outputs, MlpNetwork network) {
        return new MLPMultiLabelModel(name, provenance, features, outputs, network);
    }

    @Override
    protected String modelClassName() {
        return MLPMultiLabelModel.class.getName();
    }
}
