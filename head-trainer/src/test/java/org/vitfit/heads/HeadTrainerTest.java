package org.vitfit.heads;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.HeadEvaluator;
import org.vitfit.eval.MultiLabelReport;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End to end on synthetic embeddings: train, evaluate, save, load, ONNX, and every kind of bad input. */
class HeadTrainerTest {

    @Test
    void linearMultiClassLearnsAndRoundTrips(@TempDir Path tmp) throws Exception {
        EmbeddingSet set = Synthetic.blobs(4, 60, 16, 0.8, 11);
        TrainingRun run = HeadTrainer.builder().head(HeadKind.LINEAR).l2Normalize(true).build().train(set);
        ClassificationReport test = (ClassificationReport) run.test();
        assertTrue(test.accuracy() > 0.9, "accuracy " + test.accuracy());
        assertEquals(48, test.examples());
        // Tribuo's confusion counts agree with its accuracy and per-class support
        long diagonal = 0;
        for (int c = 0; c < 4; c++) {
            diagonal += test.confusion()[c][c];
            assertEquals(test.perClass().get(c).support(), java.util.Arrays.stream(test.confusion()[c]).sum());
        }
        assertEquals(test.accuracy(), diagonal / 48.0, 1e-12);
        List<Double> loss = run.curve().trainLoss();
        assertEquals("iteration", run.curve().unit());
        assertTrue(loss.get(loss.size() - 1) < loss.get(0), run.curve().toString());
        // 24 validation rows are too few to choose C: they join train and 5-fold cross-validation chooses it
        assertEquals("5-fold cross-validation", run.selection().method());
        assertTrue(run.warnings().get(0).startsWith("24 validation rows are too few to choose C reliably"));
        assertEquals(192, run.split().train().length);
        assertEquals(run.selection().chosen(), run.head().metadata().training().get("C"));
        assertTrue(HeadTrainer.DEFAULT_C_GRID.contains(run.selection().chosen()));

        Path out = tmp.resolve("head");
        run.writeTo(out, false);
        for (String f : List.of("head.json", "model.tribuo", "head.onnx", "metrics.json", "report.txt",
                "training_curve.png", "confusion_matrix.png")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        BufferedImage heatmap = ImageIO.read(out.resolve("confusion_matrix.png").toFile());
        assertTrue(heatmap.getWidth() >= 640 && heatmap.getHeight() >= 640);
        JsonNode metrics = new ObjectMapper().readTree(out.resolve("metrics.json").toFile());
        assertEquals(test.accuracy(), metrics.get("test").get("accuracy").asDouble(), 1e-12);
        assertEquals("multiclass", metrics.get("test").get("task").asText());
        assertEquals(4, metrics.get("test").get("confusion").size());

        Head loaded = Head.load(out);
        assertEquals(run.head().labels(), loaded.labels());
        assertEquals(run.head().normalization(), loaded.normalization());
        assertEquals("0123abcd", loaded.metadata().backboneModelSha256());
        for (int r : run.split().test()) {
            assertArrayEquals(run.head().scores(set.vector(r)), loaded.scores(set.vector(r)));
        }
        assertOnnxMatches(loaded, out.resolve("head.onnx"), set);
        ClassificationReport again = (ClassificationReport) HeadEvaluator.evaluate(loaded, set, run.split().test(), "test");
        assertEquals(test.accuracy(), again.accuracy(), 0.0);
    }

    @Test
    void defaultSgdEpochsReachTheMinimumStepsButGivenEpochsAreKept() {
        HeadTrainer defaults = HeadTrainer.builder().head(HeadKind.LINEAR).solver(HeadTrainer.LinearSolver.SGD).build();
        assertEquals(217, defaults.linearEpochs(185));      // 185 rows, batch 1: 40,000 / 185 rounded up
        assertEquals(20, defaults.linearEpochs(40_000));    // CIFAR-10-sized sets keep the 20 epochs
        assertEquals(30, HeadTrainer.builder().head(HeadKind.LINEAR).solver(HeadTrainer.LinearSolver.SGD).epochs(30)
                .build().linearEpochs(185));
        // head.json records the epochs actually run
        TrainingRun run = defaults.train(Synthetic.blobs(3, 20, 4, 1, 1));
        int rows = run.split().train().length;
        assertEquals((HeadTrainer.LINEAR_MIN_STEPS + rows - 1) / rows, run.head().metadata().training().get("epochs"));
    }

    @Test
    void mlpMultiClassBeatsChanceAndStopsEarly(@TempDir Path tmp) throws Exception {
        EmbeddingSet set = Synthetic.blobs(5, 60, 12, 1.2, 12);
        TrainingRun run = HeadTrainer.builder().head(HeadKind.MLP).hiddenSize(64).epochs(200).patience(5)
                .learningRate(3e-3).classWeighting(HeadTrainer.ClassWeighting.BALANCED).build().train(set);
        ClassificationReport test = (ClassificationReport) run.test();
        assertTrue(test.accuracy() > 0.85, "accuracy " + test.accuracy());
        TrainingCurve c = run.curve();
        assertTrue(c.trainLoss().size() < 200, "early stopping should end before 200 epochs: " + c.trainLoss().size());
        assertEquals(c.trainLoss().size(), c.validationMetric().size());
        double bestLoss = c.validationLoss().stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        assertEquals(bestLoss, c.validationLoss().get(c.bestEpoch() - 1), 0.0);
        Path out = tmp.resolve("mlp");
        run.writeTo(out, false);
        Head loaded = Head.load(out);
        assertEquals(HeadKind.MLP, loaded.kind());
        assertOnnxMatches(loaded, out.resolve("head.onnx"), set);
    }

    @Test
    void multiLabelHeadsTuneThresholdsAndBeatChance(@TempDir Path tmp) throws Exception {
        EmbeddingSet set = Synthetic.multiLabel(600, 5, 10, 13);
        for (HeadKind kind : HeadKind.values()) {
            HeadTrainer.Builder b = HeadTrainer.builder().head(kind).multiLabel(true)
                    .thresholds(Thresholds.Mode.PER_LABEL).l2Normalize(kind == HeadKind.MLP);
            if (kind == HeadKind.MLP) {
                b.epochs(60);
            }
            TrainingRun run = b.build().train(set);
            MultiLabelReport test = (MultiLabelReport) run.test();
            assertTrue(test.microF1() > 0.85, kind + " micro-F1 " + test.microF1());
            assertTrue(test.microRocAuc() > 0.95, kind + " micro-AUC " + test.microRocAuc());
            assertEquals(Thresholds.Mode.PER_LABEL, run.head().thresholds().mode());
            Path out = tmp.resolve(kind.jsonName());
            run.writeTo(out, false);
            Head loaded = Head.load(out);
            assertEquals(run.head().thresholds(), loaded.thresholds());
            HeadPrediction p = loaded.predict(set.vector(0));
            for (int j = 0; j < p.labels().size(); j++) {
                assertEquals(p.scores()[j] > loaded.thresholds().values()[j], p.predicted().contains(p.labels().get(j)));
            }
            assertOnnxMatches(loaded, out.resolve("head.onnx"), set);
            assertFalse(Files.exists(out.resolve("confusion_matrix.png")));
        }
    }

    @Test
    void withoutValidationRowsCrossValidationChoosesWhatValidationWould() {
        // issue #14: with no validation split, per-label thresholds became a fixed 0.5 and the MLP never stopped early
        EmbeddingSet set = Synthetic.multiLabel(400, 4, 8, 21);
        TrainingRun linear = HeadTrainer.builder().multiLabel(true).fractions(0.8, 0, 0.2)
                .thresholds(Thresholds.Mode.PER_LABEL).build().train(set);
        assertEquals("5-fold cross-validation", linear.selection().method());
        assertEquals("micro ROC-AUC", linear.selection().metric());
        assertEquals(Thresholds.Mode.PER_LABEL, linear.head().thresholds().mode());
        float[] t = linear.head().thresholds().values();
        assertFalse(t[0] == 0.5f && t[1] == 0.5f && t[2] == 0.5f && t[3] == 0.5f, java.util.Arrays.toString(t));
        assertEquals(320, linear.crossValidation().examples());
        assertTrue(linear.checkedBy().startsWith("test split"), linear.checkedBy());

        TrainingRun mlp = HeadTrainer.builder().head(HeadKind.MLP).multiLabel(true).hiddenSize(32).epochs(80)
                .fractions(0.8, 0, 0.2).build().train(set);
        ModelSelection epochs = mlp.selection();
        assertEquals("epochs", epochs.parameter());
        assertEquals(5, epochs.candidates().size(), "one best epoch per fold");
        double[] best = epochs.candidates().stream().mapToDouble(Double::doubleValue).sorted().toArray();
        assertEquals(best[2], epochs.chosen(), "the median of the folds' best epochs");
        assertEquals((int) epochs.chosen(), mlp.curve().trainLoss().size(), "the final fit runs the chosen epochs");
        assertEquals((int) epochs.chosen(), mlp.head().metadata().training().get("epochs"));
        assertTrue(((MultiLabelReport) mlp.test()).microRocAuc() > 0.9);

        // enough validation rows (120) choose C themselves
        TrainingRun validated = HeadTrainer.builder().build().train(Synthetic.blobs(3, 400, 8, 1, 9));
        assertEquals("validation split", validated.selection().method());
        assertEquals(120, validated.selection().rows());
        assertNull(validated.crossValidation());
    }

    @Test
    void unmeasurableClassesAndUnusedOptionsAreSaid() {
        EmbeddingSet blobs = Synthetic.blobs(3, 20, 4, 1, 5);
        List<List<String>> labels = new ArrayList<>();
        List<String> splits = new ArrayList<>();
        for (int i = 0; i < blobs.size(); i++) {
            labels.add(blobs.labels(i));
            splits.add(i % 5 == 0 ? "test" : i % 5 == 1 ? "val" : "train");
        }
        labels.set(2, List.of("loner"));
        EmbeddingSet set = new EmbeddingSet(blobs.data(), 4, labels, splits, null, null, "cache c");
        TrainingRun run = HeadTrainer.builder().c(List.of(1.0)).fractions(0.5, 0.3, 0.2).build().train(set);
        assertTrue(run.warnings().contains("--fractions was not used: the cache's split column already marks train, "
                + "val and test rows"), run.warnings().toString());
        assertTrue(run.warnings().stream().anyMatch(w -> w.startsWith("1 class has no validation rows")
                && w.contains("'loner' (1 image)")), run.warnings().toString());
        assertTrue(run.report().contains("WARNING: 1 class has no test rows"), run.report());
        // no validation rows: cross-validation chooses C, and a class of one image is never both fitted and checked
        TrainingRun cv = HeadTrainer.builder().fractions(1, 0, 0).build()
                .train(new EmbeddingSet(blobs.data(), 4, labels, null, null, null, "cache d"));
        assertEquals("5-fold cross-validation", cv.selection().method());
        assertTrue(cv.warnings().contains("1 class has fewer training rows than the 5 cross-validation folds, so the "
                + "out-of-fold figures (and what they chose) say little about it: 'loner' (1 row); add images of that "
                + "class, or use fewer --folds"), cv.warnings().toString());
        assertFalse(run.warnings().stream().anyMatch(w -> w.contains("cross-validation folds")), "validated: no folds");
    }

    @Test
    void divergingTrainingIsRefused() {
        EmbeddingSet set = Synthetic.blobs(3, 20, 4, 1, 5);
        for (HeadTrainer.Builder b : List.of(HeadTrainer.builder().head(HeadKind.MLP).hiddenSize(8).learningRate(1e30),
                HeadTrainer.builder().solver(HeadTrainer.LinearSolver.SGD).epochs(2).learningRate(1e30))) {
            assertMessage(() -> b.build().train(set), "training diverged. Lower the learning rate (--lr)");
        }
        // a huge weight decay diverges too (AdamW scales weights by 1 - lr * decay): the advice names it
        assertMessage(() -> HeadTrainer.builder().head(HeadKind.MLP).hiddenSize(8).epochs(2).weightDecay(1e300).build()
                .train(set), "and the weight decay (--weight-decay, default 0.01): learning rate x weight decay must "
                + "stay well below 1");
    }

    @Test
    void badInputGivesClearErrors() {
        EmbeddingSet good = Synthetic.blobs(3, 10, 4, 1, 1);
        HeadTrainer trainer = HeadTrainer.builder().c(List.of(1.0)).build();

        List<List<String>> none = new ArrayList<>();
        for (int i = 0; i < good.size(); i++) {
            none.add(List.of());
        }
        assertMessage(() -> trainer.train(new EmbeddingSet(good.data(), 4, none, null, null, null, "cache x")),
                "has no labels");

        List<List<String>> single = new ArrayList<>();
        for (int i = 0; i < good.size(); i++) {
            single.add(List.of("cat"));
        }
        assertMessage(() -> trainer.train(new EmbeddingSet(good.data(), 4, single, null, null, null, "c")),
                "single class [cat]");

        List<List<String>> labels = new ArrayList<>();
        List<String> splits = new ArrayList<>();
        for (int i = 0; i < good.size(); i++) {
            labels.add(good.labels(i));
            splits.add(i < 20 ? "train" : "test");
        }
        labels.set(25, List.of("zebra"));
        assertMessage(() -> trainer.train(new EmbeddingSet(good.data(), 4, labels, splits, null, null, "c")),
                "[zebra] never occur in the training split");

        float[] nan = good.data().clone();
        nan[4 * 7 + 2] = Float.NaN;
        List<List<String>> l2 = new ArrayList<>();
        for (int i = 0; i < good.size(); i++) {
            l2.add(good.labels(i));
        }
        assertMessage(() -> new EmbeddingSet(nan, 4, l2, null, null, null, "cache y"), "row 7 has NaN at component 2");
        float[] inf = good.data().clone();
        inf[0] = Float.POSITIVE_INFINITY;
        assertMessage(() -> new EmbeddingSet(inf, 4, l2, null, null, null, "cache y"), "Infinity");

        List<List<String>> multi = new ArrayList<>(l2);
        multi.set(3, List.of("class0", "class1"));
        assertMessage(() -> trainer.train(new EmbeddingSet(good.data(), 4, multi, null, null, null, "c")),
                "--multilabel");

        Head head = trainer.train(good).head();
        assertMessage(() -> head.predict(new float[5]), "dimension 5 but this head was trained on 4-dimensional");
        EmbeddingSet wide = Synthetic.blobs(3, 10, 6, 1, 1);
        assertMessage(() -> HeadEvaluator.evaluate(head, wide, new int[] {0, 1}, "test"), "dimension 6");
        assertMessage(() -> HeadEvaluator.evaluate(head, new EmbeddingSet(good.data(), 4, labels, null, null, null, "c"),
                new int[] {25}, "test"), "'zebra', which the head was not trained on");
    }

    /**
     * At --C 1e-300 every step raises the penalty more than the data can lower the loss: L-BFGS gave up after 0
     * iterations and the head, its starting point (class frequencies, weights 0), was written without a word.
     */
    @Test
    void aFitThatNeverLeftItsStartIsWarnedAboutNamingC() {
        EmbeddingSet set = Synthetic.blobs(3, 20, 4, 1, 1);
        for (EmbeddingSet data : List.of(set, Synthetic.multiLabel(60, 3, 4, 2))) {
            boolean multi = data != set;
            TrainingRun stalled = HeadTrainer.builder().multiLabel(multi).c(List.of(1e-300)).build().train(data);
            assertEquals(0, stalled.head().metadata().training().get("iterations"));
            String warning = stalled.warnings().stream().filter(w -> w.startsWith("the L-BFGS fit")).findFirst()
                    .orElseThrow(() -> new AssertionError("no warning: " + stalled.warnings()));
            assertTrue(warning.startsWith("the L-BFGS fit with C 1e-300 (--C) stopped at its starting point after 0 "
                    + "iterations (LBFGSERR_"), warning);
            assertTrue(warning.endsWith("so every weight is 0 and the head gives every image the class frequencies of "
                    + "the training rows; use a larger --C (1 is scikit-learn's default), or several (--C "
                    + "0.01,0.1,1,10) for validation to choose from"), warning);
            assertTrue(stalled.report().contains("WARNING: the L-BFGS fit with C 1e-300"), stalled.report());
            TrainingRun fitted = HeadTrainer.builder().multiLabel(multi).c(List.of(1.0)).build().train(data);
            assertTrue((Integer) fitted.head().metadata().training().get("iterations") > 0);
            assertFalse(fitted.warnings().stream().anyMatch(w -> w.startsWith("the L-BFGS fit")),
                    fitted.warnings().toString());
        }
        // the C in messages and reports: 1e-300 was printed '1e-3' (the exponent's zeros were stripped), 1e10 '1e+1'
        assertEquals(List.of("1e-300", "1e+10", "1e-10", "0.0001", "0.01", "0.1235", "1", "100", "1.5e-05"),
                Stream.of(1e-300, 1e10, 1e-10, 1e-4, 0.01, 0.123456, 1.0, 100.0, 1.5e-5)
                        .map(ModelSelection::format).toList());
        // so small that 1 / (C x rows) overflows: no number to compute with
        assertMessage(() -> HeadTrainer.builder().c(List.of(Double.MIN_VALUE)).build().train(set),
                "C 4.9E-324 (--C) is too small to compute with");
    }

    @Test
    void overwriteReplacesOnlyAHeadVitfitWrote(@TempDir Path tmp) throws Exception {
        TrainingRun run = HeadTrainer.builder().c(List.of(1.0)).build().train(Synthetic.blobs(3, 10, 4, 1, 1));
        Path project = tmp.resolve("project");
        Files.createDirectories(project.resolve("src"));
        Files.writeString(project.resolve("src/Main.java"), "class Main {}");
        Files.writeString(project.resolve("README.md"), "mine");
        // issue #11: 'train --output . --overwrite' replaced a source tree with head files
        for (boolean overwrite : new boolean[] {false, true}) {
            assertMessage(() -> run.writeTo(project, overwrite), "was not written by vitfit as a head");
        }
        assertEquals("class Main {}", Files.readString(project.resolve("src/Main.java")));
        assertEquals("mine", Files.readString(project.resolve("README.md")));

        Path head = tmp.resolve("head");
        run.writeTo(head, false);
        assertMessage(() -> run.writeTo(head, false), "pass --overwrite to replace it");
        run.writeTo(head, true);
        assertNotNull(Head.load(head));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(head, project), s.sorted().toList(), "no temporary directory is left behind");
        }
        // an output inside (or containing) the embeddings it was trained on is refused
        Path cache = tmp.resolve("cache");
        Files.createDirectories(cache);
        assertMessage(() -> run.writeTo(cache.resolve("head"), false,
                List.of(org.vitfit.io.SafeOutput.Input.of("--cache", cache))), "lies inside the --cache");
    }

    @Test
    void loadRejectsMissingOrForeignDirectories(@TempDir Path tmp) throws Exception {
        assertMessage(() -> Head.load(tmp), "not a vitfit head directory");
        Path dir = tmp.resolve("h");
        HeadTrainer.builder().c(List.of(1.0)).build().train(Synthetic.blobs(2, 10, 3, 1, 1)).head().save(dir);
        Files.delete(dir.resolve(Head.MODEL_FILE));
        assertMessage(() -> Head.load(dir), "model file is missing");
    }

    static void assertOnnxMatches(Head head, Path onnx, EmbeddingSet set) throws Exception {
        int n = Math.min(set.size(), 64);
        float[][] rows = new float[n][];
        for (int i = 0; i < n; i++) {
            rows[i] = set.vector(i);
        }
        float[][] ort = OnnxCheck.run(Files.readAllBytes(onnx), Head.ONNX_INPUT, rows);
        double maxDiff = 0;
        for (int i = 0; i < n; i++) {
            float[] java = head.scores(rows[i]);
            for (int j = 0; j < java.length; j++) {
                maxDiff = Math.max(maxDiff, Math.abs(java[j] - ort[i][j]));
            }
        }
        assertTrue(maxDiff < 1e-5, head.kind() + " head: max |onnx - java| = " + maxDiff);
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String fragment) {
        Exception e = assertThrows(Exception.class, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(fragment),
                "expected '" + fragment + "' in: " + e.getMessage());
    }
}
