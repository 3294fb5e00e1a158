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
        // issue #14: without test rows, evaluate used to score every row (the training rows too) without a word
        CliRun noTest = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString());
        assertEquals(1, noTest.exit());
        assertTrue(noTest.err().contains("has no test rows (it has no split column); say which rows to evaluate with "
                + "--split train, val or all"), noTest.err());
    }

    @Test
    void defaultLinearHeadChoosesCByCrossValidationAndSaysHowItWasChecked() throws Exception {
        Path head = tmp.resolve("linear");
        CliRun train = CliRun.vitfit("train", "--cache", cache.toString(), "--fractions", "0.6,0,0.4", "--seed", "3",
                "--output", head.toString());
        assertEquals(0, train.exit(), train.err());
        assertTrue(train.out().contains("chosen by 5-fold cross-validation accuracy on 24 rows"), train.out());
        assertTrue(train.out().contains("checked by: test split (16 held-out rows)"), train.out());
        // Tribuo's timestamped log lines stay out of the terminal; they are in training.log
        assertFalse(train.err().contains("org.tribuo") || train.out().contains("org.tribuo"), train.err());
        assertTrue(Files.readString(head.resolve("training.log")).contains("final fit on 24 rows"));
        CliRun verbose = CliRun.vitfit("train", "--cache", cache.toString(), "--fractions", "0.6,0,0.4", "--seed", "3",
                "--verbose", "--overwrite", "--output", head.toString());
        assertEquals(0, verbose.exit(), verbose.err());
        assertTrue(verbose.err().contains("INFO org.vitfit.heads.HeadTrainer: final fit on 24 rows"), verbose.err());
        JsonNode json = new ObjectMapper().readTree(head.resolve("head.json").toFile());
        assertEquals("lbfgs", json.get("training").get("solver").asText());
        assertTrue(json.get("training").get("C").asDouble() > 0);

        // issue #14: all rows in training, no test rows: written, but loudly checked by cross-validation only
        Path all = tmp.resolve("all-train");
        CliRun noTest = CliRun.vitfit("train", "--cache", cache.toString(), "--fractions", "1,0,0", "--output",
                all.toString());
        assertEquals(0, noTest.exit(), noTest.err());
        assertTrue(noTest.err().contains("warning: no test rows: the head was checked only by 5-fold cross-validation "
                + "on the 40 training rows"), noTest.err());
        assertTrue(noTest.out().contains("cross-validation: accuracy"), noTest.out());
        JsonNode metrics = new ObjectMapper().readTree(all.resolve("metrics.json").toFile());
        assertEquals(40, metrics.get("crossValidation").get("examples").asInt());
        assertTrue(metrics.get("context").get("warnings").get(0).asText().startsWith("no test rows"));
    }

    @Test
    void evaluateWritesPerImageScores() throws Exception {
        Path head = tmp.resolve("scored-head");
        assertEquals(0, CliRun.vitfit("train", "--cache", cache.toString(), "--C", "0.1", "--output",
                head.toString()).exit());
        Path csv = tmp.resolve("scores.csv");
        CliRun eval = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split", "all",
                "--scores", csv.toString());
        assertEquals(0, eval.exit(), eval.err());
        assertTrue(eval.out().contains("wrote the scores of 40 images to " + csv), eval.out());
        List<String> lines = Files.readAllLines(csv);
        assertEquals(41, lines.size());
        assertTrue(lines.get(0).startsWith("path,true_labels,predicted,"), lines.get(0));
        String[] first = lines.get(1).split(",");
        double sum = 0;
        for (int i = 3; i < first.length; i++) {
            sum += Double.parseDouble(first[i]);
        }
        assertEquals(1.0, sum, 1e-5, "softmax scores of one image");
        Path jsonl = tmp.resolve("scores.jsonl");
        assertEquals(0, CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split",
                "all", "--scores", jsonl.toString(), "--overwrite").exit());
        JsonNode row = new ObjectMapper().readTree(Files.readAllLines(jsonl).get(0));
        assertEquals(4, row.get("scores").size());
        assertEquals(1, row.get("true_labels").size());
        // a scores file is replaced only with --overwrite, and only when vitfit wrote it
        CliRun again = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split", "all",
                "--scores", csv.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("pass --overwrite"), again.err());
        Path notes = tmp.resolve("notes.csv");
        Files.writeString(notes, "my,own,data\n");
        CliRun foreign = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split",
                "all", "--scores", notes.toString(), "--overwrite");
        assertEquals(1, foreign.exit());
        assertEquals("my,own,data\n", Files.readString(notes));
        // a compact JSONL manifest starts like a scores file ({"path":...}) but is the user's: never replaced
        Path manifest = tmp.resolve("manifest.jsonl");
        String compact = "{\"path\":\"a.jpg\",\"labels\":[\"cat\"]}\n{\"path\":\"b.jpg\",\"labels\":[\"dog\"]}\n";
        Files.writeString(manifest, compact);
        CliRun overManifest = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(),
                "--split", "all", "--scores", manifest.toString(), "--overwrite");
        assertEquals(1, overManifest.exit());
        assertTrue(overManifest.err().contains("is not a scores file written by vitfit; refusing to replace it"),
                overManifest.err());
        assertEquals(compact, Files.readString(manifest));
        CliRun noFormat = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split",
                "all", "--scores", tmp.resolve("scores.txt").toString());
        assertTrue(noFormat.err().contains("name the file .csv (comma-separated) or .jsonl"), noFormat.err());
    }

    @Test
    void outputThatIsNotAVitfitHeadIsNeverReplaced() throws Exception {
        // issue #11: 'train --output . --overwrite' replaced a project directory with head files
        Path project = tmp.resolve("project");
        Files.createDirectories(project.resolve("src"));
        Files.writeString(project.resolve("src/Main.java"), "class Main {}");
        CliRun train = CliRun.vitfit("train", "--cache", cache.toString(), "--output", project.toString(), "--overwrite");
        assertEquals(1, train.exit());
        assertTrue(train.err().contains("already exists and was not written by vitfit as a head (it holds src/)"),
                train.err());
        assertEquals("class Main {}", Files.readString(project.resolve("src/Main.java")));
        CliRun inCache = CliRun.vitfit("train", "--cache", cache.toString(), "--output", cache.resolve("head").toString());
        assertEquals(1, inCache.exit());
        assertTrue(inCache.err().contains("lies inside the --cache"), inCache.err());
        // an earlier head is replaced with --overwrite
        Path head = tmp.resolve("replaced");
        assertEquals(0, CliRun.vitfit("train", "--cache", cache.toString(), "--C", "1", "--output", head.toString()).exit());
        CliRun again = CliRun.vitfit("train", "--cache", cache.toString(), "--C", "0.01", "--output", head.toString(),
                "--overwrite");
        assertEquals(0, again.exit(), again.err());
        assertEquals(0.01, new ObjectMapper().readTree(head.resolve("head.json").toFile()).get("training").get("C")
                .asDouble(), 0.0);
    }

    @Test
    void headWithANonFiniteNormalisationIsRefusedNotEvaluated() throws Exception {
        // a float past 3.4e38 in head.json reads as Infinity: every score became NaN and evaluate reported accuracy 0.03
        Path head = tmp.resolve("edited-head");
        assertEquals(0, CliRun.vitfit("train", "--cache", cache.toString(), "--C", "1", "--output", head.toString())
                .exit());
        ObjectMapper json = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode meta =
                (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(head.resolve("head.json").toFile());
        ((com.fasterxml.jackson.databind.node.ArrayNode) meta.get("normalization").get("mean")).set(0, 1e39);
        json.writeValue(head.resolve("head.json").toFile(), meta);
        Path out = tmp.resolve("edited-eval");
        CliRun eval = CliRun.vitfit("evaluate", "--head", head.toString(), "--cache", cache.toString(), "--split", "all",
                "--output", out.toString());
        assertEquals(1, eval.exit(), eval.out());
        assertTrue(eval.err().contains(head.resolve("head.json") + ": normalization.mean holds Infinity at index 0; "
                + "the file is damaged or was edited"), eval.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void divergingTrainingWritesNoHead() {
        // issue #11: '--lr 1e30' wrote a head of NaN weights ("kept epoch 0") and exited 0
        String[][] cases = {
                {"--head", "mlp", "--hidden", "16", "--lr", "1e30"},
                {"--solver", "sgd", "--lr", "1e30", "--epochs", "3"},
        };
        for (String[] options : cases) {
            Path out = tmp.resolve("nan-" + options[1]);
            List<String> args = new java.util.ArrayList<>(List.of("train", "--cache", cache.toString(), "--output",
                    out.toString()));
            args.addAll(List.of(options));
            CliRun run = CliRun.vitfit(args.toArray(new String[0]));
            assertEquals(1, run.exit(), run.out());
            assertTrue(run.err().contains("loss in epoch 1 (learning rate 1.0E30) is ")
                    && run.err().contains("training diverged. Lower the learning rate (--lr)"), run.err());
            assertFalse(Files.exists(out));
        }
    }

    @Test
    void absurdOptionsAreRefusedByName() {
        String[][] cases = {
                {"--head mlp --hidden 2000000000", "an MLP with 2000000000 hidden units (--hidden) on 192-dimensional "
                        + "embeddings has 394,000,000,004 parameters"},
                {"--fractions NaN,0,1", "--fractions: split fractions must be three finite numbers"},
                {"--fractions 0.5,0.5", "--fractions needs three numbers"},
                {"--multilabel --thresholds foo", "--thresholds must be fixed, global or per-label, got 'foo'"},
                {"--thresholds global", "--thresholds sets the decision thresholds of a multi-label head"},
                {"--lr 1e30", "learning rate (--lr) sets stochastic gradient descent, but the linear head is fitted by "
                        + "L-BFGS"},
                {"--C 0", "--C must be finite numbers > 0"},
                {"--C NaN", "--C must be finite numbers > 0"},
                {"--head mlp --C 1", "the MLP is regularised by weight decay"},
                {"--hidden 64", "--hidden only applies to the MLP head"},
                {"--folds 1", "--folds must be between 2 and 100"},
                {"--fractions 1,0,0 --folds 41", "40 training rows cannot be cross-validated in 41 folds"},
                {"--head mlp --epochs 0", "--epochs must be between 1 and 100000"},
                {"--head mlp --batch-size 0", "--batch-size must be at least 1"},
                {"--head mlp --dropout 1", "--dropout must be at least 0 and below 1"},
                {"--head mlp --layers 3", "--layers must be 1 or 2"},
                {"--head mlp --weight-decay -1", "--weight-decay must be a finite number >= 0"},
                {"--head mlp --patience -1", "--patience must be 0"},
                {"--solver newton", "--solver must be lbfgs or sgd, got 'newton'"},
        };
        for (String[] c : cases) {
            Path out = tmp.resolve("absurd");
            List<String> args = new java.util.ArrayList<>(List.of("train", "--cache", cache.toString(), "--output",
                    out.toString()));
            args.addAll(List.of(c[0].split(" ")));
            CliRun run = CliRun.vitfit(args.toArray(new String[0]));
            assertEquals(1, run.exit(), c[0] + ": " + run.out());
            assertTrue(run.err().startsWith("error: ") && run.err().contains(c[1]), c[0] + ": " + run.err());
            assertFalse(run.err().contains("Exception") || run.err().contains("\tat "), run.err());
            assertFalse(Files.exists(out), c[0]);
        }
        // a batch larger than the data is used as the whole data, and said so
        CliRun big = CliRun.vitfit("train", "--cache", cache.toString(), "--head", "mlp", "--hidden", "16", "--epochs",
                "2", "--batch-size", "1000000", "--output", tmp.resolve("big-batch").toString());
        assertEquals(0, big.exit(), big.err());
        assertTrue(big.err().contains("warning: the batch size 1000000 (--batch-size) is more than the 28 training rows"),
                big.err());
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
