package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.runtime.ModelDescriptor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vitfit finetune} on the small random transformers ViT and a few pet photos, then {@code vitfit predict} and
 * {@code vitfit export} on its output: the fine-tuned directory is an ordinary converted model with the breeds as
 * its classes, a multi-label one predicts sigmoid scores and active labels, and its head directory exports with
 * it. Outputs that would destroy the input and absurd options are refused with a message.
 */
class FinetuneCommandTest {

    static final Path SHARED = CliRun.shared();

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
        Files.copy(golden.resolve("vit/processor_slow/preprocessor_config.json"), checkpoint.resolve("preprocessor_config.json"));
        images = tmp.resolve("images");
        for (String breed : List.of("Bombay", "Birman")) {
            Path dir = Files.createDirectories(images.resolve(breed));
            for (Path f : photos(breed, 5)) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
    }

    private static List<Path> photos(String breed, int n) throws IOException {
        try (Stream<Path> files = Files.list(SHARED.resolve("datasets/oxford-pets-370").resolve(breed))) {
            return files.sorted().limit(n).toList();
        }
    }

    @Test
    void finetuneThenPredict() throws Exception {
        Path out = tmp.resolve("tuned");
        CliRun tuned = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", out.toString(), "--epochs", "2", "--batch-size", "4", "--lr-backbone", "1e-4",
                "--lr-head", "1e-3", "--threads", "1", "--val-fraction", "0.2");
        assertEquals(0, tuned.exit(), tuned.out() + tuned.err());
        assertTrue(tuned.out().contains("epoch 2/2"), tuned.out());
        assertFalse((tuned.out() + tuned.err()).contains("SGD"), "no Tribuo training when the head is written\n"
                + tuned.err());
        assertEquals(List.of("Birman", "Bombay"), ModelDescriptor.read(out).labels());
        JsonNode report = new ObjectMapper().readTree(out.resolve("finetune.json").toFile());
        assertEquals(2, report.path("history").size());
        assertEquals(8, report.path("trainRows").asInt());

        Path photo = photos("Bombay", 1).get(0);
        String predicted = run(0, "predict", "--model", out.toString(), "--top-k", "2", photo.toString());
        assertTrue(predicted.contains("Bombay") && predicted.contains("Birman"), predicted);
        assertFalse(predicted.contains("labels:"), "a multi-class model lists no active labels\n" + predicted);

        // the head directory it writes goes straight into a classifier file
        Path classifier = tmp.resolve("pets.vitfit");
        run(0, "export", "--model", out.toString(), "--head", out.resolve("head").toString(), "--output",
                classifier.toString());
        assertTrue(Files.size(classifier) > 0);

        // an existing output is refused, with a message naming the remedy
        CliRun again = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", out.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("pass --overwrite"), again.err());
    }

    /** The last block only, no augmentation (the frozen prefix is cached); the written model is multi-label. */
    @Test
    void multiLabelModelPredictsSigmoidScoresAndActiveLabels() throws Exception {
        Path manifest = tmp.resolve("labels.csv");
        List<String> lines = new ArrayList<>(List.of("path,labels"));
        for (String breed : List.of("Bengal", "Birman", "beagle", "pug")) {
            String species = Character.isUpperCase(breed.charAt(0)) ? "cat" : "dog";
            for (Path f : photos(breed, 4)) {
                lines.add(f.toAbsolutePath() + "," + species + "|" + breed);
            }
        }
        Files.write(manifest, lines);
        Path out = tmp.resolve("multi");
        String log = run(0, "finetune", "--model", checkpoint.toString(), "--input", manifest.toString(),
                "--output", out.toString(), "--epochs", "2", "--batch-size", "4", "--lr-head", "1e-2", "--threads",
                "1", "--multilabel", "--train-blocks", "1", "--no-augment", "--val-fraction", "0.25");
        assertTrue(log.contains("micro-F1"), log);
        assertTrue(log.contains("computing the frozen layers once"), log);
        ModelDescriptor d = ModelDescriptor.read(out);
        assertEquals(ModelDescriptor.MULTILABEL, d.task());
        String predicted = run(0, "predict", "--model", out.toString(), "--top-k", "6", "--json",
                photos("pug", 1).get(0).toString());
        JsonNode p = new ObjectMapper().readTree(predicted.lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow());
        assertTrue(p.has("labels"), predicted);
        double sum = 0;
        for (JsonNode e : p.path("top")) {
            double score = e.path("score").asDouble();
            assertTrue(score > 0 && score < 1, predicted);
            sum += score;
        }
        assertTrue(Math.abs(sum - 1) > 1e-3, "independent sigmoid scores, not a softmax summing to 1: " + predicted);
        for (JsonNode label : p.path("labels")) {
            for (JsonNode e : p.path("top")) {
                if (e.path("label").asText().equals(label.asText())) {
                    assertTrue(e.path("score").asDouble() > 0.5, predicted);
                }
            }
        }
    }

    @Test
    void refusesOutputsOverTheInputAndAbsurdOptions() throws Exception {
        CliRun sameAsInput = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", images.toString(), "--overwrite");
        assertEquals(1, sameAsInput.exit());
        assertTrue(sameAsInput.err().contains("is also the --input"), sameAsInput.err());
        assertTrue(Files.exists(images.resolve("Bombay")), "the training images are still there");

        CliRun parent = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", tmp.toString(), "--overwrite");
        assertEquals(1, parent.exit());
        assertTrue(parent.err().contains("contains the --input"), parent.err());

        CliRun threads = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", tmp.resolve("t").toString(), "--threads", "-1");
        assertEquals(1, threads.exit());
        assertTrue(threads.err().contains("--threads must be between 0 and 256, got -1"), threads.err());

        CliRun lora = CliRun.vitfit("finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", tmp.resolve("l").toString(), "--lora-rank", "4", "--lora-targets", "qkv,mlp");
        assertEquals(1, lora.exit());
        assertTrue(lora.err().contains("unknown layer 'mlp'"), lora.err());
    }

    private static String run(int expectedCode, String... args) {
        CliRun r = CliRun.vitfit(args);
        assertEquals(expectedCode, r.exit(), String.join(" ", args) + "\n" + r.out() + r.err());
        return r.out();
    }
}
