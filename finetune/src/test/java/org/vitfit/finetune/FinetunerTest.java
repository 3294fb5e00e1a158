package org.vitfit.finetune;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.heads.Head;
import org.vitfit.onnx.Device;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitModel;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The loop end to end on the small random transformers ViT (2 layers, 224 px) and 3 pet breeds x 6 photos:
 * a crashed run resumes to exactly the uninterrupted result, the written model directory runs in the
 * inference runtime and gives the logits the training graph gives, its head directory is the same classifier,
 * training lowers the training loss; partial freezing keeps the frozen layers bit for bit and reads them from the
 * on-disk cache; LoRA writes the plain graph with the adapters merged.
 */
class FinetunerTest {

    static final Path SHARED = Path.of(System.getProperty("vitfit.shared", "../../shared"));
    static final List<String> BREEDS = List.of("Abyssinian", "Bengal", "Birman");

    @TempDir
    static Path tmp;
    static Path checkpoint;
    static Path images;

    @BeforeAll
    static void data() throws IOException {
        Path golden = SHARED.resolve("fixtures/hf-golden");
        checkpoint = Files.createDirectories(tmp.resolve("checkpoint"));
        Files.copy(golden.resolve("grad_multiclass/config.json"), checkpoint.resolve("config.json"));
        Files.copy(golden.resolve("grad_multiclass/model.safetensors"), checkpoint.resolve("model.safetensors"));
        Files.copy(golden.resolve("vit/processor_slow/preprocessor_config.json"),
                checkpoint.resolve("preprocessor_config.json"));
        images = copyPets(tmp.resolve("images"), 6);
    }

    static Path copyPets(Path dir, int perBreed) throws IOException {
        for (String breed : BREEDS) {
            Path d = Files.createDirectories(dir.resolve(breed));
            try (Stream<Path> files = Files.list(SHARED.resolve("datasets/oxford-pets-370").resolve(breed))) {
                for (Path f : files.sorted().limit(perBreed).toList()) {
                    Files.copy(f, d.resolve(f.getFileName()));
                }
            }
        }
        return dir;
    }

    /** lr 1e-3 for the random backbone (not a pretrained one) so three epochs move the loss visibly. */
    static FinetuneOptions options(int epochs, int trainBlocks, LoraConfig lora, boolean augment, boolean overwrite) {
        return new FinetuneOptions(epochs, 4, 1e-3, 1e-2, 0.05, 0.2, LrSchedule.COSINE, 1.0, 3, 0, 0.25, augment,
                0.5, false, trainBlocks, lora, Device.CPU, 1, overwrite);
    }

    static FinetuneOptions options(int epochs) {
        return options(epochs, FinetuneOptions.ALL_BLOCKS, null, true, false);
    }

