package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.runtime.ModelDescriptor;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vitfit finetune} on the small random transformers ViT and 2 pet breeds x 5 photos, then {@code vitfit predict}
 * and {@code vitfit export} on its output: the fine-tuned directory is an ordinary converted model with the breeds as
 * its classes, and its head directory exports with it.
 */
class FinetuneCommandTest {

    static final Path SHARED = Path.of(System.getProperty("vitfit.shared", "../../shared"));

    @TempDir
    Path tmp;

    @Test
    void finetuneThenPredict() throws Exception {
        Path golden = SHARED.resolve("fixtures/hf-golden");
        Path checkpoint = Files.createDirectories(tmp.resolve("checkpoint"));
        Files.copy(golden.resolve("grad_multiclass/config.json"), checkpoint.resolve("config.json"));
        Files.copy(golden.resolve("grad_multiclass/model.safetensors"), checkpoint.resolve("model.safetensors"));
        Files.copy(golden.resolve("vit/processor_slow/preprocessor_config.json"), checkpoint.resolve("preprocessor_config.json"));
        Path images = tmp.resolve("images");
        for (String breed : List.of("Bombay", "Birman")) {
            Path dir = Files.createDirectories(images.resolve(breed));
            try (Stream<Path> files = Files.list(SHARED.resolve("datasets/oxford-pets-370").resolve(breed))) {
                for (Path f : files.sorted().limit(5).toList()) {
                    Files.copy(f, dir.resolve(f.getFileName()));
                }
            }
        }
        Path out = tmp.resolve("tuned");
        String log = run(0, "finetune", "--model", checkpoint.toString(), "--input", images.toString(),
                "--output", out.toString(), "--epochs", "2", "--batch-size", "4", "--lr-backbone", "1e-4",
                "--lr-head", "1e-3", "--threads", "1", "--val-fraction", "0.2");
        assertTrue(log.contains("epoch 2/2"), log);
        assertEquals(List.of("Birman", "Bombay"), ModelDescriptor.read(out).labels());
        JsonNode report = new ObjectMapper().readTree(out.resolve("finetune.json").toFile());
        assertEquals(2, report.path("history").size());
        assertEquals(8, report.path("trainRows").asInt());

        Path photo;
        try (Stream<Path> files = Files.list(images.resolve("Bombay"))) {
            photo = files.sorted().findFirst().orElseThrow();
        }
        String predicted = run(0, "predict", "--model", out.toString(), "--top-k", "2", photo.toString());
        assertTrue(predicted.contains("Bombay") && predicted.contains("Birman"), predicted);

        // the head directory it writes goes straight into a classifier file
        Path classifier = tmp.resolve("pets.vitfit");
        run(0, "export", "--model", out.toString(), "--head", out.resolve("head").toString(), "--output",
                classifier.toString());
        assertTrue(Files.size(classifier) > 0);

        // an existing output is refused, with a message naming the remedy
        run(1, "finetune", "--model", checkpoint.toString(), "--input", images.toString(), "--output", out.toString());
    }

    private static String run(int expectedCode, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int code;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            code = VitfitCli.commandLine().execute(args);
        } finally {
            System.setOut(old);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertEquals(expectedCode, code, String.join(" ", args) + "\n" + text);
        return text;
    }
}
