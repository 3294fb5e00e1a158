package org.vitfit.heads;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import org.tribuo.protos.core.ModelDataProto;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The protobuf message that carries an MLP model inside Tribuo's {@code ModelProto} envelope:
 * <pre>
 * message MLPModelProto {
 *   tribuo.core.ModelDataProto metadata = 1;  // name, provenance, feature and output domains (Tribuo's own carrier)
 *   string activation = 2;                    // GELU or RELU
 *   repeated int32 layer_sizes = 3;           // input, hidden..., output
 *   repeated bytes weights = 4;               // per layer, [in][out] float32 little-endian
 *   repeated bytes biases = 5;                // per layer, [out] float32 little-endian
 * }
 * </pre>
 * The descriptor is built at class-load time (no protoc step in the build) on top of Tribuo's own file descriptor,
 * so the metadata field is the very message type Tribuo's models use.
 */
final class MlpProtos {

    static final Descriptors.Descriptor MODEL;
    private static final Descriptors.FieldDescriptor METADATA;
    private static final Descriptors.FieldDescriptor ACTIVATION;
    private static final Descriptors.FieldDescriptor LAYER_SIZES;
    private static final Descriptors.FieldDescriptor WEIGHTS;
    private static final Descriptors.FieldDescriptor BIASES;

    static {
        Descriptors.FileDescriptor tribuo = ModelDataProto.getDescriptor().getFile();
        DescriptorProto message = DescriptorProto.newBuilder()
                .setName("MLPModelProto")
                .addField(field("metadata", 1, FieldDescriptorProto.Type.TYPE_MESSAGE, false)
                        .setTypeName("." + ModelDataProto.getDescriptor().getFullName()))
                .addField(field("activation", 2, FieldDescriptorProto.Type.TYPE_STRING, false))
                .addField(field("layer_sizes", 3, FieldDescriptorProto.Type.TYPE_INT32, true))
                .addField(field("weights", 4, FieldDescriptorProto.Type.TYPE_BYTES, true))
                .addField(field("biases", 5, FieldDescriptorProto.Type.TYPE_BYTES, true))
                .build();
        FileDescriptorProto file = FileDescriptorProto.newBuilder()
                .setName("vitfit/heads/mlp.proto")
                .setPackage("vitfit.heads")
                .setSyntax("proto3")
                .addDependency(tribuo.getName())
                .addMessageType(message)
                .build();
        try {
            Descriptors.FileDescriptor fd = Descriptors.FileDescriptor.buildFrom(file, new Descriptors.FileDescriptor[] {tribuo});
            MODEL = fd.findMessageTypeByName("MLPModelProto");
        } catch (Descriptors.DescriptorValidationException e) {
            throw new ExceptionInInitializerError(e);
        }
        METADATA = MODEL.findFieldByName("metadata");
        ACTIVATION = MODEL.findFieldByName("activation");
        LAYER_SIZES = MODEL.findFieldByName("layer_sizes");
        WEIGHTS = MODEL.findFieldByName("weights");
        BIASES = MODEL.findFieldByName("biases");
    }

    private MlpProtos() {
    }

    private static FieldDescriptorProto.Builder field(String name, int number, FieldDescriptorProto.Type type, boolean repeated) {
        return FieldDescriptorProto.newBuilder().setName(name).setNumber(number).setType(type)
                .setLabel(repeated ? FieldDescriptorProto.Label.LABEL_REPEATED : FieldDescriptorProto.Label.LABEL_OPTIONAL);
    }

    static Any pack(ModelDataProto metadata, MlpNetwork network) {
        DynamicMessage.Builder b = DynamicMessage.newBuilder(MODEL);
        b.setField(METADATA, metadata);
        b.setField(ACTIVATION, network.activation().name());
        for (int s : network.sizes()) {
            b.addRepeatedField(LAYER_SIZES, s);
        }
        for (int l = 0; l < network.layers(); l++) {
            b.addRepeatedField(WEIGHTS, floats(network.weights(l)));
            b.addRepeatedField(BIASES, floats(network.bias(l)));
        }
        return Any.pack(b.build());
    }

    record Unpacked(ModelDataProto metadata, MlpNetwork network) {
    }

    static Unpacked unpack(Any any) throws InvalidProtocolBufferException {
        String expected = "/" + MODEL.getFullName();
        if (!any.getTypeUrl().endsWith(expected)) {
            throw new InvalidProtocolBufferException("expected a " + MODEL.getFullName() + " message, found "
                    + any.getTypeUrl());
        }
        DynamicMessage m = DynamicMessage.parseFrom(MODEL, any.getValue());
        ModelDataProto metadata = ModelDataProto.parseFrom(((Message) m.getField(METADATA)).toByteString());
        Activation activation;
        try {
            activation = Activation.valueOf((String) m.getField(ACTIVATION));
        } catch (IllegalArgumentException e) {
            throw new InvalidProtocolBufferException("unknown MLP activation '" + m.getField(ACTIVATION) + "'");
        }
        @SuppressWarnings("unchecked")
        List<Integer> sizeList = (List<Integer>) m.getField(LAYER_SIZES);
        int[] sizes = sizeList.stream().mapToInt(Integer::intValue).toArray();
        int layers = m.getRepeatedFieldCount(WEIGHTS);
        if (layers != sizes.length - 1 || m.getRepeatedFieldCount(BIASES) != layers) {
            throw new InvalidProtocolBufferException("MLP proto has " + sizes.length + " layer sizes but "
                    + layers + " weight and " + m.getRepeatedFieldCount(BIASES) + " bias tensors");
        }
        float[][] w = new float[layers][];
        float[][] bias = new float[layers][];
        for (int l = 0; l < layers; l++) {
            w[l] = floats((ByteString) m.getRepeatedField(WEIGHTS, l));
            bias[l] = floats((ByteString) m.getRepeatedField(BIASES, l));
        }
        try {
            return new Unpacked(metadata, new MlpNetwork(sizes, activation, w, bias));
        } catch (IllegalArgumentException e) {
            throw new InvalidProtocolBufferException("corrupt MLP proto: " + e.getMessage());
        }
    }

    private static ByteString floats(float[] values) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        return ByteString.copyFrom(buf.array());
    }

    private static float[] floats(ByteString bytes) throws InvalidProtocolBufferException {
        if (bytes.size() % Float.BYTES != 0) {
            throw new InvalidProtocolBufferException("float tensor of " + bytes.size() + " bytes is not a multiple of 4");
        }
        float[] out = new float[bytes.size() / Float.BYTES];
        bytes.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }
}
