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
import java.util.TreeMap;

/**
 * A thin, name-generating layer over the ONNX protobuf classes (Tribuo's {@code OnnxMl}): every node
 * call returns the name of its output so graph code reads like the forward pass it encodes.
 *
 * <p>A graph computes in float32 or, when built with {@code float16 = true}, in float16: then every float
 * initializer and scalar is stored as float16, and {@link #floatInput}/{@link #floatOutput} put Casts at the
 * edges so the graph's inputs and outputs stay float32.
 */
public final class OnnxGraph {

    /** ONNX opset: 17 is the first with a native LayerNormalization, which ONNX Runtime runs fused. */
    public static final int OPSET = 17;
    /** IR version 8 is the one that goes with opset 17. */
    public static final int IR_VERSION = 8;
    /** ONNX Runtime's contrib operator domain (fused kernels such as FusedMatMul); imported only when used. */
    public static final String MS_DOMAIN = "com.microsoft";

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Map<String, Integer> counters = new LinkedHashMap<>();
    private final boolean float16;
    private long initializerBytes;
    private boolean usesMsDomain;

    public OnnxGraph(String name) {
        this(name, false);
    }

    /** @param float16 compute in float16 (see the class comment) */
    public OnnxGraph(String name, boolean float16) {
        graph.setName(name);
        this.float16 = float16;
    }

    /**
     * A float32 graph input; a {@code String} dimension is symbolic (dynamic), a {@code Number} fixed. Returns the
     * name to compute from: the input itself, or its cast to float16 in a float16 graph.
     */
    public String floatInput(String name, Object... dims) {
        graph.addInput(valueInfo(name, dims));
        return float16 ? op("Cast", name + "_fp16", Map.of("to", (long) TensorProto.DataType.FLOAT16_VALUE), name)
                : name;
    }

