package org.vitfit.heads;

import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.classification.Label;
import org.tribuo.provenance.ModelProvenance;

/** Trains an {@link MLPClassificationModel}: softmax output, cross-entropy loss. */
public final class MLPClassificationTrainer extends MLPTrainer<Label> {

    /** For OLCUT's configuration system. */
    private MLPClassificationTrainer() {
    }

    public MLPClassificationTrainer(MLPOptions options) {
        super(options);
    }

    @Override
    protected Objective objective() {
        return Objective.SOFTMAX_CROSS_ENTROPY;
    }

    @Override
    protected void encodeTarget(Label output, ImmutableOutputInfo<Label> info, float[] dst, int offset) {
        int id = info.getID(output);
        if (id < 0) {
            throw new IllegalArgumentException("label '" + output.getLabel() + "' is not among the training labels "
                    + info.getDomain());
        }
        dst[offset + id] = 1f;
    }

    @Override
    protected MLPModel<Label> createModel(String name, ModelProvenance provenance, ImmutableFeatureMap features,
                                          ImmutableOutputInfo<Label> outputs, MlpNetwork network) {
        return new MLPClassificationModel(name, provenance, features, outputs, network);
    }

    @Override
    protected String modelClassName() {
        return MLPClassificationModel.class.getName();
    }
}
