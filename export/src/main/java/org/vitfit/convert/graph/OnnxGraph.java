package org.vitfit.convert.graph;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A thin, name-generating layer over the ONNX protobuf classes (Tribuo's {@code OnnxMl}): every node
 * call returns the name of its output so graph code reads like the forward pass it encodes.
 */
public final class OnnxGraph {

    /** ONNX opset: 17 is the first with a native LayerNormalization, which ONNX Runtime runs fused. */
    public static final int OPSET = 17;
    /** IR version 8 is the one that goes with opset 17. */
    public static final int IR_VERSION = 8;

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Map<String, Integer> counters = new LinkedHashMap<>();
    private long initializerBytes;

    public OnnxGraph(String name) {
        graph.setName(name);
    }

    /** A float32 graph input; a {@code String} dimension is symbolic (dynamic), a {@code Number} fixed. */
    public String floatInput(String name, Object... dims) {
        graph.addInput(valueInfo(name, dims));
        return name;
    }

    /** Declares {@code tensor} (an existing value) as a float32 graph output named {@code name}. */
    public void floatOutput(String tensor, String name, Object... dims) {
        String outName = tensor;
        if (!tensor.equals(name)) {
            outName = node("Identity", new String[] {tensor}, name, Map.of());
        }
        graph.addOutput(valueInfo(outName, dims));
    }

    public String floatInitializer(String name, float[] data, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        if (n != data.length) {
            throw new IllegalArgumentException("initializer " + name + ": " + data.length
                    + " values do not fill shape " + java.util.Arrays.toString(dims));
        }
        ByteBuffer buf = ByteBuffer.allocate(data.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        TensorProto.Builder t = TensorProto.newBuilder()
                .setName(name)
                .setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        initializerBytes += (long) data.length * Float.BYTES;
        return name;
    }

    public String int64Initializer(String name, long... values) {
        TensorProto.Builder t = TensorProto.newBuilder()
                .setName(name)
                .setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(values.length);
        for (long v : values) {
            t.addInt64Data(v);
        }
        graph.addInitializer(t);
        return name;
    }

    public String scalar(String name, float value) {
        TensorProto.Builder t = TensorProto.newBuilder()
                .setName(name)
                .setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addFloatData(value);
        graph.addInitializer(t);
        return name;
    }

    /** Adds a single-output node; the output gets a unique name derived from {@code hint}. */
    public String op(String opType, String hint, Map<String, Object> attributes, String... inputs) {
        return node(opType, inputs, unique(hint), attributes);
    }

    public String op(String opType, String hint, String... inputs) {
        return op(opType, hint, Map.of(), inputs);
    }

    private String node(String opType, String[] inputs, String output, Map<String, Object> attributes) {
        NodeProto.Builder n = NodeProto.newBuilder()
                .setOpType(opType)
                .setName(output + "_" + opType)
                .addOutput(output);
        for (String in : inputs) {
            n.addInput(in);
        }
        attributes.forEach((k, v) -> n.addAttribute(attribute(k, v)));
        graph.addNode(n);
        return output;
    }

    private String unique(String hint) {
        int i = counters.merge(hint, 1, Integer::sum);
        return i == 1 ? hint : hint + "_" + i;
    }

    private static AttributeProto attribute(String name, Object value) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
        if (value instanceof Integer || value instanceof Long) {
            a.setType(AttributeProto.AttributeType.INT).setI(((Number) value).longValue());
        } else if (value instanceof Float || value instanceof Double) {
            a.setType(AttributeProto.AttributeType.FLOAT).setF(((Number) value).floatValue());
        } else if (value instanceof String s) {
            a.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s));
        } else if (value instanceof long[] ints) {
            a.setType(AttributeProto.AttributeType.INTS);
            for (long i : ints) {
                a.addInts(i);
            }
        } else {
            throw new IllegalArgumentException("unsupported attribute type for " + name + ": " + value);
        }
        return a.build();
    }

    private static ValueInfoProto valueInfo(String name, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            if (d instanceof String s) {
                shape.addDimBuilder().setDimParam(s);
            } else {
                shape.addDimBuilder().setDimValue(((Number) d).longValue());
            }
        }
        TypeProto type = TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(TensorProto.DataType.FLOAT_VALUE)
                        .setShape(shape))
                .build();
        return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }

    public long initializerBytes() {
        return initializerBytes;
    }

    /** The finished model, with {@code metadata} as {@code metadata_props} for users of plain ONNX Runtime. */
    public ModelProto toModel(String producerVersion, Map<String, String> metadata) {
        ModelProto.Builder m = ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .setProducerName("vitfit")
                .setProducerVersion(producerVersion)
                .setGraph(graph);
        m.addOpsetImportBuilder().setDomain("").setVersion(OPSET);
        metadata.forEach((k, v) -> m.addMetadataProps(
                OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }
}
