package org.vitfit.heads;

import org.tribuo.util.onnx.ONNXAttribute;
import org.tribuo.util.onnx.ONNXOperator;
import org.tribuo.util.onnx.ONNXOperators;

import java.util.Collections;
import java.util.Map;
import java.util.Set;

/** Standard ONNX operators the MLP head needs that Tribuo's {@link ONNXOperators} does not list. */
enum OnnxOps implements ONNXOperator {
    RELU("Relu", 1),
    ERF("Erf", 1),
    SQRT("Sqrt", 1),
    MAX("Max", 2);

    private final String opName;
    private final int inputs;

    OnnxOps(String opName, int inputs) {
        this.opName = opName;
        this.inputs = inputs;
    }

    @Override
    public String getOpName() {
        return opName;
    }

    @Override
    public int getNumInputs() {
        return inputs;
    }

    @Override
    public int getNumOptionalInputs() {
        return 0;
    }

    @Override
    public int getNumOutputs() {
        return 1;
    }

    @Override
    public Map<String, ONNXAttribute> getAttributes() {
        return Collections.emptyMap();
    }

    @Override
    public Set<String> getMandatoryAttributeNames() {
        return Collections.emptySet();
    }

    /** Same opset as Tribuo's operators, so the model has a single default-domain import. */
    @Override
    public int getOpVersion() {
        return ONNXOperators.getOpsetVersion();
    }

    @Override
    public String getOpDomain() {
        return ONNXOperators.GEMM.getOpDomain();
    }
}
