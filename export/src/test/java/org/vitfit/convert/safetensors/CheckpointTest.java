package org.vitfit.convert.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.vitfit.convert.safetensors.SafetensorsFileTest.assertContains;

class CheckpointTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path GOLDEN_VIT = Path.of(System.getProperty("vitfit.shared"), "fixtures/hf-golden/vit");

    @TempDir
    Path tmp;

    @Test
    void opensASingleFileCheckpoint() throws IOException {
        try (Checkpoint ckpt = Checkpoint.open(GOLDEN_VIT)) {
            assertEquals(40, ckpt.names().size());
            assertEquals(new ArrayList<>(ckpt.names()).stream().sorted().toList(), List.copyOf(ckpt.names()));
            assertArrayEquals(new long[] {1, 1, 64}, ckpt.shape("embeddings.cls_token"));
            assertEquals(List.of(GOLDEN_VIT.resolve("model.safetensors")), ckpt.files());
            // sha256sum of the fixture file.
            assertEquals("8ae27665268e298a465e041dc350a9353845ffdfd200d89e2edd2e5625b7c50e", ckpt.weightsSha256());
            assertSame(ckpt.weightsSha256(), ckpt.weightsSha256(), "cached");
            try (SafetensorsFile sf = SafetensorsFile.open(GOLDEN_VIT.resolve("model.safetensors"))) {
                assertArrayEquals(sf.readFloats("embeddings.position_embeddings"),
                        ckpt.floats("embeddings.position_embeddings"));
            }
        }
    }

    @Test
    void hashesTheBundledModelLikeSha256sum() throws IOException {
        Path dir = Path.of(System.getProperty("vitfit.root"), "models/vit-tiny-patch16-224-augreg");
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            assertEquals("a22e9b3685d1feca11a382fbed2db95defc965fe037c026069331b6c243268a6", ckpt.weightsSha256());
            assertEquals(192 * 768, ckpt.floats("blocks.0.mlp.fc1.weight").length);
        }
    }

    @Test
    void missingTensorErrorNamesTheDirectoryTheTensorAndANearMatch() throws IOException {
        try (Checkpoint ckpt = Checkpoint.open(GOLDEN_VIT)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ckpt.info("embeddings.cls_tokens"));
            assertContains(e, GOLDEN_VIT.toString(), "'embeddings.cls_tokens'", "no such tensor",
                    "nearest name is 'embeddings.cls_token'");
            assertEquals("embeddings.cls_tokens", e.tensor());
            assertThrows(CheckpointException.class, () -> ckpt.floats("vit.embeddings.cls_token"));
        }
    }

    @Test
    void opensAShardedCheckpointAndMatchesTheSingleFile() throws IOException {
        Map<String, String> weightMap = splitGoldenIntoShards(tmp);
        try (Checkpoint single = Checkpoint.open(GOLDEN_VIT); Checkpoint sharded = Checkpoint.open(tmp)) {
            assertEquals(single.names(), sharded.names());
            Path shard1 = tmp.resolve("model-00001-of-00002.safetensors");
            Path shard2 = tmp.resolve("model-00002-of-00002.safetensors");
            assertEquals(List.of(shard1, shard2), sharded.files());
            for (String name : single.names()) {
                assertArrayEquals(single.shape(name), sharded.shape(name), name);
                assertArrayEquals(single.floats(name), sharded.floats(name), name);
            }
            String expected = sha256(sha256(Files.readAllBytes(shard1)) + sha256(Files.readAllBytes(shard2)));
            assertEquals(expected, sharded.weightsSha256());
            assertEquals(20, weightMap.values().stream().filter(s -> s.equals(shard1.getFileName().toString())).count());
        }
        // The index file itself is accepted as the location too.
        try (Checkpoint viaIndex = Checkpoint.open(tmp.resolve(Checkpoint.INDEX_FILE))) {
            assertEquals(40, viaIndex.names().size());
        }
    }

    @Test
    void rejectsBrokenShardedCheckpoints() throws IOException {
        Map<String, String> weightMap = splitGoldenIntoShards(tmp);
        Path index = tmp.resolve(Checkpoint.INDEX_FILE);

        Files.move(tmp.resolve("model-00002-of-00002.safetensors"), tmp.resolve("moved.safetensors"));
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                "model-00002-of-00002.safetensors", "is missing", "download all shards");
        Files.move(tmp.resolve("moved.safetensors"), tmp.resolve("model-00002-of-00002.safetensors"));

        Map<String, String> wrongShard = new java.util.TreeMap<>(weightMap);
        wrongShard.put("embeddings.cls_token", "model-00002-of-00002.safetensors");
        writeIndex(index, wrongShard);
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                "model-00002-of-00002.safetensors", "'embeddings.cls_token'", "missing from this shard");

        Map<String, String> escaping = new java.util.TreeMap<>(weightMap);
        escaping.put("embeddings.cls_token", "../model-00001-of-00002.safetensors");
        writeIndex(index, escaping);
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                "'../model-00001-of-00002.safetensors'", "not a file name in");

        Files.writeString(index, "{\"weight_map\": {\"a\": \"x.safetensors\"");
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                Checkpoint.INDEX_FILE, "not valid JSON");
        Files.writeString(index, "{\"metadata\": {}}");
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                Checkpoint.INDEX_FILE, "no non-empty \"weight_map\"");
        Files.writeString(index, "{\"weight_map\": {\"a\": 3}}");
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                Checkpoint.INDEX_FILE, "'a'", "must be a shard file name");
    }

    @Test
    void explainsADirectoryWithoutSafetensors() throws IOException {
        Files.writeString(tmp.resolve("pytorch_model.bin"), "not really");
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp)),
                tmp.toString(), "neither model.safetensors nor model.safetensors.index.json",
                "pytorch_model.bin", "pickle");
        assertContains(assertThrows(CheckpointException.class, () -> Checkpoint.open(tmp.resolve("nowhere"))),
                "nowhere", "no such checkpoint directory");
    }

    @Test
    void prefersTheSingleFileWhenBothLayoutsArePresent() throws IOException {
        splitGoldenIntoShards(tmp);
        Files.copy(GOLDEN_VIT.resolve("model.safetensors"), tmp.resolve("model.safetensors"));
        try (Checkpoint ckpt = Checkpoint.open(tmp)) {
            assertEquals(List.of(tmp.resolve("model.safetensors")), ckpt.files());
        }
    }

    /** Splits the golden ViT's tensors alphabetically into two shards plus an index, as save_pretrained does. */
    private static Map<String, String> splitGoldenIntoShards(Path dir) throws IOException {
        Map<String, String> weightMap = new java.util.TreeMap<>();
        try (SafetensorsFile source = SafetensorsFile.open(GOLDEN_VIT.resolve("model.safetensors"))) {
            List<String> names = source.tensors().keySet().stream().sorted().toList();
            SafetensorsWriter[] shards = {new SafetensorsWriter(), new SafetensorsWriter()};
            for (int i = 0; i < names.size(); i++) {
                int shard = i < names.size() / 2 ? 0 : 1;
                TensorInfo info = source.tensors().get(names.get(i));
                ByteBuffer raw = source.rawBytes(info.name());
                byte[] bytes = new byte[raw.remaining()];
                raw.get(bytes);
                shards[shard].tensor(info.name(), info.dtype(), info.shape(), bytes);
                weightMap.put(info.name(), "model-0000" + (shard + 1) + "-of-00002.safetensors");
            }
            shards[0].metadata("format", "pt").write(dir.resolve("model-00001-of-00002.safetensors"));
            shards[1].metadata("format", "pt").write(dir.resolve("model-00002-of-00002.safetensors"));
        }
        writeIndex(dir.resolve(Checkpoint.INDEX_FILE), weightMap);
        return weightMap;
    }

    private static void writeIndex(Path index, Map<String, String> weightMap) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("metadata").put("total_size", 536624);
        ObjectNode map = root.putObject("weight_map");
        weightMap.forEach(map::put);
        JSON.writeValue(index.toFile(), root);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static String sha256(String text) {
        return sha256(text.getBytes(StandardCharsets.US_ASCII));
    }
}
