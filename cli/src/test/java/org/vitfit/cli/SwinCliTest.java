package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;
import org.vitfit.serve.ClassifierServer;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Swin Transformer through the whole command line: the tiny random timm Swin of the export module's reference
 * fixtures is converted, embeds four pet breeds, a linear head trains on them, the pair is exported and predicts,
 * and the exported classifier serves the same answer over HTTP. Fine-tuning refuses Swin with an explanation.
 */
class SwinCliTest {

    static final List<String> BREEDS = List.of("Abyssinian", "Bombay", "beagle", "pug");

    @TempDir
    Path tmp;

    static Path swinCheckpoint() {
        return CliRun.root().resolve("export/src/test/resources/reference/timm_swin");
    }

    @Test
    void swinConvertsEmbedsTrainsExportsPredictsAndServes() throws Exception {
        Path model = tmp.resolve("swin");
        CliRun convert = CliRun.vitfit("convert", swinCheckpoint().toString(), "--output", model.toString());
        assertEquals(0, convert.exit(), convert.err());
        assertTrue(convert.out().contains("(timm_swin, ") && convert.out().contains("embedding dim 64"), convert.out());

        Path cache = tmp.resolve("cache");
        String[] extract = {"extract", "--model", model.toString(), "--input",
                CliRun.shared().resolve("datasets/oxford-pets-370").toString(), "--output", cache.toString(),
                "--threads", "2"};
        List<String> args = new java.util.ArrayList<>(List.of(extract));
        BREEDS.forEach(b -> {
            args.add("--include");
            args.add(b + "/*");
        });
        CliRun embedded = CliRun.vitfit(args.toArray(String[]::new));
        assertEquals(0, embedded.exit(), embedded.err());

        Path head = tmp.resolve("head");
        CliRun train = CliRun.vitfit("train", "--cache", cache.toString(), "--head", "linear", "--fractions",
                "0.5,0,0.5", "--seed", "7", "--output", head.toString());
        assertEquals(0, train.exit(), train.err());
        assertTrue(train.out().contains("linear multiclass head, 4 classes, 64-dim embeddings"), train.out());
        JsonNode metrics = new ObjectMapper().readTree(head.resolve("metrics.json").toFile());
        assertEquals(20, metrics.path("test").path("examples").asInt(), metrics.toString());
        double accuracy = metrics.path("test").path("accuracy").asDouble();
        System.out.println("tiny random Swin, 4 pet breeds, linear head: test accuracy " + accuracy);
        // Random weights, but the features still carry colour and texture: measured 0.45 (9 of 20) with the default
        // L-BFGS head, chance is 0.25 (5 of 20).
        assertTrue(accuracy >= 0.35, "test accuracy " + accuracy);

        Path classifier = tmp.resolve("swin-pets.vitfit");
        CliRun export = CliRun.vitfit("export", "--model", model.toString(), "--head", head.toString(), "--output",
                classifier.toString());
        assertEquals(0, export.exit(), export.err());

        Path photo;
        try (Stream<Path> s = Files.list(CliRun.shared().resolve("datasets/oxford-pets-370/Bombay"))) {
            photo = s.sorted().findFirst().orElseThrow();
        }
        CliRun predict = CliRun.vitfit("predict", "--classifier", classifier.toString(), "--json", photo.toString());
        assertEquals(0, predict.exit(), predict.err());
        JsonNode answer = new ObjectMapper().readTree(predict.out().strip());

        try (VitClassifier loaded = VitClassifier.load(classifier);
             ClassifierServer server = ClassifierServer.start(loaded,
                     ClassifierServer.Options.defaults().withPort(0).withThreads(1))) {
            Classification expected = loaded.classify(photo);
            assertEquals(expected.best().label(), answer.path("top").get(0).path("label").asText(), answer.toString());
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(server.uri().resolve("predict"))
                    .header("Content-Type", "image/jpeg").POST(HttpRequest.BodyPublishers.ofFile(photo)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            JsonNode served = new ObjectMapper().readTree(r.body());
            assertEquals(expected.best().label(), served.path("top").get(0).path("label").asText());
            assertEquals(expected.best().score(), served.path("top").get(0).path("score").floatValue(), 1e-6);
        }

        // The checkpoint's own 10-class head predicts through the converted model directory too.
        CliRun own = CliRun.vitfit("predict", "--model", model.toString(), photo.toString());
        assertEquals(0, own.exit(), own.err());
        assertTrue(own.out().contains("class_"), own.out());
    }

    @Test
    void finetuneRefusesSwinWithAnExplanation() throws Exception {
        Path images = Files.createDirectories(tmp.resolve("images/Bombay"));
        CliRun r = CliRun.vitfit("finetune", "--model", swinCheckpoint().toString(), "--input",
                images.getParent().toString(), "--output", tmp.resolve("tuned").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("fine-tuning is not supported for Swin yet"), r.err());
        assertTrue(r.err().contains("vitfit extract"), r.err());
        assertTrue(Files.notExists(tmp.resolve("tuned")));
    }
}
