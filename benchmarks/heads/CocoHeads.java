import org.vitfit.eval.MultiLabelReport;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.Extractor;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.TrainingRun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * COCO mini multi-label head benchmark, Java side (run by run.sh): extracts the 159 images of the shared COCO mini
 * set, exports embeddings + label sets + the manifest's split (train 80 / val 79) for scikit-learn, and trains on
 * the train rows the default multi-label linear head (L-BFGS, C and the global threshold by 5-fold cross-validation,
 * untuned) and the SGD linear head; writes their micro ROC-AUC, mAP and micro-F1 on the val rows to
 * java-results.json.
 *
 * Usage: java -cp ... CocoHeads.java MODEL_DIR LABELS_CSV WORK_DIR
 */
public class CocoHeads {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        Path manifest = Path.of(args[1]);
        Path work = Path.of(args[2]);
        Files.createDirectories(work);
        Path cache = work.resolve("cache");
        Extractor.run(ExtractOptions.builder(model, manifest, cache).batchSize(16).build(), ExtractListener.NONE);
        EmbeddingSet set = EmbeddingSet.fromCache(cache);
        int n = set.size();
        int d = set.dimension();
        float[] data = new float[n * d];
        List<String> labels = new ArrayList<>();
        List<List<String>> labelSets = new ArrayList<>();
        List<String> split = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            System.arraycopy(set.vector(i), 0, data, i * d, d);
            labels.add(String.join("|", set.labels(i)));
            labelSets.add(set.labels(i));
            split.add(set.split(i).equals("train") ? "train" : "test");
        }
        ByteBuffer buf = ByteBuffer.allocate(n * d * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        Files.write(work.resolve("embeddings.f32"), buf.array());
        Files.write(work.resolve("labels.txt"), labels);
        Files.write(work.resolve("split.txt"), split);
        Files.writeString(work.resolve("shape.txt"), n + " " + d + "\n");

        // train / test as the manifest's train / val: every train row fits the head, as scikit-learn's do
        EmbeddingSet trainTest = new EmbeddingSet(data, d, labelSets, split, null, set.modelSha256(), "coco-mini");
        TrainingRun linear = HeadTrainer.builder().multiLabel(true).fractions(1.0, 0.0, 0.0).build().train(trainTest);
        TrainingRun sgd = HeadTrainer.builder().multiLabel(true).solver(HeadTrainer.LinearSolver.SGD)
                .fractions(1.0, 0.0, 0.0).build().train(trainTest);
        linear.writeTo(work.resolve("linear-head"), true);
        sgd.writeTo(work.resolve("sgd-head"), true);
        String json = String.format(Locale.ROOT, "{\"images\": %d, \"train\": %d, \"test\": %d,%n \"linear\": %s,%n "
                + "\"sgd\": %s}%n", n, linear.split().train().length, linear.split().test().length, result(linear),
                result(sgd));
        Files.writeString(work.resolve("java-results.json"), json);
        System.out.print(json);
    }

    static String result(TrainingRun run) {
        MultiLabelReport t = (MultiLabelReport) run.test();
        return String.format(Locale.ROOT, "{\"micro_roc_auc\": %.6f, \"map\": %.6f, \"micro_f1\": %.6f, \"fit_seconds\": %.2f, "
                        + "\"selection\": \"%s\", \"options\": \"%s\"}", t.microRocAuc(), t.meanAveragePrecision(),
                t.microF1(), run.trainSeconds(), run.selection() == null ? "" : run.selection().summary(),
                run.head().metadata().training().toString().replace("\"", "'"));
    }
}
