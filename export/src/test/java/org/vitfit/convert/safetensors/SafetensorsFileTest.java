package org.vitfit.convert.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class SafetensorsFileTest {

    @TempDir
    Path tmp;

    @Test
    void readsF32TensorsInHeaderOrderWithMetadata() throws IOException {
        Path file = new SafetensorsWriter()
                .metadata("format", "pt")
                .f32("b.weight", new long[] {2, 3}, 1f, -2.5f, 3.25f, Float.MIN_VALUE, -0f, 1e30f)
                .f32("a.scalar", new long[] {}, 42f)
                .f32("empty", new long[] {0, 4})
                .write(tmp.resolve("t.safetensors"));
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            assertEquals(List.of("b.weight", "a.scalar", "empty"), List.copyOf(sf.tensors().keySet()));
            assertEquals(Map.of("format", "pt"), sf.metadata());
            TensorInfo w = sf.tensors().get("b.weight");
            assertArrayEquals(new long[] {2, 3}, w.shape());
            assertEquals(6, w.numel());
            assertEquals(new TensorInfo("b.weight", "F32", new long[] {2, 3}, 0, 24), w);
            assertArrayEquals(new float[] {1f, -2.5f, 3.25f, Float.MIN_VALUE, -0f, 1e30f}, sf.readFloats("b.weight"));
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(sf.readFloats("b.weight")[4]));
            assertArrayEquals(new float[] {42f}, sf.readFloats("a.scalar"));
            assertEquals(1, sf.tensors().get("a.scalar").numel());
            assertEquals(0, sf.readFloats("empty").length);
            ByteBuffer raw = sf.rawBytes("a.scalar");
            assertEquals(4, raw.remaining());
            assertEquals(42f, raw.getFloat(0));
        }
    }

    @Test
    void widensF16ExactlyIncludingSubnormalsInfinitiesAndNan() throws IOException {
        int[] bits = {0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0x3555, 0x7C00, 0xFC00, 0x7E00};
        float[] expected = {0f, -0f, 5.9604645e-8f, 6.097555e-5f, 6.1035156e-5f, 1f, -2f, 65504f, 0.33325195f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        Path file = new SafetensorsWriter().bits16("h", "F16", new long[] {bits.length}, bits)
                .write(tmp.resolve("h.safetensors"));
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            float[] got = sf.readFloats("h");
            for (int i = 0; i < bits.length; i++) {
                // Compare bit patterns so that -0 vs 0 and NaN are checked too.
                assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(got[i]),
                        "half 0x" + Integer.toHexString(bits[i]));
            }
            assertEquals(0x80000000, Float.floatToRawIntBits(got[1]));
        }
    }

    @Test
    void widensEveryF16PatternToTheValueTheFormatDefines() throws IOException {
        int[] all = new int[65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        Path file = new SafetensorsWriter().bits16("all", "F16", new long[] {256, 256}, all)
                .write(tmp.resolve("all.safetensors"));
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            float[] got = sf.readFloats("all");
            for (int h = 0; h < 65536; h++) {
                int sign = (h >> 15) == 0 ? 1 : -1;
                int e = (h >> 10) & 0x1F;
                int m = h & 0x3FF;
                // Definition of IEEE binary16, evaluated in double.
                double value = e == 0 ? sign * Math.scalb((double) m, -24)
                        : e == 31 ? (m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN)
                        : sign * Math.scalb(1.0 + m / 1024.0, e - 15);
                if (Double.isNaN(value)) {
                    assertTrue(Float.isNaN(got[h]), "half 0x" + Integer.toHexString(h));
                } else {
                    assertEquals(Float.floatToRawIntBits((float) value), Float.floatToRawIntBits(got[h]),
                            "half 0x" + Integer.toHexString(h));
                    assertEquals(value, got[h], 0.0, "conversion must be exact");
                }
            }
        }
    }

    @Test
    void widensBf16Exactly() throws IOException {
        int[] bits = {0x3F80, 0xC049, 0x0001, 0x7F7F, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x3E80};
        float[] expected = {1f, -3.140625f, 9.18355e-41f, 3.3895314e38f, -0f, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NaN, 0.25f};
        Path file = new SafetensorsWriter().bits16("b", "BF16", new long[] {3, 3}, bits)
                .write(tmp.resolve("b.safetensors"));
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            float[] got = sf.readFloats("b");
            for (int i = 0; i < bits.length; i++) {
                assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(got[i]),
                        "bf16 0x" + Integer.toHexString(bits[i]));
            }
            assertEquals(0x7FC10000, Float.floatToRawIntBits(got[7]), "NaN payload is kept");
        }
    }

    @Test
    void readsTheBundledVitTinyLikeNumpyDoes() throws IOException {
        Path file = Path.of(System.getProperty("vitfit.root"), "models/vit-tiny-patch16-224-augreg/model.safetensors");
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            assertEquals(152, sf.tensors().size());
            assertEquals(Map.of("format", "pt"), sf.metadata());
            assertArrayEquals(new long[] {1, 1, 192}, sf.tensors().get("cls_token").shape());
            assertArrayEquals(new long[] {192, 3, 16, 16}, sf.tensors().get("patch_embed.proj.weight").shape());
            // Reference values printed by numpy.frombuffer(..., '<f4') from the same file.
            float[] cls = sf.readFloats("cls_token");
            assertEquals(-0.3557218015193939f, cls[0]);
            assertEquals(-0.03764374926686287f, cls[1]);
            assertEquals(0.04390406608581543f, cls[191]);
            assertEquals(4.1173152544070035, sum(cls), 1e-9);
            float[] fc2 = sf.readFloats("blocks.11.mlp.fc2.weight");
            assertEquals(0.07038677483797073f, fc2[0]);
            assertEquals(0.06392667442560196f, fc2[fc2.length - 1]);
            assertEquals(-78.9219136001972, sum(fc2), 1e-7);
            assertEquals(7.800406635472882, sum(sf.readFloats("pos_embed")), 1e-8);
            for (TensorInfo t : sf.tensors().values()) {
                assertEquals("F32", t.dtype());
                for (float v : sf.readFloats(t.name())) {
                    assertTrue(Float.isFinite(v), t.name());
                }
            }
        }
    }

    private static double sum(float[] values) {
        double s = 0;
        for (float v : values) {
            s += v;
        }
        return s;
    }

    @Test
    void listsIntegerBuffersButRefusesToReadThemAsWeights() throws IOException {
        byte[] ids = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0).putLong(1).array();
        Path file = new SafetensorsWriter().tensor("vision_model.embeddings.position_ids", "I64", new long[] {1, 2}, ids)
                .f32("w", new long[] {1}, 1f).write(tmp.resolve("clip.safetensors"));
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            assertEquals(2, sf.tensors().size());
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> sf.readFloats("vision_model.embeddings.position_ids"));
            assertContains(e, "clip.safetensors", "vision_model.embeddings.position_ids", "I64");
            assertEquals("vision_model.embeddings.position_ids", e.tensor());
            assertContains(assertThrows(CheckpointException.class, () -> sf.readFloats("nope")),
                    "clip.safetensors", "'nope'", "no such tensor");
        }
    }

    @Test
    void rejectsFilesTooShortForTheLengthField() throws IOException {
        for (int n = 0; n < 8; n++) {
            Path file = Files.write(tmp.resolve("short" + n + ".safetensors"), new byte[n]);
            assertContains(assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file)),
                    "short" + n + ".safetensors", "shorter than the 8-byte", "download it again");
        }
    }

    @Test
    void rejectsBadHeaderLengths() throws IOException {
        byte[] valid = new SafetensorsWriter().f32("w", new long[] {1}, 1f).bytes();
        assertContains(openWithLength(valid, 200L * 1024 * 1024), "209715200", "more than the");
        assertContains(openWithLength(valid, -1L), "18446744073709551615", "more than the");
        assertContains(openWithLength(valid, valid.length - 7), "only " + (valid.length - 8) + " follow", "truncated");
        assertContains(openWithLength(valid, 0), "header is empty");
    }

    private CheckpointException openWithLength(byte[] valid, long length) throws IOException {
        byte[] bytes = valid.clone();
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
        Path file = Files.write(tmp.resolve("len.safetensors"), bytes);
        return assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    }

    @Test
    void rejectsMalformedHeaders() throws IOException {
        byte[] four = new byte[4];
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",", four, "not valid JSON");
        assertHeaderRejected("[1,2]", four, "not a JSON object");
        assertHeaderRejected("{} {}", four, "not valid JSON");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four, "Duplicate field 'w'");
        assertHeaderRejected("{\"w\":[1]}", four, "'w'", "must be an object");
        assertHeaderRejected("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", four, "'w'", "lacks dtype");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", four, "'w'", "lacks shape");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", four, "'w'", "lacks data_offsets");
        assertHeaderRejected("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[1],\"data_offsets\":[0,4]}}", four,
                "'w'", "unsupported dtype 'Q4_K'", "F32, F16 and BF16");
        assertHeaderRejected("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", four, "'w'", "dtype must be a string");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", four,
                "'w'", "shape[0] must be a non-negative integer but is -1");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", four,
                "'w'", "shape[0] must be a non-negative integer");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", four,
                "'w'", "shape[0] must be a non-negative integer");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", four,
                "'w'", "overflows a 64-bit element count");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952,2],\"data_offsets\":[0,4]}}", four,
                "'w'", "overflows a 64-bit byte count");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", four,
                "'w'", "data_offsets[0] must be a non-negative integer but is -4");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", four,
                "'w'", "data_offsets must be an array [begin, end]");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", four,
                "'w'", "begin after end");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", four,
                "'w'", "end 8 is past the data section (4 bytes)");
        assertHeaderRejected("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", four,
                "'w'", "span 4 bytes but shape [2] of F32 needs 8");
        assertHeaderRejected("{\"__metadata__\":{\"format\":1}}", four, "__metadata__ value 'format' must be a string");
        assertHeaderRejected("{\"__metadata__\":[]}", four, "__metadata__ must be an object");
    }

    @Test
    void rejectsOverlapsGapsAndTrailingBytes() throws IOException {
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertHeaderRejected("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8],
                "'b'", "overlap tensor 'a' [0, 8)");
        assertHeaderRejected("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", new byte[16],
                "'b'", "starts at byte 12 but the previous tensor ends at 8");
        assertHeaderRejected("{" + a + "}", new byte[12], "cover 8 bytes of a 12-byte data section");
        assertHeaderRejected("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}," + a + "}", new byte[8],
                "'z'", "overlap tensor 'a'");
    }

    private void assertHeaderRejected(String header, byte[] data, String... fragments) throws IOException {
        Path file = Files.write(tmp.resolve("bad.safetensors"), SafetensorsWriter.assemble(header, data));
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file), header);
        assertContains(e, fragments);
        assertContains(e, "bad.safetensors");
    }

    @Test
    void reportsAMissingFileAsACheckpointError() {
        assertContains(assertThrows(CheckpointException.class,
                () -> SafetensorsFile.open(tmp.resolve("absent.safetensors"))), "absent.safetensors", "no such file");
    }

    static void assertContains(Exception e, String... fragments) {
        for (String f : fragments) {
            if (!e.getMessage().contains(f)) {
                fail("message lacks '" + f + "': " + e.getMessage());
            }
        }
    }
}
