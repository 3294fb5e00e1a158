package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code vitfit train} and {@code vitfit evaluate} through the real command line on four pet breeds. */
class TrainEvaluateCliTest {

    @TempDir
    static Path tmp;
    static Path cache;

    @BeforeAll
    static void extractFourBreeds() throws Exception {
        Path root = Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
        Path shared = Path.of(System.getProperty("vitfit.shared", "../shared")).toAbsolutePath().normalize();
        Path model = tmp.resolve("vit-tiny");
        Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model);
        cache = tmp.resolve("cache");
        Extractor.run(ExtractOptions.builder(model, shared.resolve("datasets/oxford-pets-370"), cache)
                .include(List.of("Abyssinian/*", "Bombay/*", "beagle/*", "pug/*")).build(), ExtractListener.NONE);
    }

    @Test
    void trainWritesTheHeadAndEvaluatePrintsMetrics() throws Exception {
        Path head = tmp.resolve("head");
        CliRun train = CliRun.vitfit("train", "--cache", cache.toString(), "--head", "mlp", "--hidden", "64", "--epochs", "30",
                "--fractions", "0.5,0.2,0.3", "--seed", "3", "--output", head.toString());
        assertEquals(0, train.exit(), train.err());
        assertTrue(train.out().contains("mlp multiclass head, 4 classes, 192-dim embeddings"), train.out());
        assertTrue(train.out().contains("test: accuracy"), train.out());
        for (String f : List.of("head.json", "model.tribuo", "head.onnx", "metrics.json", "report.txt",
                "training_curve.png", "confusion_matrix.png")) {
            assertTrue(Files.isRegularFile(head.resolve(f)), f);
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode trained = json.readTree(head.resolve("metrics.json").toFile());
        // four easy breeds: far above the 0.25 of chance
        assertTrue(trained.get("test").get("accuracy").asDouble() > 0.7, trained.toString());

        Path eval = tmp.resolve("eval");
        CliRun evaluate = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split", "all",
                "--output", eval.toString());
        assertEquals(0, evaluate.exit(), evaluate.err());
        assertTrue(evaluate.out().contains("all: accuracy"), evaluate.out());
        JsonNode all = json.readTree(eval.resolve("metrics.json").toFile());
        assertEquals(40, all.get("all").get("examples").asInt());
        assertTrue(Files.isRegularFile(eval.resolve("confusion_matrix.png")));

        CliRun again = CliRun.vitfit("train", "--cache", cache.toString(), "--output", head.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("already exists"), again.err());

        CliRun noSplit = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split", "test");
        assertEquals(1, noSplit.exit());
        assertTrue(noSplit.err().contains("has no split column; use --split all"), noSplit.err());
    }

    @Test
    void badOptionsAndMissingCachesAreReported() {
        CliRun badHead = CliRun.vitfit("train", "--cache", cache.toString(), "--head", "forest", "--output",
                tmp.resolve("x").toString());
        assertEquals(1, badHead.exit());
        assertTrue(badHead.err().contains("unknown head kind 'forest'; expected linear or mlp"), badHead.err());
        assertFalse(Files.exists(tmp.resolve("x")));

        CliRun missing = CliRun.vitfit("evaluate", "--head", tmp.resolve("nothing").toString(), "--cache", cache.toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("not a vitfit head directory"), missing.err());
    }
}
