package org.vitfit.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.io.OutputKind;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.io.SafeOutput;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.Finite;
import org.vitfit.runtime.VitModel;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

    /** Writes {@code value} over element {@code index} of an F32 tensor of the checkpoint. */
    private void poke(String tensor, int index, float value) throws IOException {
        fill(tensor, index, index + 1, value);
    }

    /** Writes {@code value} over elements {@code [from, to)} of an F32 tensor of the checkpoint. */
    private void fill(String tensor, int from, int to, float value) throws IOException {
        Path w = checkpoint.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(w);
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) b.getLong(0);
        JsonNode header = JSON.readTree(new String(all, 8, headerLength, StandardCharsets.UTF_8));
        long begin = header.path(tensor).path("data_offsets").get(0).asLong();
        for (int i = from; i < to; i++) {
            b.putFloat((int) (8 + headerLength + begin + 4L * i), value);
        }
        Files.write(w, all);
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
        OutputRefusedException e = assertThrows(OutputRefusedException.class,
                () -> Converter.convert(checkpoint, outParent.resolve("model")));
        assertTrue(e.getMessage().contains("already exists (a vitfit converted model written"), e.getMessage());
        assertTrue(e.getMessage().contains("pass --overwrite"), e.getMessage());
        String before = Files.readString(outParent.resolve("model/vitfit-model.json"));
        Converter.convert(checkpoint, outParent.resolve("model"), new Converter.Options("again", true, null));
        assertTrue(Files.isRegularFile(outParent.resolve("model/model.onnx")));
        assertTrue(SafeOutput.isOurs(outParent.resolve("model"), OutputKind.MODEL));
        assertFalse(before.equals(Files.readString(outParent.resolve("model/vitfit-model.json"))), "replaced");
        try (Stream<Path> left = Files.list(outParent)) {
            assertEquals(List.of("model"), left.map(p -> p.getFileName().toString()).toList(),
                    "the replaced model leaves no copy beside it");
        }
    }

    /** Issue 11 item 1: --overwrite replaced a project folder with model files. */
    @Test
    void overwriteNeverReplacesADirectoryVitfitDidNotWrite() throws IOException {
        Path project = Files.createDirectories(tmp.resolve("project/src"));
        Files.writeString(project.resolve("Main.java"), "class Main {}");
        Files.writeString(tmp.resolve("project/README.md"), "mine");
        OutputRefusedException e = assertThrows(OutputRefusedException.class, () -> Converter.convert(checkpoint,
                tmp.resolve("project"), new Converter.Options(null, true, null)));
        assertTrue(e.getMessage().contains("was not written by vitfit as a converted model (it holds README.md, src/)"),
                e.getMessage());
        assertEquals("class Main {}", Files.readString(project.resolve("Main.java")));
        try (Stream<Path> left = Files.list(tmp.resolve("project"))) {
            assertEquals(2, left.count(), "nothing added or removed");
        }

        // A head directory is vitfit's, but not a model: --overwrite does not turn one into the other.
        Path head = Files.createDirectories(tmp.resolve("head"));
        org.vitfit.io.OutputMarker.write(head, OutputKind.HEAD);
        e = assertThrows(OutputRefusedException.class, () -> Converter.convert(checkpoint, head,
                new Converter.Options(null, true, null)));
        assertTrue(e.getMessage().contains("is a vitfit head, not a converted model"), e.getMessage());
    }

    @Test
    void refusesAnOutputThatOverlapsTheCheckpoint() throws IOException {
        Converter.Options overwrite = new Converter.Options(null, true, null);
        OutputRefusedException e = assertThrows(OutputRefusedException.class,
                () -> Converter.convert(checkpoint, checkpoint, overwrite));
        assertTrue(e.getMessage().contains("is also the checkpoint directory"), e.getMessage());
        e = assertThrows(OutputRefusedException.class,
                () -> Converter.convert(checkpoint, checkpoint.resolve("model"), overwrite));
        assertTrue(e.getMessage().contains("lies inside the checkpoint directory"), e.getMessage());
        e = assertThrows(OutputRefusedException.class, () -> Converter.convert(checkpoint, tmp, overwrite));
        assertTrue(e.getMessage().contains("contains the checkpoint directory"), e.getMessage());
        Path processor = checkpoint.resolve("preprocessor_config.json");
        e = assertThrows(OutputRefusedException.class, () -> Converter.convert(checkpoint, processor.resolveSibling("x"),
                new Converter.Options(null, true, processor)));
        assertTrue(e.getMessage().contains("checkpoint directory"), e.getMessage());
        assertEquals(3, Files.list(checkpoint).count(), "the checkpoint is untouched");
    }

    /** Issue 11 item 3: a checkpoint with NaN weights converted and extracted "with no failed images". */
    @Test
    void nonFiniteWeightsAreRefusedNamingTheTensor() throws IOException {
        poke("encoder.layer.1.output.dense.weight", 17, Float.NaN);
        String msg = convertFails();
        assertTrue(msg.contains("tensor 'encoder.layer.1.output.dense.weight'") && msg.contains("holds NaN at index 17")
                && msg.contains("non-finite weights"), msg);
    }

    @Test
    void infiniteWeightsAreRefusedToo() throws IOException {
        poke("layernorm.bias", 3, Float.NEGATIVE_INFINITY);
        String msg = convertFails();
        assertTrue(msg.contains("tensor 'layernorm.bias'") && msg.contains("holds -Infinity at index 3"), msg);
    }

    /** Finite weights whose sums overflow: the model converts, but VitModel hands on no NaN embedding. */
    @Test
    void aModelThatComputesNonFiniteValuesGivesNoResult() throws IOException {
        fill("embeddings.patch_embeddings.projection.weight", 0, 64 * 3 * 16 * 16, 3e38f);
        Path model = outParent.resolve("model");
        Converter.convert(checkpoint, model);
        try (VitModel vit = VitModel.open(model, Device.CPU, 1)) {
            var image = ImageDecoder.forRecipe(vit.descriptor().preprocessing())
                    .decode(Golden.shared().resolve("fixtures/hf-golden/images/img0.png"));
            Finite.NonFiniteException e = assertThrows(Finite.NonFiniteException.class,
                    () -> vit.run(List.of(image), Set.of("embedding")));
            assertTrue(e.getMessage().startsWith("model " + model + " computed "), e.getMessage());
            assertTrue(e.getMessage().contains("in 'embedding' (image 1 of 1, index 0)"), e.getMessage());
        }
    }

    /** Issue 11 item 6: std [0,0,0] was accepted at convert and failed only at extract. */
    @Test
    void impossibleNormalisationIsRefusedAtConvert() throws IOException {
        Path processor = checkpoint.resolve("preprocessor_config.json");
        String original = Files.readString(processor);
        ObjectNode p = (ObjectNode) JSON.readTree(original);
        p.putArray("image_std").add(0.0).add(0.0).add(0.0);
        JSON.writeValue(processor.toFile(), p);
        String msg = convertFails();
        assertTrue(msg.contains(processor + " gives a preprocessing that cannot be applied") && msg.contains("std[0] is 0"),
                msg);

        Files.writeString(processor, original.replaceFirst("\"image_mean\":\\s*\\[[^]]*]",
                "\"image_mean\": [0.5, 1e999, 0.5]"));
        msg = convertFails();
        assertTrue(msg.contains("mean[1] must be a finite number, got Infinity"), msg);
    }

    @Test
    void unknownArchitecture() throws IOException {
        editConfig(c -> c.put("model_type", "convnext"));
        String msg = convertFails();
        assertTrue(msg.contains("config.json") && msg.contains("convnext"), msg);
    }

    @Test
    void timmNonVitArchitecture() throws IOException {
        Files.writeString(checkpoint.resolve("config.json"), "{\"architecture\": \"resnet50\", \"pretrained_cfg\": {}}");
        String msg = convertFails();
        assertTrue(msg.contains("resnet50"), msg);
    }

    @Test
    void configClaimsMoreLayersThanTheWeightsHold() throws IOException {
        editConfig(c -> c.put("num_hidden_layers", 3));
        String msg = convertFails();
        assertTrue(msg.contains("config.json: num_hidden_layers is 3 but the checkpoint holds 2 blocks "
                + "(encoder.layer.0. to encoder.layer.1.)"), msg);
    }

    @Test
    void configClaimsFewerLayersThanTheWeightsHold() throws IOException {
        editConfig(c -> c.put("num_hidden_layers", 1));
        String msg = convertFails();
        assertTrue(msg.contains("num_hidden_layers is 1 but the checkpoint holds 2 blocks"), msg);
    }

    @Test
    void mlpWidthMismatch() throws IOException {
        editConfig(c -> c.put("intermediate_size", 256));
        String msg = convertFails();
        assertTrue(msg.contains("intermediate_size is 256 but encoder.layer.0.intermediate.dense.weight has shape "
                + "[128, 64] (an MLP 128 wide)"), msg);
    }

    /** Issue 11 item 6: a config whose width contradicts the weights names the field. */
    @Test
    void widthAndPatchMismatchNameTheField() throws IOException {
        editConfig(c -> c.put("hidden_size", 128));
        String msg = convertFails();
        assertTrue(msg.contains("config.json: hidden_size is 128 but the weights are 64 wide "
                + "(embeddings.patch_embeddings.projection.weight has shape [64, 3, 16, 16])"), msg);
        editConfig(c -> c.put("hidden_size", 64).put("patch_size", 14));
        msg = convertFails();
        assertTrue(msg.contains("patch_size is 14 but embeddings.patch_embeddings.projection.weight has shape"), msg);
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