    @Test
    void crashedRunResumesToTheUninterruptedResultAndTheModelRuns() throws Exception {
        ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
        Path straight = tmp.resolve("straight");
        Finetuner.Result full = Finetuner.run(checkpoint, images, straight, options(3), log);

        Path resumed = tmp.resolve("resumed");
        Finetuner.Result partial = Finetuner.run(checkpoint, images, resumed, options(3), log, 1);
        assertNull(partial.model(), "an interrupted run writes no model");
        assertEquals(1, partial.history().size());
        Finetuner.Result rest = Finetuner.run(checkpoint, images, resumed, options(3), log);
        System.out.print(logBytes.toString(StandardCharsets.UTF_8));
        assertTrue(logBytes.toString(StandardCharsets.UTF_8).contains("resuming after epoch 1"));
        assertEquals(full.history(), withSameSeconds(rest.history(), full.history()));
        assertEquals(full.model().weightsSha256(), rest.model().weightsSha256(), "same weights after resuming");
        assertEquals(full.bestEpoch(), rest.bestEpoch());
        // the checkpoint keeps only the weight files its state.json names (plus its marker and lock)
        assertEquals(Set.of(".vitfit-output.json", "run.lock", "state.json", Checkpoint.currentFile(3),
                Checkpoint.bestFile(full.bestEpoch())), list(straight.resolveSibling("straight.finetune-state")));

        // training on 14 images for 3 epochs lowers their loss
        assertTrue(full.history().get(2).trainLoss() < full.history().get(0).trainLoss(), full.history().toString());

        // a changed setting is refused instead of silently mixing two runs
        FinetuneOptions other = new FinetuneOptions(4, 4, 1e-3, 1e-2, 0.05, 0.2, LrSchedule.COSINE, 1.0, 3, 0, 0.25,
                true, 0.5, false, FinetuneOptions.ALL_BLOCKS, null, Device.CPU, 1, true);
        IllegalArgumentException changed = assertThrows(IllegalArgumentException.class,
                () -> Finetuner.run(checkpoint, images, resumed, other, log));
        assertTrue(changed.getMessage().contains("other settings, model or data"), changed.getMessage());

        ModelDescriptor d = ModelDescriptor.read(straight);
        assertEquals(BREEDS, d.labels());
        assertEquals(ModelDescriptor.MULTICLASS, d.task());
        JsonNode report = new ObjectMapper().readTree(straight.resolve("finetune.json").toFile());
        assertEquals(full.bestEpoch(), report.path("bestEpoch").asInt());
        assertEquals(3, report.path("history").size());
        JsonNode metrics = new ObjectMapper().readTree(straight.resolve("metrics.json").toFile());
        assertEquals(full.validationScore(), metrics.path("validation").path("accuracy").asDouble(), 1e-12);

        // the written model runs in the inference runtime and gives the training graph's logits
        float[] pixels = pixels("Bengal", 2);
        float[][] inference;
        float[][] embeddings;
        try (VitModel model = VitModel.open(straight, Device.CPU, 1)) {
            Map<String, float[][]> outputs = model.runPixels(FloatBuffer.wrap(pixels), 2, Set.of("logits", "embedding"));
            inference = outputs.get("logits");
            embeddings = outputs.get("embedding");
        }
        Converter.Loaded loaded = Finetuner.loadModel(checkpoint);
        TrainableParameters layout = TrainableParameters.of(loaded.parameters(), zeroHead(loaded));
        Checkpoint.readWeights(straight.resolveSibling("straight.finetune-state").resolve(
                Checkpoint.bestFile(full.bestEpoch())), full.bestEpoch(), 1, layout.size());
        TrainableParameters tuned = layout.withFlat(Checkpoint.readWeights(straight.resolveSibling(
                "straight.finetune-state").resolve(Checkpoint.bestFile(full.bestEpoch())), full.bestEpoch(), 1,
                layout.size())[0]);
        try (TrainingSession s = new TrainingSession(tuned, TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, Device.CPU, 1,
                null, null, 0);
             OnnxTensor x = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), FloatBuffer.wrap(pixels),
                     new long[] {2, 3, 224, 224})) {
            float[] training = s.logits(x);
            for (int i = 0; i < 2; i++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(training[i * 3 + c], inference[i][c], 1e-4, "logit " + i + "," + c);
                }
            }
        }
        // the head directory is the same classifier: its probabilities are the softmax of the model's logits
        Head head = Head.load(straight.resolve(Finetuner.HEAD_DIR));
        assertEquals(Set.copyOf(BREEDS), Set.copyOf(head.labels()), "the head keeps Tribuo's label order");
        assertEquals(d.onnxSha256(), head.metadata().backboneModelSha256());
        for (int i = 0; i < 2; i++) {
            float[] scores = head.scores(embeddings[i]);
            double sum = 0;
            for (int c = 0; c < 3; c++) {
                sum += Math.exp(inference[i][c]);
            }
            for (int c = 0; c < 3; c++) {
                assertEquals(Math.exp(inference[i][c]) / sum, scores[head.labels().indexOf(BREEDS.get(c))], 1e-5,
                        "head probability " + i + "," + c);
            }
        }
    }

    /**
     * --train-blocks 1 without augmentation: the frozen embedding and block 0 run once into the on-disk cache (the
     * second run of the same command after a crash reuses it), the written model keeps them bit for bit, and the
     * resumed result equals the uninterrupted one.
     */
    @Test
    void lastBlockWithCachedPrefixKeepsFrozenLayersAndResumes() throws Exception {
        ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
        FinetuneOptions o = options(2, 1, null, false, false);
        Finetuner.Result straight = Finetuner.run(checkpoint, images, tmp.resolve("last"), o, log);
        Finetuner.Result first = Finetuner.run(checkpoint, images, tmp.resolve("last2"), o, log, 1);
        assertNull(first.model());
        Finetuner.Result second = Finetuner.run(checkpoint, images, tmp.resolve("last2"), o, log);
        String text = logBytes.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        assertEquals(2, text.split("computing the frozen layers once", -1).length - 1,
                "two fresh runs compute the frozen layers; the resumed one reads them from its cache\n" + text);
        assertEquals(straight.model().weightsSha256(), second.model().weightsSha256());
        assertTrue(list(tmp.resolve("last.finetune-state")).contains(Checkpoint.PREFIX_CACHE));

        // frozen tensors are written bit for bit as converted; block 1 moved
        Path plain = tmp.resolve("plain-last");
        Converter.convert(checkpoint, plain);
        Map<String, com.google.protobuf.ByteString> before = initializers(plain.resolve("model.onnx"));
        Map<String, com.google.protobuf.ByteString> after = initializers(tmp.resolve("last/model.onnx"));
        int frozen = 0;
        for (Map.Entry<String, com.google.protobuf.ByteString> e : before.entrySet()) {
            if (e.getKey().startsWith("blocks.0.") || e.getKey().startsWith("patch_embed")
                    || e.getKey().startsWith("position_embeddings") || e.getKey().equals("cls")) {
                assertEquals(e.getValue(), after.get(e.getKey()), e.getKey() + " is frozen");
                frozen++;
            }
        }
        assertTrue(frozen >= 14, frozen + " frozen tensors compared");
        assertNotEquals(before.get("blocks.1.fc1.weight"), after.get("blocks.1.fc1.weight"), "block 1 trained");
        try (VitModel model = VitModel.open(tmp.resolve("last"), Device.CPU, 1)) {
            assertEquals(ModelDescriptor.MULTICLASS, model.descriptor().task());
        }
        JsonNode report = new ObjectMapper().readTree(tmp.resolve("last/finetune.json").toFile());
        assertTrue(report.path("trained").asText().contains("the last 1 of 2 blocks"), report.path("trained").asText());
    }

    /** LoRA: adapters merged into the written weights; the graph is the plain converted graph, node for node. */
    @Test
    void loraWritesThePlainGraphWithMergedWeights() throws Exception {
        ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
        LoraConfig lora = new LoraConfig(4, 8, Set.of(LoraConfig.Target.QKV, LoraConfig.Target.FC2));
        Path out = tmp.resolve("lora");
        Finetuner.Result r = Finetuner.run(checkpoint, images, out, options(2, FinetuneOptions.ALL_BLOCKS, lora, true,
                false), log);
        System.out.print(logBytes.toString(StandardCharsets.UTF_8));
        Path plain = tmp.resolve("plain");
        Converter.convert(checkpoint, plain);
        assertEquals(opTypes(plain.resolve("model.onnx")), opTypes(out.resolve("model.onnx")),
                "the merged model has the converted model's graph");
        VitParameters base = Converter.load(checkpoint, Converter.Options.defaults()).parameters();
        try (VitModel model = VitModel.open(out, Device.CPU, 1)) {
            assertEquals(List.of("Abyssinian", "Bengal", "Birman"), model.descriptor().labels());
        }
        assertTrue(r.bestEpoch() >= 1);
        JsonNode report = new ObjectMapper().readTree(out.resolve("finetune.json").toFile());
        assertTrue(report.path("trained").asText().startsWith("training LoRA r=4 alpha=8 on qkv,fc2"),
                report.path("trained").asText());
        assertNotEquals(0, base.blocks().size());
    }

    @Test
    void refusesOutputsThatWouldDestroyInputsOrOtherFiles() throws Exception {
        PrintStream log = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        Path pets = copyPets(tmp.resolve("own-pets"), 2);
        Set<String> before = listTree(pets);
        // the input itself, its parent, and a folder that is not a vitfit output
        for (Path out : List.of(pets, pets.getParent(), Files.createDirectories(tmp.resolve("project/src")).getParent())) {
            if (out.equals(tmp.resolve("project"))) {
                Files.writeString(out.resolve("README.md"), "mine");
            }
            Exception e = assertThrows(IOException.class, () -> Finetuner.run(checkpoint, pets, out,
                    options(1, FinetuneOptions.ALL_BLOCKS, null, true, true), log), out.toString());
            assertTrue(e.getMessage().contains("input") || e.getMessage().contains("not written by vitfit"),
                    e.getMessage());
            assertTrue(Files.notExists(out.resolveSibling(out.getFileName() + Finetuner.STATE_SUFFIX)),
                    "nothing is created for a refused run");
        }
        assertEquals(before, listTree(pets), "the training images are untouched");
        assertEquals("mine", Files.readString(tmp.resolve("project/README.md")));
    }

    /**
     * Damage and interruptions: an undecodable image is skipped and reported; a checkpoint weight file altered in
     * place (same size) is refused on resume; a second run on the same output waits for none (the lock refuses it);
     * a replaced photo under the same name changes the fingerprint; and a crash while the output was being written
     * leaves no output, which the next run of the same command writes.
     */
    @Test
    void damageAndInterruptionsAreHandled() throws Exception {
        ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
        PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);
        Path pets = copyPets(tmp.resolve("damage-pets"), 4);
        Files.writeString(pets.resolve("Bengal/broken.jpg"), "not a jpeg");
        Path out = tmp.resolve("damage");
        Path state = tmp.resolve("damage" + Finetuner.STATE_SUFFIX);
        assertNull(Finetuner.run(checkpoint, pets, out, options(2), log, 1).model());
        assertTrue(logBytes.toString(StandardCharsets.UTF_8).contains("skipped Bengal/broken.jpg (not_an_image)"),
                logBytes.toString(StandardCharsets.UTF_8));

        // a second run while the first holds the checkpoint
        try (Checkpoint held = Checkpoint.open(state, List.of())) {
            IOException busy = assertThrows(IOException.class, () -> Finetuner.run(checkpoint, pets, out, options(2), log));
            assertTrue(busy.getMessage().contains("another vitfit finetune is running"), busy.getMessage());
        }

        // a weight file altered in place is refused
        Path weights = state.resolve(Checkpoint.currentFile(1));
        byte[] original = Files.readAllBytes(weights);
        byte[] altered = original.clone();
        altered[altered.length / 2] ^= 0x40;
        Files.write(weights, altered);
        IOException damaged = assertThrows(IOException.class, () -> Finetuner.run(checkpoint, pets, out, options(2), log));
        assertTrue(damaged.getMessage().contains("checksum mismatch"), damaged.getMessage());
        Files.write(weights, original);

        // a photo replaced under the same name is other data
        Path photo;
        try (Stream<Path> files = Files.list(pets.resolve("Birman"))) {
            photo = files.sorted().findFirst().orElseThrow();
        }
        byte[] kept = Files.readAllBytes(photo);
        try (Stream<Path> files = Files.list(SHARED.resolve("datasets/oxford-pets-370/Birman"))) {
            Files.copy(files.sorted().skip(9).findFirst().orElseThrow(), photo, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        IllegalArgumentException replaced = assertThrows(IllegalArgumentException.class,
                () -> Finetuner.run(checkpoint, pets, out, options(2), log));
        assertTrue(replaced.getMessage().contains("other settings, model or data"), replaced.getMessage());
        Files.write(photo, kept);

        // finish, then pretend the final write crashed: no output (a hidden temporary at most); the rerun writes it
        Finetuner.Result done = Finetuner.run(checkpoint, pets, out, options(2), log);
        org.vitfit.io.Durable.deleteTree(out);
        Files.createDirectories(tmp.resolve(".damage.vitfit-new-12345678"));
        Finetuner.Result again = Finetuner.run(checkpoint, pets, out, options(2), log);
        assertTrue(logBytes.toString(StandardCharsets.UTF_8).contains("training had finished after epoch 2"));
        assertEquals(done.model().weightsSha256(), again.model().weightsSha256());
        assertTrue(Files.exists(out.resolve("head/head.json")) && Files.exists(out.resolve("finetune.json")));
        JsonNode report = new ObjectMapper().readTree(out.resolve("finetune.json").toFile());
        assertEquals("Bengal/broken.jpg", report.path("skippedImages").get(0).path("path").asText());
    }

    @Test
    void absurdOptionsAreRefused() {
        IllegalArgumentException threads = assertThrows(IllegalArgumentException.class, () -> new FinetuneOptions(1, 4,
                1e-3, 1e-2, 0.05, 0.2, LrSchedule.COSINE, 1.0, 3, 0, 0.25, true, 0.5, false, -1, null, Device.CPU, -1,
                false));
        assertTrue(threads.getMessage().startsWith("--threads must be between 0 and 256, got -1 (ONNX Runtime threads"),
                threads.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new FinetuneOptions(1, 4, 0, 1e-2, 0.05, 0.2,
                LrSchedule.COSINE, 1.0, 3, 0, 0.25, true, 0.5, false, 2, null, Device.CPU, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new FinetuneOptions(1, 1_000_000, 1e-3, 1e-2, 0.05, 0.2,
                LrSchedule.COSINE, 1.0, 3, 0, 0.25, true, 0.5, false, 2, null, Device.CPU, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new FinetuneOptions(1, 4, Double.NaN, 1e-2, 0.05, 0.2,
                LrSchedule.COSINE, 1.0, 3, 0, 0.25, true, 0.5, false, 2, null, Device.CPU, 1, false));
        IllegalArgumentException blocks = assertThrows(IllegalArgumentException.class,
                () -> Finetuner.run(checkpoint, images, tmp.resolve("nine"), options(1, 9, null, true, false),
                        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        assertTrue(blocks.getMessage().contains("this model has 2 blocks"), blocks.getMessage());
    }

    private static float[] pixels(String breed, int n) throws IOException {
        Converter.Loaded loaded = Finetuner.loadModel(checkpoint);
        Preprocessor pre = new Preprocessor(loaded.preprocessing());
        float[] pixels = new float[n * pre.floatsPerImage()];
        ImageDecoder decoder = ImageDecoder.forRecipe(loaded.preprocessing());
        try (Stream<Path> files = Files.list(images.resolve(breed))) {
            List<Path> some = files.sorted().limit(n).toList();
            for (int i = 0; i < n; i++) {
                pre.apply(decoder.decode(some.get(i)), FloatBuffer.wrap(pixels), i * pre.floatsPerImage());
            }
        }
        return pixels;
    }

    private static Map<String, com.google.protobuf.ByteString> initializers(Path onnx) throws IOException {
        Map<String, com.google.protobuf.ByteString> out = new java.util.HashMap<>();
        for (var t : ai.onnx.proto.OnnxMl.ModelProto.parseFrom(Files.readAllBytes(onnx)).getGraph().getInitializerList()) {
            out.put(t.getName(), t.getRawData());
        }
        return out;
    }

    private static List<String> opTypes(Path onnx) throws IOException {
        return ai.onnx.proto.OnnxMl.ModelProto.parseFrom(Files.readAllBytes(onnx)).getGraph().getNodeList().stream()
                .map(n -> n.getOpType()).toList();
    }

    private static Set<String> list(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }

    private static Set<String> listTree(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.map(p -> dir.relativize(p) + ":" + (Files.isRegularFile(p) ? size(p) : -1))
                    .collect(Collectors.toSet());
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return -2;
        }
    }

    private static List<EpochRecord> withSameSeconds(List<EpochRecord> h, List<EpochRecord> ref) {
        return java.util.stream.IntStream.range(0, h.size()).mapToObj(i -> {
            EpochRecord e = h.get(i);
            return new EpochRecord(e.epoch(), e.trainLoss(), e.trainScore(), e.valLoss(), e.valScore(),
                    ref.get(i).seconds(), ref.get(i).trainSeconds(), e.lrBackbone());
        }).toList();
    }

    private static VitParameters.Linear zeroHead(Converter.Loaded l) {
        int d = l.parameters().spec().hiddenSize();
        return new VitParameters.Linear(new Tensor(new float[d * 3], new long[] {d, 3}),
                new Tensor(new float[3], new long[] {3}));
    }
}
