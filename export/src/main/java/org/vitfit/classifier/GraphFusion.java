package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import org.vitfit.classify.ClassifierDescriptor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Merges a converted backbone graph and a head graph into one ONNX graph: the head's nodes, initializers and values
 * get the prefix {@value #HEAD_PREFIX}, its input is wired to the backbone's {@code embedding} output, and the fused
 * graph's outputs are {@code logits} (the input of the head's final Softmax/Sigmoid), {@code probabilities} (its
 * output), {@code labels_mask} for multi-label heads ({@code probabilities > thresholds}, bool) and {@code embedding}.
 * Whatever no output needs (the backbone's own ImageNet head, {@code last_hidden_state}) is pruned.
 */
final class GraphFusion {

    static final String HEAD_PREFIX = "head/";
    static final String THRESHOLDS_INITIALIZER = "head/labels_thresholds";

    /**
     * Default-domain operators whose semantics for float tensors are the same in every opset from 13 (what Tribuo
     * writes) to 17 (what the converter writes), so raising the head's opset to the backbone's changes nothing. Newer
     * opsets only widened their type lists.
     */
    private static final Set<String> OPSET_STABLE_OPS = Set.of("Add", "Sub", "Mul", "Div", "Gemm", "MatMul", "Softmax",
            "Sigmoid", "Erf", "Sqrt", "Max", "Min", "Relu", "Tanh", "ReduceSum", "Identity", "Exp", "Log");

    private GraphFusion() {
    }

    /**
     * @param backbone      the converted model ({@code pixel_values} in, {@code embedding} among its outputs)
     * @param head          the head ({@code headInput} [n, d] in, {@code headOutput} [n, k] probabilities out)
     * @param multiLabel    whether the head ends in Sigmoid (else Softmax)
     * @param thresholds    per-label thresholds for {@code labels_mask}; null for multi-class
     */
    static OnnxMl.ModelProto fuse(OnnxMl.ModelProto backbone, OnnxMl.ModelProto head, String headInput,
                                  String headOutput, boolean multiLabel, float[] thresholds)
            throws ClassifierExportException {
        OnnxMl.GraphProto hg = head.getGraph();
        rejectSubgraphs(backbone.getGraph(), "backbone");
        rejectSubgraphs(hg, "head");
        OnnxMl.ValueInfoProto embedding = find(backbone.getGraph().getOutputList(), ClassifierDescriptor.OUTPUT_EMBEDDING);
        if (embedding == null) {
            throw new ClassifierExportException("the backbone graph has no '" + ClassifierDescriptor.OUTPUT_EMBEDDING
                    + "' output; convert the model again with this vitfit");
        }
        // Only what computes the embedding stays: the backbone's own classifier (whose output is also called
        // 'logits') and last_hidden_state go before the head's values are added.
        OnnxMl.GraphProto bg = prune(backbone.getGraph().toBuilder().clearOutput().addOutput(embedding).build());
        if (hg.getInputCount() != 1 || !hg.getInput(0).getName().equals(headInput)) {
            throw new ClassifierExportException("the head graph's inputs " + names(hg.getInputList())
                    + " are not the single input '" + headInput + "' head.json names");
        }
        if (find(hg.getOutputList(), headOutput) == null) {
            throw new ClassifierExportException("the head graph has no output '" + headOutput + "' (it has "
                    + names(hg.getOutputList()) + ")");
        }
        Map<String, Long> opsets = opsets(backbone, head);

        // The last Softmax/Sigmoid before the head's output splits it into logits and probabilities.
        OnnxMl.NodeProto activation = finalActivation(hg, headOutput);
        String expected = multiLabel ? "Sigmoid" : "Softmax";
        if (!activation.getOpType().equals(expected)) {
            throw new ClassifierExportException("a " + (multiLabel ? "multi-label" : "multi-class") + " head must end in "
                    + expected + " but this one ends in " + activation.getOpType());
        }
        if (!multiLabel) {
            for (OnnxMl.AttributeProto a : activation.getAttributeList()) {
                if (a.getName().equals("axis") && a.getI() != 1 && a.getI() != -1) {
                    throw new ClassifierExportException("the head's Softmax runs over axis " + a.getI()
                            + ", not over the labels (axis 1)");
                }
            }
        }
        checkOpsetStability(hg, head, opsets.get(""));

        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder().setName("vitfit_classifier");
        g.addAllInput(bg.getInputList());
        g.addAllNode(bg.getNodeList());
        g.addAllInitializer(bg.getInitializerList());
        g.addAllValueInfo(bg.getValueInfoList());
        for (OnnxMl.NodeProto n : hg.getNodeList()) {
            OnnxMl.NodeProto.Builder b = n.toBuilder().clearInput().clearOutput();
            if (!n.getName().isEmpty()) {
                b.setName(HEAD_PREFIX + n.getName());
            }
            for (String in : n.getInputList()) {
                b.addInput(in.isEmpty() ? in : in.equals(headInput) ? embedding.getName() : HEAD_PREFIX + in);
            }
            for (String out : n.getOutputList()) {
                b.addOutput(out.isEmpty() ? out : HEAD_PREFIX + out);
            }
            g.addNode(b);
        }
        for (OnnxMl.TensorProto t : hg.getInitializerList()) {
            g.addInitializer(t.toBuilder().setName(HEAD_PREFIX + t.getName()));
        }
        for (OnnxMl.ValueInfoProto v : hg.getValueInfoList()) {
            g.addValueInfo(v.toBuilder().setName(HEAD_PREFIX + v.getName()));
        }

        int k = labelCount(hg, headOutput);
        OnnxMl.TensorShapeProto.Dimension batch = embedding.getType().getTensorType().getShape().getDim(0);
        g.addNode(identity(HEAD_PREFIX + activation.getInput(0), ClassifierDescriptor.OUTPUT_LOGITS));
        g.addNode(identity(HEAD_PREFIX + activation.getOutput(0), ClassifierDescriptor.OUTPUT_PROBABILITIES));
        List<OnnxMl.ValueInfoProto> outputs = new ArrayList<>();
        outputs.add(tensorInfo(ClassifierDescriptor.OUTPUT_LOGITS, OnnxMl.TensorProto.DataType.FLOAT, batch, k));
        outputs.add(tensorInfo(ClassifierDescriptor.OUTPUT_PROBABILITIES, OnnxMl.TensorProto.DataType.FLOAT, batch, k));
        if (multiLabel) {
            if (thresholds == null || thresholds.length != k) {
                throw new ClassifierExportException("a multi-label head needs " + k + " thresholds");
            }
            g.addInitializer(floatTensor(THRESHOLDS_INITIALIZER, thresholds));
            g.addNode(OnnxMl.NodeProto.newBuilder().setOpType("Greater").setName("labels_mask_Greater")
                    .addInput(ClassifierDescriptor.OUTPUT_PROBABILITIES).addInput(THRESHOLDS_INITIALIZER)
                    .addOutput(ClassifierDescriptor.OUTPUT_LABELS_MASK));
            outputs.add(tensorInfo(ClassifierDescriptor.OUTPUT_LABELS_MASK, OnnxMl.TensorProto.DataType.BOOL, batch, k));
        }
        outputs.add(embedding);
        g.addAllOutput(outputs);

        OnnxMl.GraphProto pruned = prune(g.build());
        checkUniqueNames(pruned);

        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder()
                .setIrVersion(Math.max(backbone.getIrVersion(), head.getIrVersion()))
                .setProducerName(backbone.getProducerName())
                .setProducerVersion(backbone.getProducerVersion())
                .setGraph(pruned);
        opsets.forEach((domain, version) -> m.addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder()
                .setDomain(domain).setVersion(version)));
        return m.build();
    }

    /** Per domain ({@code ""} = {@code ai.onnx}), the highest opset either graph imports. */
    private static Map<String, Long> opsets(OnnxMl.ModelProto a, OnnxMl.ModelProto b) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (OnnxMl.ModelProto m : List.of(a, b)) {
            for (OnnxMl.OperatorSetIdProto o : m.getOpsetImportList()) {
                String domain = o.getDomain().equals("ai.onnx") ? "" : o.getDomain();
                out.merge(domain, o.getVersion(), Math::max);
            }
        }
        return out;
    }

    private static void checkOpsetStability(OnnxMl.GraphProto hg, OnnxMl.ModelProto head, Long fusedDefault)
            throws ClassifierExportException {
        long headDefault = -1;
        for (OnnxMl.OperatorSetIdProto o : head.getOpsetImportList()) {
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
                headDefault = o.getVersion();
            }
        }
        if (fusedDefault == null || headDefault == fusedDefault) {
            return;
        }
        for (OnnxMl.NodeProto n : hg.getNodeList()) {
            boolean defaultDomain = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
            if (!defaultDomain || !OPSET_STABLE_OPS.contains(n.getOpType())) {
                throw new ClassifierExportException("the head uses " + (defaultDomain ? "" : n.getDomain() + ".")
                        + n.getOpType() + ", whose meaning may differ between the head's opset " + headDefault
                        + " and the backbone's " + fusedDefault + "; fusion supports " + OPSET_STABLE_OPS);
            }
        }
    }

    /** Follows Identity nodes back from {@code output} to the Softmax/Sigmoid (or whatever op) that produces it. */
    private static OnnxMl.NodeProto finalActivation(OnnxMl.GraphProto g, String output) throws ClassifierExportException {
        Map<String, OnnxMl.NodeProto> producer = new HashMap<>();
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            for (String o : n.getOutputList()) {
                producer.put(o, n);
            }
        }
        String value = output;
        for (int hops = 0; hops <= g.getNodeCount(); hops++) {
            OnnxMl.NodeProto n = producer.get(value);
            if (n == null) {
                throw new ClassifierExportException("the head's output '" + output + "' is not computed by any node");
            }
            if (!n.getOpType().equals("Identity")) {
                return n;
            }
            value = n.getInput(0);
        }
        throw new ClassifierExportException("the head's graph has a cycle of Identity nodes before '" + output + "'");
    }

    private static int labelCount(OnnxMl.GraphProto hg, String headOutput) throws ClassifierExportException {
        OnnxMl.TensorShapeProto shape = find(hg.getOutputList(), headOutput).getType().getTensorType().getShape();
        if (shape.getDimCount() != 2 || !shape.getDim(1).hasDimValue()) {
            throw new ClassifierExportException("the head output '" + headOutput + "' should be [batch, labels] with a "
                    + "fixed label count, got " + shape);
        }
        return Math.toIntExact(shape.getDim(1).getDimValue());
    }

    /** Keeps the nodes, initializers and value infos the graph outputs depend on; nodes stay in topological order. */
    static OnnxMl.GraphProto prune(OnnxMl.GraphProto g) {
        Set<String> needed = new HashSet<>();
        g.getOutputList().forEach(o -> needed.add(o.getName()));
        List<OnnxMl.NodeProto> nodes = g.getNodeList();
        boolean[] keep = new boolean[nodes.size()];
        for (int i = nodes.size() - 1; i >= 0; i--) {
            OnnxMl.NodeProto n = nodes.get(i);
            if (n.getOutputList().stream().anyMatch(needed::contains)) {
                keep[i] = true;
                needed.addAll(n.getInputList());
            }
        }
        OnnxMl.GraphProto.Builder b = g.toBuilder().clearNode().clearInitializer().clearValueInfo();
        for (int i = 0; i < nodes.size(); i++) {
            if (keep[i]) {
                b.addNode(nodes.get(i));
            }
        }
        g.getInitializerList().stream().filter(t -> needed.contains(t.getName())).forEach(b::addInitializer);
        g.getValueInfoList().stream().filter(v -> needed.contains(v.getName())).forEach(b::addValueInfo);
        return b.build();
    }

    /** The merged graph must stay single-assignment: one producer per value, one name per initializer and node. */
    private static void checkUniqueNames(OnnxMl.GraphProto g) throws ClassifierExportException {
        Set<String> values = new HashSet<>();
        Set<String> nodeNames = new HashSet<>();
        g.getInputList().forEach(v -> values.add(v.getName()));
        for (OnnxMl.TensorProto t : g.getInitializerList()) {
            if (!values.add(t.getName())) {
                throw new ClassifierExportException("name clash after fusion: initializer '" + t.getName() + "'");
            }
        }
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            if (!n.getName().isEmpty() && !nodeNames.add(n.getName())) {
                throw new ClassifierExportException("name clash after fusion: node '" + n.getName() + "'");
            }
            for (String o : n.getOutputList()) {
                if (!o.isEmpty() && !values.add(o)) {
                    throw new ClassifierExportException("name clash after fusion: value '" + o + "'");
                }
            }
        }
    }

    private static void rejectSubgraphs(OnnxMl.GraphProto g, String what) throws ClassifierExportException {
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            for (OnnxMl.AttributeProto a : n.getAttributeList()) {
                if (a.hasG() || a.getGraphsCount() > 0) {
                    throw new ClassifierExportException("the " + what + " graph uses control flow (" + n.getOpType()
                            + " '" + n.getName() + "'), which fusion does not rename inside subgraphs");
                }
            }
        }
    }

    private static OnnxMl.NodeProto identity(String from, String to) {
        return OnnxMl.NodeProto.newBuilder().setOpType("Identity").setName(to + "_Identity").addInput(from)
                .addOutput(to).build();
    }

    private static OnnxMl.ValueInfoProto tensorInfo(String name, OnnxMl.TensorProto.DataType type,
                                                    OnnxMl.TensorShapeProto.Dimension batch, int k) {
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber())
                        .setShape(OnnxMl.TensorShapeProto.newBuilder().addDim(batch)
                                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(k)))))
                .build();
    }

    private static OnnxMl.TensorProto floatTensor(String name, float[] values) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        raw.asFloatBuffer().put(values);
        return OnnxMl.TensorProto.newBuilder().setName(name).setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                .addDims(values.length).setRawData(ByteString.copyFrom(raw.array())).build();
    }

    private static OnnxMl.ValueInfoProto find(List<OnnxMl.ValueInfoProto> list, String name) {
        return list.stream().filter(v -> v.getName().equals(name)).findFirst().orElse(null);
    }

    private static List<String> names(List<OnnxMl.ValueInfoProto> list) {
        return list.stream().map(OnnxMl.ValueInfoProto::getName).toList();
    }
}
