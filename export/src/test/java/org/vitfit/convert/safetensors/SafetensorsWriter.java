package org.vitfit.convert.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes safetensors files byte by byte for tests, so that the reader is checked against the format, not itself.
 * Public for the converter tests that derive checkpoint layouts from a fixture.
 */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ObjectNode header = JSON.createObjectNode();
    private final ByteArrayOutputStream data = new ByteArrayOutputStream();

    SafetensorsWriter metadata(String key, String value) {
        ObjectNode meta = header.has("__metadata__") ? (ObjectNode) header.get("__metadata__")
                : header.putObject("__metadata__");
        meta.put(key, value);
        return this;
    }

    /** Appends a tensor whose bytes follow the previous tensor's. */
    public SafetensorsWriter tensor(String name, String dtype, long[] shape, byte[] bytes) {
        ObjectNode entry = header.putObject(name);
        entry.put("dtype", dtype);
        ArrayNode dims = entry.putArray("shape");
        for (long d : shape) {
            dims.add(d);
        }
        long begin = data.size();
        data.writeBytes(bytes);
        entry.putArray("data_offsets").add(begin).add(data.size());
        return this;
    }

    public SafetensorsWriter f32(String name, long[] shape, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return tensor(name, "F32", shape, b.array());
    }

    /** F16 or BF16 tensor from raw 16-bit patterns. */
    SafetensorsWriter bits16(String name, String dtype, long[] shape, int... patterns) {
        ByteBuffer b = ByteBuffer.allocate(patterns.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int p : patterns) {
            b.putShort((short) p);
        }
        return tensor(name, dtype, shape, b.array());
    }

    byte[] bytes() {
        return assemble(header.toString().getBytes(StandardCharsets.UTF_8), data.toByteArray());
    }

    public Path write(Path file) throws IOException {
        Files.write(file, bytes());
        return file;
    }

    /** A file from an arbitrary header text, for malformed-header tests. */
    static byte[] assemble(String headerJson, byte[] data) {
        return assemble(headerJson.getBytes(StandardCharsets.UTF_8), data);
    }

    static byte[] assemble(byte[] headerBytes, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(8 + headerBytes.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerBytes.length).put(headerBytes).put(data);
        return b.array();
    }
}