    /** Declares {@code tensor} (an existing value) as a float32 graph output named {@code name}. */
    public void floatOutput(String tensor, String name, Object... dims) {
        String outName = tensor;
        if (float16) {
            outName = node("Cast", new String[] {tensor}, name,
                    Map.of("to", (long) TensorProto.DataType.FLOAT_VALUE));
        } else if (!tensor.equals(name)) {
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
        int width = float16 ? 2 : Float.BYTES;
        ByteBuffer buf = ByteBuffer.allocate(data.length * width).order(ByteOrder.LITTLE_ENDIAN);
        if (float16) {
            for (float v : data) {
                buf.putShort(toFloat16(v));
            }
        } else {
            buf.asFloatBuffer().put(data);
        }
        TensorProto.Builder t = TensorProto.newBuilder()
                .setName(name)
                .setDataType(float16 ? TensorProto.DataType.FLOAT16_VALUE : TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        initializerBytes += (long) data.length * width;
        return name;
    }

    /** An int8 tensor (quantised weights, zero points); always int8, whatever the graph's float type. */
    public String int8Initializer(String name, byte[] data, long... dims) {
        return rawInitializer(name, TensorProto.DataType.INT8_VALUE, data, dims);
    }

    /** A uint8 tensor (activation zero points); always uint8, whatever the graph's float type. */
    public String uint8Initializer(String name, byte[] data, long... dims) {
        return rawInitializer(name, TensorProto.DataType.UINT8_VALUE, data, dims);
    }

    /** An int32 tensor from little-endian bytes (quantised biases). */
    public String int32Initializer(String name, byte[] littleEndian, long... dims) {
        return rawInitializer(name, TensorProto.DataType.INT32_VALUE, littleEndian, dims);
    }

    private String rawInitializer(String name, int dataType, byte[] littleEndian, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder()
                .setName(name)
                .setDataType(dataType)
                .setRawData(ByteString.copyFrom(littleEndian));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        initializerBytes += littleEndian.length;
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
        TensorProto.Builder t = TensorProto.newBuilder().setName(name);
        if (float16) {
            // float16 values travel in int32_data, one per element (the ONNX rule for 16-bit types).
            t.setDataType(TensorProto.DataType.FLOAT16_VALUE).addInt32Data(toFloat16(value) & 0xffff);
        } else {
            t.setDataType(TensorProto.DataType.FLOAT_VALUE).addFloatData(value);
        }
        graph.addInitializer(t);
        return name;
    }

    /**
     * IEEE binary16 bits of {@code f}, rounded to nearest even (what numpy's {@code astype(float16)} does; Java 17
     * has no {@code Float.floatToFloat16}). Overflow gives infinity; NaN stays NaN.
     */
    static short toFloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) {
            return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
        }
        if (abs >= 0x477ff000) {
            return (short) (sign | 0x7c00);                       // >= 65520 rounds past the largest half
        }
        if (abs >= 0x38800000) {                                 // normal half: >= 2^-14
            int rounded = abs + 0x0fff + ((abs >>> 13) & 1);
            return (short) (sign | ((rounded - 0x38000000) >>> 13));
        }
        if (abs < 0x33000000) {
            return (short) sign;                                  // below half the smallest subnormal
        }
        int shift = 126 - (abs >>> 23);                           // subnormal: value = m * 2^-24
        int mantissa = (abs & 0x7fffff) | 0x800000;
        int m = mantissa >>> shift;
        int rest = mantissa & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rest > half || (rest == half && (m & 1) == 1)) {
            m++;
        }
        return (short) (sign | m);
    }

    /** Adds a single-output node; the output gets a unique name derived from {@code hint}. */
    public String op(String opType, String hint, Map<String, Object> attributes, String... inputs) {
        return node(opType, inputs, unique(hint), attributes);
    }

    public String op(String opType, String hint, String... inputs) {
        return op(opType, hint, Map.of(), inputs);
    }

    /**
     * Adds a single-output node of ONNX Runtime's contrib domain ({@value #MS_DOMAIN}); the model then runs in ONNX
     * Runtime only (the training graph uses this, converted models do not).
     */
    public String msOp(String opType, String hint, Map<String, Object> attributes, String... inputs) {
        String output = unique(hint);
        usesMsDomain = true;
        NodeProto.Builder n = nodeProto(opType, inputs, new String[] {output}, output + "_" + opType, attributes);
        graph.addNode(n.setDomain(MS_DOMAIN));
        return output;
    }

    /** Adds a node with {@code outputs} outputs, named {@code <hint>.out0}, {@code <hint>.out1}, ... */
    public String[] ops(String opType, String hint, Map<String, Object> attributes, int outputs, String... inputs) {
        String base = unique(hint);
        String[] names = new String[outputs];
        for (int i = 0; i < outputs; i++) {
            names[i] = base + ".out" + i;
        }
        node(opType, inputs, names, base + "_" + opType, attributes);
        return names;
    }

    private String node(String opType, String[] inputs, String output, Map<String, Object> attributes) {
        node(opType, inputs, new String[] {output}, output + "_" + opType, attributes);
        return output;
    }

    private void node(String opType, String[] inputs, String[] outputs, String nodeName,
                      Map<String, Object> attributes) {
        graph.addNode(nodeProto(opType, inputs, outputs, nodeName, attributes));
    }

    private static NodeProto.Builder nodeProto(String opType, String[] inputs, String[] outputs, String nodeName,
                                               Map<String, Object> attributes) {
        NodeProto.Builder n = NodeProto.newBuilder()
                .setOpType(opType)
                .setName(nodeName);
        for (String out : outputs) {
            n.addOutput(out);
        }
        for (String in : inputs) {
            n.addInput(in);
        }
        // In name order: Map.of iterates in an order salted per JVM, and the same conversion must give the same
        // bytes everywhere (heads are bound to their backbone by the sha256 of model.onnx).
        new TreeMap<>(attributes).forEach((k, v) -> n.addAttribute(attribute(k, v)));
        return n;
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
        if (usesMsDomain) {
            m.addOpsetImportBuilder().setDomain(MS_DOMAIN).setVersion(1);
        }
        metadata.forEach((k, v) -> m.addMetadataProps(
                OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }
}
