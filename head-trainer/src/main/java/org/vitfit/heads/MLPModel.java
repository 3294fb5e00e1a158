package org.vitfit.heads;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.oracle.labs.mlrg.olcut.util.Pair;
import org.tribuo.Example;
import org.tribuo.Excuse;
import org.tribuo.Feature;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.Model;
import org.tribuo.ONNXExportable;
import org.tribuo.Output;
import org.tribuo.impl.ModelDataCarrier;
import org.tribuo.protos.core.ModelProto;
import org.tribuo.provenance.ModelProvenance;
import org.tribuo.util.onnx.ONNXContext;
import org.tribuo.util.onnx.ONNXInitializer;
import org.tribuo.util.onnx.ONNXNode;
import org.tribuo.util.onnx.ONNXOperators;
import org.tribuo.util.onnx.ONNXPlaceholder;
import org.tribuo.util.onnx.ONNXRef;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A trained {@link MlpNetwork} as a Tribuo {@link Model}: dense inputs in feature-id order, outputs in output-id
 * order, probabilities from softmax (classification) or per-label sigmoids (multi-label). Serialises through
 * Tribuo's protobuf format and exports to ONNX.
 */
public abstract class MLPModel<T extends Output<T>> extends Model<T> implements ONNXExportable {

    private static final long serialVersionUID = 1L;
    public static final int CURRENT_VERSION = 0;

    /** What a protobuf-serialised MLP model holds, checked to have the output type the caller restores. */
    record Restored<T extends Output<T>>(ModelDataCarrier<?> carrier, ImmutableOutputInfo<T> outputs,
                                         MlpNetwork network) {
    }

    /** The shared half of each subclass's {@code deserializeFromProto}: version check, unpacking, domain check. */
    @SuppressWarnings("unchecked")
    static <T extends Output<T>> Restored<T> restore(int version, String className, Any message,
                                                     Class<T> outputType)
            throws InvalidProtocolBufferException {
        if (version < 0 || version > CURRENT_VERSION) {
            throw new IllegalArgumentException("Unknown version " + version + " of " + className
                    + ", this class supports at most version " + CURRENT_VERSION);
        }
        MlpProtos.Unpacked u = MlpProtos.unpack(message);
        ModelDataCarrier<?> carrier = ModelDataCarrier.deserialize(u.metadata());
        if (!outputType.equals(carrier.outputDomain().getDomain().iterator().next().getClass())) {
            throw new IllegalStateException("Invalid protobuf: " + className + " needs a "
                    + outputType.getSimpleName() + " output domain");
        }
        return new Restored<>(carrier, (ImmutableOutputInfo<T>) carrier.outputDomain(), u.network());
    }

    protected final MlpNetwork network;

    protected MLPModel(String name, ModelProvenance provenance, ImmutableFeatureMap featureIDMap,
                       ImmutableOutputInfo<T> outputIDInfo, MlpNetwork network) {
        super(name, provenance, featureIDMap, outputIDInfo, true);
        if (network.inputSize() != featureIDMap.size() || network.outputSize() != outputIDInfo.size()) {
            throw new IllegalArgumentException("network maps " + network.inputSize() + " -> " + network.outputSize()
                    + " but the domains have " + featureIDMap.size() + " features and " + outputIDInfo.size() + " outputs");
        }
        this.network = network;
    }

    abstract Objective objective();

    /** The network's layer sizes: input, hidden..., output. */
    public int[] layerSizes() {
        return network.sizes();
    }

    public Activation activation() {
        return network.activation();
    }

    /** Probabilities for a batch of dense rows {@code [n][featureIDMap.size()]}, in output-id order. */
    public float[] probabilities(float[] rows, int n) {
        float[] out = network.logits(rows, n);
        objective().probabilities(out, n, network.outputSize());
        return out;
    }

    /** Dense feature vector of {@code example}; returns the number of known features in {@code used[0]}. */
    protected float[] dense(Example<T> example, int[] used) {
        float[] x = new float[featureIDMap.size()];
        int count = 0;
        for (Feature f : example) {
            int id = featureIDMap.getID(f.getName());
            if (id >= 0) {
                x[id] = (float) f.getValue();
                count++;
            }
        }
        if (count == 0) {
            throw new IllegalArgumentException("No features found in Example " + example);
        }
        used[0] = count;
        return x;
    }

    /** An MLP has no per-feature weights to rank, like Tribuo's other neural models. */
    @Override
    public Map<String, List<Pair<String, Double>>> getTopFeatures(int n) {
        return Collections.emptyMap();
    }

    @Override
    public Optional<Excuse<T>> getExcuse(Example<T> example) {
        return Optional.empty();
    }

    @Override
    public ModelProto serialize() {
        ModelDataCarrier<T> carrier = createDataCarrier();
        return ModelProto.newBuilder()
                .setVersion(CURRENT_VERSION)
                .setClassName(getClass().getName())
                .setSerializedData(MlpProtos.pack(carrier.serialize(), network))
                .build();
    }

    @Override
    public ONNXNode writeONNXGraph(ONNXRef<?> input) {
        ONNXContext onnx = input.onnxContext();
        ONNXRef<?> a = input;
        for (int l = 0; l < network.layers(); l++) {
            int in = network.sizes()[l];
            int out = network.sizes()[l + 1];
            float[] w = network.weights(l);
            float[] b = network.bias(l);
            ONNXInitializer weights = onnx.floatTensor("mlp_w" + l, Arrays.asList(in, out), fb -> fb.put(w));
            ONNXInitializer bias = onnx.floatTensor("mlp_b" + l, Collections.singletonList(out), fb -> fb.put(b));
            ONNXNode z = a.apply(ONNXOperators.GEMM, Arrays.asList(weights, bias));
            if (l == network.layers() - 1) {
                return objective() == Objective.SOFTMAX_CROSS_ENTROPY
                        ? z.apply(ONNXOperators.SOFTMAX)
                        : z.apply(ONNXOperators.SIGMOID);
            }
            a = activationGraph(onnx, z);
        }
        throw new IllegalStateException("an MLP has at least one layer");
    }

    private ONNXNode activationGraph(ONNXContext onnx, ONNXNode z) {
        if (network.activation() == Activation.RELU) {
            return z.apply(OnnxOps.RELU);
        }
        // exact GELU: 0.5 * z * (1 + erf(z / sqrt(2)))
        ONNXNode erf = z.apply(ONNXOperators.MUL, onnx.constant("inv_sqrt2", (float) (1 / Math.sqrt(2))))
                .apply(OnnxOps.ERF);
        ONNXNode onePlus = erf.apply(ONNXOperators.ADD, onnx.constant("one", 1f));
        return z.apply(ONNXOperators.MUL, onePlus).apply(ONNXOperators.MUL, onnx.constant("half", 0.5f));
    }

    @Override
    public OnnxMl.ModelProto exportONNXModel(String domain, long modelVersion) {
        ONNXContext onnx = new ONNXContext();
        onnx.setName("vitfit-mlp-head");
        ONNXPlaceholder input = onnx.floatInput("input", featureIDMap.size());
        ONNXPlaceholder output = onnx.floatOutput("output", outputIDInfo.size());
        writeONNXGraph(input).assignTo(output);
        return ONNXExportable.buildModel(onnx, domain, modelVersion, this);
    }
}
