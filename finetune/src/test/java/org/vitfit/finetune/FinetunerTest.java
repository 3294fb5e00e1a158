package org.vitfit.finetune;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The loop end to end on the small random transformers ViT (2 layers, 224 px) and 3 pet breeds x 6 photos:
 * a crashed run resumes to exactly the uninterrupted result, the written model directory runs in the
 * inference runtime and gives the logits the training graph gives, its head directory is the same classifier,
 * and training lowers the training loss.
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
        images = tmp.resolve("images");
        for (String breed : BREEDS) {
            Path dir = Files.createDirectories(images.resolve(breed));
            try (Stream<Path> files = Files.list(SHARED.resolve("datasets/oxford-pets-370").resolve(breed))) {
                for (Path f : files.sorted().limit(6).toList()) {
                    Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
        }
    }

    static FinetuneOptions options(int epochs) {
        // lr 1e-3 for the random backbone (not a pretrained one) so three epochs move the loss visibly
        return new FinetuneOptions(epochs, 4, 1e-3, 1e-2, 0.05, 0.2, LrSchedule.COSINE, 1.0, 3, 0, 0.25, true, 0.5,
                false, Device.CPU, 1, false);
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
        // the checkpoint keeps only the weight files its state.json names
        try (var files = Files.list(straight.resolveSibling("straight.finetune-state"))) {
            assertEquals(Set.of("state.json", Finetuner.currentFile(3), Finetuner.bestFile(full.bestEpoch())),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }

        // training on 14 images for 3 epochs lowers their loss
        assertTrue(full.history().get(2).trainLoss() < full.history().get(0).trainLoss(), full.history().toString());

        // a changed setting is refused instead of silently mixing two runs
        FinetuneOptions other = new FinetuneOptions(3, 4, 2e-3, 1e-2, 0.05, 0.2, LrSchedule.COSINE, 1.0, 3, 0, 0.25,
                true, 0.5, false, Device.CPU, 1, true);
        assertThrows(IllegalArgumentException.class, () -> Finetuner.run(checkpoint, images, resumed, other, log));

        ModelDescriptor d = ModelDescriptor.read(straight);
        assertEquals(BREEDS, d.labels());
        assertTrue(Files.exists(straight.resolve("finetune.json")));
        Converter.Loaded loaded = Finetuner.loadModel(checkpoint);
        Preprocessor pre = new Preprocessor(loaded.preprocessing());
        float[] pixels = new float[2 * pre.floatsPerImage()];
        ImageDecoder decoder = ImageDecoder.forRecipe(loaded.preprocessing());
        try (Stream<Path> files = Files.list(images.resolve("Bengal"))) {
            List<Path> two = files.sorted().limit(2).toList();
            for (int i = 0; i < 2; i++) {
                pre.apply(decoder.decode(two.get(i)), FloatBuffer.wrap(pixels), i * pre.floatsPerImage());
            }
        }
        float[][] inference;
        float[][] embeddings;
        try (VitModel model = VitModel.open(straight, Device.CPU, 1)) {
            Map<String, float[][]> outputs = model.runPixels(FloatBuffer.wrap(pixels), 2, Set.of("logits", "embedding"));
            inference = outputs.get("logits");
            embeddings = outputs.get("embedding");
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
        Map<String, float[]> kept = StateFiles.read(straight.resolveSibling("straight.finetune-state").resolve(Finetuner.bestFile(full.bestEpoch())),
                order(loaded), sizes(loaded));
        TrainableParameters tuned = TrainableParameters.of(loaded.parameters(), zeroHead(loaded)).withValues(kept);
        try (TrainingSession s = new TrainingSession(loaded.parameters().spec(), tuned,
                TrainingGraph.Loss.SOFTMAX_CROSS_ENTROPY, Device.CPU, 1, null, 0)) {
            float[] training = s.logits(pixels, 2);
            for (int i = 0; i < 2; i++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(training[i * 3 + c], inference[i][c], 1e-4, "logit " + i + "," + c);
                }
            }
        }
    }

    private static List<Finetuner.EpochRecord> withSameSeconds(List<Finetuner.EpochRecord> h, List<Finetuner.EpochRecord> ref) {
        return java.util.stream.IntStream.range(0, h.size()).mapToObj(i -> {
            Finetuner.EpochRecord e = h.get(i);
            return new Finetuner.EpochRecord(e.epoch(), e.trainLoss(), e.trainScore(), e.valLoss(), e.valScore(),
                    ref.get(i).seconds(), e.lrBackbone());
        }).toList();
    }

    private static org.vitfit.convert.VitParameters.Linear zeroHead(Converter.Loaded l) {
        int d = l.parameters().spec().hiddenSize();
        return new org.vitfit.convert.VitParameters.Linear(
                new org.vitfit.convert.Tensor(new float[d * 3], new long[] {d, 3}),
                new org.vitfit.convert.Tensor(new float[3], new long[] {3}));
    }

    private static List<String> order(Converter.Loaded l) {
        return TrainableParameters.of(l.parameters(), zeroHead(l)).params().stream()
                .map(TrainableParameters.Param::name).toList();
    }

    private static Map<String, Integer> sizes(Converter.Loaded l) {
        Map<String, Integer> m = new java.util.HashMap<>();
        TrainableParameters.of(l.parameters(), zeroHead(l)).params().forEach(p -> m.put(p.name(), p.size()));
        return m;
    }
}
