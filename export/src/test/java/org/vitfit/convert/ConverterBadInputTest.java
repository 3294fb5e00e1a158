package org.vitfit.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Broken checkpoints fail with a message that names the file and tensor, and leave nothing behind in the
 * output's parent directory.
 */
class ConverterBadInputTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    Path checkpoint;
    Path outParent;

    @BeforeEach
    void copyTinyVit() throws IOException {
        Path src = Golden.shared().resolve("fixtures/hf-golden/vit");
        checkpoint = tmp.resolve("ckpt");
        Files.createDirectories(checkpoint);
        Files.copy(src.resolve("config.json"), checkpoint.resolve("config.json"));
        Files.copy(src.resolve("model.safetensors"), checkpoint.resolve("model.safetensors"));
        Files.copy(src.resolve("processor_slow/preprocessor_config.json"), checkpoint.resolve("preprocessor_config.json"));
        outParent = tmp.resolve("out");
        Files.createDirectories(outParent);
    }

    private String convertFails() {
        Exception e = assertThrows(IOException.class, () -> Converter.convert(checkpoint, outParent.resolve("model")));
        try (Stream<Path> left = Files.list(outParent)) {
            assertEquals(0, left.count(), "a failed conversion must leave no output or temporary directory");
        } catch (IOException io) {
            throw new AssertionError(io);
        }
        return e.getMessage();
    }

    private void editConfig(java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(checkpoint.resolve("config.json").toFile());
        edit.accept(c);
        JSON.writeValue(checkpoint.resolve("config.json").toFile(), c);
    }

    @Test
    void convertsTheUntouchedCopy() throws IOException {
        Converter.convert(checkpoint, outParent.resolve("model"));
        assertTrue(Files.isRegularFile(outParent.resolve("model/model.onnx")));
        assertTrue(Files.isRegularFile(outParent.resolve("model/vitfit-model.json")));
        try (Stream<Path> left = Files.list(outParent)) {
            assertEquals(1, left.count(), "only the output directory, no temporary leftovers");
        }
    }

    @Test
    void refusesToOverwriteUnlessAsked() throws IOException {
        Converter.convert(checkpoint, outParent.resolve("model"));
        assertThrows(java.nio.file.FileAlreadyExistsException.class,
                () -> Converter.convert(checkpoint, outParent.resolve("model")));
        Converter.convert(checkpoint, outParent.resolve("model"), new Converter.Options(null, true, null));
        assertTrue(Files.isRegularFile(outParent.resolve("model/model.onnx")));
    }

    @Test
    void unknownArchitecture() throws IOException {
        editConfig(c -> c.put("model_type", "swin"));
        String msg = convertFails();
        assertTrue(msg.contains("config.json") && msg.contains("swin"), msg);
    }

    @Test
    void timmNonVitArchitecture() throws IOException {
        Files.writeString(checkpoint.resolve("config.json"), "{\"architecture\": \"resnet50\", \"pretrained_cfg\": {}}");
        String msg = convertFails();
        assertTrue(msg.contains("resnet50"), msg);
    }

    @Test
    void missingTensorWhenConfigClaimsMoreLayers() throws IOException {
        editConfig(c -> c.put("num_hidden_layers", 3));
        String msg = convertFails();
        assertTrue(msg.contains("encoder.layer.2.") && msg.contains("missing tensor"), msg);
    }

    @Test
    void extraTensorsWhenConfigClaimsFewerLayers() throws IOException {
        editConfig(c -> c.put("num_hidden_layers", 1));
        String msg = convertFails();
        assertTrue(msg.contains("encoder.layer.1.") && msg.contains("does not use"), msg);
    }

    @Test
    void shapeMismatch() throws IOException {
        editConfig(c -> c.put("intermediate_size", 256));
        String msg = convertFails();
        assertTrue(msg.contains("intermediate.dense.weight") && msg.contains("[128, 64]"), msg);
    }

    @Test
    void headCountThatDoesNotDivideWidth() throws IOException {
        editConfig(c -> c.put("num_attention_heads", 5));
        String msg = convertFails();
        assertTrue(msg.contains("not divisible by 5"), msg);
    }

    @Test
    void truncatedWeights() throws IOException {
        Path w = checkpoint.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(w);
        Files.write(w, java.util.Arrays.copyOf(all, all.length / 2));
        String msg = convertFails();
        assertTrue(msg.contains("model.safetensors"), msg);
    }

    @Test
    void unsupportedDtype() throws IOException {
        // A header that declares an int64 tensor where a float one is expected.
        Map<String, Object> header = new LinkedHashMap<>();
        int bytes = 64 * 3 * 16 * 16 * 8;
        header.put("embeddings.patch_embeddings.projection.weight",
                Map.of("dtype", "I64", "shape", new long[] {64, 3, 16, 16}, "data_offsets", new long[] {0, bytes}));
        byte[] h = JSON.writeValueAsBytes(header);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + bytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(checkpoint.resolve("model.safetensors"), b.array());
        String msg = convertFails();
        assertTrue(msg.contains("I64") && msg.contains("embeddings.patch_embeddings.projection.weight"), msg);
    }

    @Test
    void missingConfig() throws IOException {
        Files.delete(checkpoint.resolve("config.json"));
        assertTrue(convertFails().contains("config.json"));
    }

    @Test
    void configThatIsNotJson() throws IOException {
        Files.writeString(checkpoint.resolve("config.json"), "{ not json", StandardCharsets.UTF_8);
        String msg = convertFails();
        assertTrue(msg.contains("not valid JSON"), msg);
    }

    @Test
    void missingPreprocessorConfig() throws IOException {
        Files.delete(checkpoint.resolve("preprocessor_config.json"));
        String msg = convertFails();
        assertTrue(msg.contains("--preprocessor-config"), msg);
        assertFalse(Files.exists(outParent.resolve("model")));
    }
}
