package org.vitfit.convert.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded random corruptions of a valid file's header: every outcome must be a clean open whose tensors are
 * self-consistent, or a {@link CheckpointException} - never another exception, a hang or an out-of-memory error.
 */
class SafetensorsFuzzTest {

    private static final long SEED = 0x5AFE7E75L;
    private static final int ITERATIONS = 4000;
    private static final byte[] JSON_CHARS = "{}[]\",:0123456789-+.eE \\ntruefalsnul".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path tmp;

    @Test
    void corruptedHeadersOpenConsistentlyOrFailWithCheckpointException() {
        byte[] valid = new SafetensorsWriter()
                .metadata("format", "pt")
                .f32("blocks.0.attn.qkv.weight", new long[] {3, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
                .bits16("blocks.0.norm1.weight", "F16", new long[] {5}, 0x3C00, 0x0001, 0x7C00, 0x7E00, 0x8000)
                .bits16("cls_token", "BF16", new long[] {1, 1, 3}, 0x3F80, 0xC049, 0x7F80)
                .f32("scalar", new long[] {}, 0.5f)
                .f32("empty", new long[] {2, 0})
                .tensor("position_ids", "I64", new long[] {2}, new byte[16])
                .bytes();
        int headerLength = (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int[] outcomes = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Random random = new Random(SEED);
            for (int i = 0; i < ITERATIONS; i++) {
                List<String> applied = new ArrayList<>();
                byte[] mutated = valid;
                int rounds = 1 + random.nextInt(3);
                for (int r = 0; r < rounds; r++) {
                    mutated = mutate(mutated, headerLength, random, applied);
                }
                outcomes[check(mutated, "iteration " + i + " " + applied)]++;
            }
            for (byte[] crafted : craftedHeaders(valid, headerLength)) {
                check(crafted, "crafted header " + new String(crafted, 8, Math.min(60, crafted.length - 8),
                        StandardCharsets.ISO_8859_1));
            }
        });
        // Both kinds of outcome must occur, or the corruptions are not exercising the validator.
        assertTrue(outcomes[0] > 50, "successful opens: " + outcomes[0]);
        assertTrue(outcomes[1] > ITERATIONS / 2, "rejections: " + outcomes[1]);
    }

    /** Returns 0 for a consistent open, 1 for a CheckpointException; fails the test otherwise. */
    private int check(byte[] bytes, String what) throws IOException {
        Path file = Files.write(tmp.resolve("fuzz.safetensors"), bytes);
        try (SafetensorsFile sf = SafetensorsFile.open(file)) {
            assertConsistent(sf, bytes, what);
            return 0;
        } catch (CheckpointException e) {
            if (e.getMessage() == null || !e.getMessage().contains("fuzz.safetensors")) {
                fail(what + ": message does not name the file: " + e.getMessage());
            }
            return 1;
        } catch (Throwable t) {
            throw new AssertionError(what + ": " + t, t);
        }
    }

    private static void assertConsistent(SafetensorsFile sf, byte[] bytes, String what) throws CheckpointException {
        long dataLength = bytes.length - sf.dataStart();
        List<TensorInfo> byOffset = new ArrayList<>(sf.tensors().values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long covered = 0;
        for (TensorInfo t : byOffset) {
            assertEquals(covered, t.begin(), what + ": tiling at " + t);
            covered = t.end();
            assertTrue(Arrays.stream(t.shape()).allMatch(d -> d >= 0), what);
            assertEquals(t.end() - t.begin(), sf.rawBytes(t.name()).remaining(), what);
            if (t.isFloat()) {
                float[] values = sf.readFloats(t.name());
                assertEquals(t.numel(), values.length, what + ": " + t);
                if (t.dtype().equals("F32") && values.length > 0) {
                    float expected = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
                            .getFloat((int) (sf.dataStart() + t.begin()));
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(values[0]), what);
                }
            }
        }
        assertEquals(dataLength, covered, what + ": data section coverage");
    }

    private static byte[] mutate(byte[] in, int headerLength, Random random, List<String> applied) {
        byte[] b = in.clone();
        int headerEnd = Math.min(b.length, 8 + headerLength);
        int kind = random.nextInt(8);
        switch (kind) {
            case 0 -> { // bit flips in the header
                int flips = 1 + random.nextInt(8);
                for (int f = 0; f < flips && headerEnd > 8; f++) {
                    int pos = 8 + random.nextInt(headerEnd - 8);
                    b[pos] ^= (byte) (1 << random.nextInt(8));
                }
                applied.add("flip" + flips);
            }
            case 1 -> { // JSON-significant characters, which reach the validator more often than random bytes
                if (headerEnd > 8) {
                    int pos = 8 + random.nextInt(headerEnd - 8);
                    b[pos] = JSON_CHARS[random.nextInt(JSON_CHARS.length)];
                    applied.add("char@" + pos);
                }
            }
            case 2 -> { // change a digit: shapes and offsets stay well-formed JSON but become inconsistent
                List<Integer> digits = new ArrayList<>();
                for (int p = 8; p < headerEnd; p++) {
                    if (b[p] >= '0' && b[p] <= '9') {
                        digits.add(p);
                    }
                }
                if (!digits.isEmpty()) {
                    int pos = digits.get(random.nextInt(digits.size()));
                    b[pos] = (byte) ('0' + random.nextInt(10));
                    applied.add("digit@" + pos);
                }
            }
            case 3 -> { // truncation
                int length = random.nextInt(b.length + 1);
                b = Arrays.copyOf(b, length);
                applied.add("truncate" + length);
            }
            case 4 -> { // header length field edits
                long length = switch (random.nextInt(5)) {
                    case 0 -> random.nextLong();
                    case 1 -> headerLength + random.nextInt(33) - 16;
                    case 2 -> b.length - 8;
                    case 3 -> random.nextInt(1 << 16);
                    default -> SafetensorsFile.MAX_HEADER_BYTES + random.nextInt(3) - 1;
                };
                if (b.length >= 8) {
                    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
                }
                applied.add("length=" + length);
            }
            case 5 -> { // insert or delete header bytes, keeping the length field right half of the time
                if (headerEnd > 8) {
                    int pos = 8 + random.nextInt(headerEnd - 8);
                    int count = 1 + random.nextInt(6);
                    boolean insert = random.nextBoolean();
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    out.write(b, 0, pos);
                    if (insert) {
                        for (int k = 0; k < count; k++) {
                            out.write(JSON_CHARS[random.nextInt(JSON_CHARS.length)]);
                        }
                        out.write(b, pos, b.length - pos);
                    } else {
                        int skip = Math.min(count, b.length - pos);
                        out.write(b, pos + skip, b.length - pos - skip);
                    }
                    byte[] changed = out.toByteArray();
                    if (random.nextBoolean() && changed.length >= 8) {
                        long delta = insert ? count : -Math.min(count, b.length - pos);
                        ByteBuffer.wrap(changed).order(ByteOrder.LITTLE_ENDIAN).putLong(0, headerLength + delta);
                    }
                    b = changed;
                    applied.add((insert ? "insert" : "delete") + count + "@" + pos);
                }
            }
            case 6 -> { // random bytes appended to the data section
                int extra = 1 + random.nextInt(16);
                b = Arrays.copyOf(b, b.length + extra);
                applied.add("append" + extra);
            }
            default -> { // overwrite a run of header bytes with random bytes
                if (headerEnd > 8) {
                    int pos = 8 + random.nextInt(headerEnd - 8);
                    int count = Math.min(1 + random.nextInt(8), headerEnd - pos);
                    for (int k = 0; k < count; k++) {
                        b[pos + k] = (byte) random.nextInt(256);
                    }
                    applied.add("random" + count + "@" + pos);
                }
            }
        }
        return b;
    }

    /** Inputs random mutation rarely produces: deep nesting, giant numbers and strings, non-UTF-8, NUL bytes. */
    private static List<byte[]> craftedHeaders(byte[] valid, int headerLength) {
        byte[] data = Arrays.copyOfRange(valid, 8 + headerLength, valid.length);
        List<byte[]> out = new ArrayList<>();
        out.add(SafetensorsWriter.assemble("[".repeat(100_000), data));
        out.add(SafetensorsWriter.assemble("{\"a\":" + "{\"a\":".repeat(50_000) + "1" + "}".repeat(50_001), data));
        out.add(SafetensorsWriter.assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + "9".repeat(100_000)
                + "],\"data_offsets\":[0,4]}}", data));
        out.add(SafetensorsWriter.assemble("{\"" + "x".repeat(1_000_000) + "\":1}", data));
        out.add(SafetensorsWriter.assemble(new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'}, data));
        out.add(SafetensorsWriter.assemble(new byte[] {'{', 0, '}'}, data));
        out.add(SafetensorsWriter.assemble("   ", data));
        out.add(SafetensorsWriter.assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e400]}}", data));
        out.add(SafetensorsWriter.assemble("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", new byte[4]));
        return out;
    }
}
