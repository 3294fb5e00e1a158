package org.vitfit.onnx;

import org.junit.jupiter.api.Test;
import org.vitfit.runtime.Hashing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading metadata_props and the graph's hash from ModelProto bytes written here by hand, field by field. */
class OnnxModelScanTest {

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static void bytesField(ByteArrayOutputStream out, int field, byte[] payload) {
        varint(out, (long) field << 3 | 2);
        varint(out, payload.length);
        out.writeBytes(payload);
    }

    private static byte[] entry(String key, String value) {
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        bytesField(e, 1, key.getBytes(StandardCharsets.UTF_8));
        bytesField(e, 2, value.getBytes(StandardCharsets.UTF_8));
        return e.toByteArray();
    }

    private static final byte[] GRAPH = "pretend graph bytes \u0001\u0002".getBytes(StandardCharsets.UTF_8);

    /** ir_version (varint), producer_name, graph, opset_import, two metadata entries, as protobuf orders them. */
    private static byte[] model(boolean twoGraphs, String secondKey) {
        ByteArrayOutputStream m = new ByteArrayOutputStream();
        varint(m, 1 << 3);
        varint(m, 8);
        bytesField(m, 2, "vitfit".getBytes(StandardCharsets.UTF_8));
        bytesField(m, 7, GRAPH);
        if (twoGraphs) {
            bytesField(m, 7, GRAPH);
        }
        bytesField(m, 8, new byte[] {0x10, 0x11});
        bytesField(m, 14, entry("vitfit.task", "multiclass"));
        bytesField(m, 14, entry(secondKey, "[\"ünï\"]"));
        return m.toByteArray();
    }

    @Test
    void readsMetadataAndHashesTheGraphField() throws IOException {
        OnnxModelScan scan = OnnxModelScan.scan(model(false, "vitfit.labels"), "m.onnx");
        assertEquals(Map.of("vitfit.task", "multiclass", "vitfit.labels", "[\"ünï\"]"), scan.metadata());
        assertEquals(Hashing.sha256(GRAPH), scan.graphSha256());
        assertNull(OnnxModelScan.scan(new byte[0], "empty").graphSha256());
    }

    @Test
    void refusesDamagedOrAmbiguousBytes() {
        byte[] whole = model(false, "vitfit.labels");
        for (int cut : new int[] {1, 5, 12, whole.length - 3}) {
            IOException e = assertThrows(IOException.class,
                    () -> OnnxModelScan.scan(Arrays.copyOf(whole, cut), "cut.onnx"), "cut at " + cut);
            assertTrue(e.getMessage().startsWith("cut.onnx: not a valid ONNX model ("), e.getMessage());
        }
        IOException e = assertThrows(IOException.class, () -> OnnxModelScan.scan(model(true, "x"), "two.onnx"));
        assertTrue(e.getMessage().contains("more than one graph field"), e.getMessage());
        e = assertThrows(IOException.class, () -> OnnxModelScan.scan(model(false, "vitfit.task"), "dup.onnx"));
        assertTrue(e.getMessage().contains("metadata key 'vitfit.task' appears twice"), e.getMessage());
        // A length that claims more than the file holds: an error, not an allocation.
        ByteArrayOutputStream lying = new ByteArrayOutputStream();
        varint(lying, 7 << 3 | 2);
        varint(lying, Integer.MAX_VALUE);
        e = assertThrows(IOException.class, () -> OnnxModelScan.scan(lying.toByteArray(), "lying.onnx"));
        assertTrue(e.getMessage().contains("runs past the end"), e.getMessage());
    }
}
