package org.vitfit.classifier;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * A head directory written by hand in the layout {@code vitfit train} uses (head.json + head.onnx as Tribuo writes it:
 * opset 13, {@code Sub -> Gemm -> Softmax|Sigmoid -> Identity}), with random weights and the same math in Java, so
 * export tests need neither the trainer nor ONNX Runtime for their reference.
 */
final class HandHead {

    static final ObjectMapper JSON = new ObjectMapper();

    final int dimension;
    final List<String> labels;
    final boolean multiLabel;
    final float[] mean;
    final float[] weights; // [dimension][labels]
    final float[] bias;
    final float[] thresholds;

    HandHead(int dimension, int labelCount, boolean multiLabel, long seed) {
        Random rng = new Random(seed);
        this.dimension = dimension;
        this.multiLabel = multiLabel;
        List<String> names = new ArrayList<>();
        for (int j = 0; j < labelCount; j++) {
            names.add("label " + j + (j == 1 ? " (ünïcode, \"quoted\")" : ""));
        }
        this.labels = List.copyOf(names);
        this.mean = new float[dimension];
        this.weights = new float[dimension * labelCount];
        this.bias = new float[labelCount];
        this.thresholds = new float[labelCount];
        for (int i = 0; i < dimension; i++) {
            mean[i] = (float) (rng.nextGaussian() * 0.1);
        }
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) (rng.nextGaussian() / Math.sqrt(dimension));
        }
        for (int j = 0; j < labelCount; j++) {
            bias[j] = (float) rng.nextGaussian();
            thresholds[j] = 0.2f + 0.6f * j / Math.max(1, labelCount - 1);
        }
    }

    /** The head's probabilities for one embedding, computed in double. */
    float[] probabilities(float[] embedding) {
        int k = labels.size();
        double[] z = logits(embedding);
        float[] p = new float[k];
        if (multiLabel) {
            for (int j = 0; j < k; j++) {
                p[j] = (float) (1 / (1 + Math.exp(-z[j])));
            }
            return p;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (double v : z) {
            sum += Math.exp(v - max);
        }
        for (int j = 0; j < k; j++) {
            p[j] = (float) (Math.exp(z[j] - max) / sum);
        }
        return p;
    }

    double[] logits(float[] embedding) {
        int k = labels.size();
        double[] z = new double[k];
        for (int j = 0; j < k; j++) {
            double s = bias[j];
            for (int i = 0; i < dimension; i++) {
                s += (double) (embedding[i] - mean[i]) * weights[i * k + j];
            }
            z[j] = s;
        }
        return z;
    }

    /** Writes {@code head.json} and {@code head.onnx}; {@code json} and {@code graph} may alter them first. */
    Path write(Path dir, String backboneSha256, Consumer<ObjectNode> json, UnaryOperator<OnnxMl.ModelProto> graph)
            throws IOException {
        Files.createDirectories(dir);
        ObjectNode o = JSON.createObjectNode();
        o.put("format", "vitfit-head").put("formatVersion", 1).put("kind", "linear")
                .put("task", multiLabel ? "multilabel" : "multiclass");
        ArrayNode l = o.putArray("labels");
        labels.forEach(l::add);
        o.put("dimension", dimension);
        o.putObject("normalization").put("l2", false);
        if (multiLabel) {
            ObjectNode t = o.putObject("thresholds").put("mode", "per-label");
            ArrayNode v = t.putArray("values");
            for (float f : thresholds) {
                v.add(f);
            }
        }
        if (backboneSha256 != null) {
            o.put("backboneModelSha256", backboneSha256);
        }
        o.put("modelFile", "model.tribuo").put("onnxFile", "head.onnx").put("onnxInput", "embedding")
                .put("onnxOutput", "scores").put("trainedAt", "2026-11-27T00:00:00Z").put("toolVersion", "test");
        o.putObject("training").put("epochs", 3);
        json.accept(o);
        JSON.writeValue(dir.resolve("head.json").toFile(), o);
        Files.write(dir.resolve("head.onnx"), graph.apply(onnx()).toByteArray());
        return dir;
    }

    Path write(Path dir, String backboneSha256) throws IOException {
        return write(dir, backboneSha256, o -> { }, g -> g);
    }

    private OnnxMl.ModelProto onnx() {
        int k = labels.size();
        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder().setName("hand-head")
                .addInput(info("embedding", dimension)).addOutput(info("scores", k))
                .addInitializer(tensor("mean", mean, dimension))
                .addInitializer(tensor("weights", weights, dimension, k))
                .addInitializer(tensor("bias", bias, k))
                .addNode(node("Sub", "Sub_0", List.of("embedding", "mean"), "centred"))
                .addNode(node("Gemm", "Gemm_0", List.of("centred", "weights", "bias"), "z"));
        OnnxMl.NodeProto.Builder act = node("Sigmoid", "Act_0", List.of("z"), "p").toBuilder();
        if (!multiLabel) {
            act.setOpType("Softmax").addAttribute(OnnxMl.AttributeProto.newBuilder().setName("axis").setI(1)
                    .setType(OnnxMl.AttributeProto.AttributeType.INT));
        }
        g.addNode(act).addNode(node("Identity", "Identity_0", List.of("p"), "scores"));
        return OnnxMl.ModelProto.newBuilder().setIrVersion(6).setProducerName("Tribuo")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
                .addMetadataProps(OnnxMl.StringStringEntryProto.newBuilder().setKey("TRIBUO_PROVENANCE").setValue("hand"))
                .setGraph(g).build();
    }

    private static OnnxMl.NodeProto node(String op, String name, List<String> inputs, String output) {
        return OnnxMl.NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output).build();
    }

    private static OnnxMl.ValueInfoProto info(String name, int width) {
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(OnnxMl.TensorProto.DataType.FLOAT_VALUE)
                        .setShape(OnnxMl.TensorShapeProto.newBuilder()
                                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(width)))))
                .build();
    }

    private static OnnxMl.TensorProto tensor(String name, float[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }
}
