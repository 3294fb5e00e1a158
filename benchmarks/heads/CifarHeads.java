import org.vitfit.eval.ClassificationReport;
import org.vitfit.extract.ExtractListener;
import org.vitfit.extract.ExtractOptions;
import org.vitfit.extract.ExtractSummary;
import org.vitfit.extract.Extractor;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.HeadKind;
import org.vitfit.heads.HeadTrainer;
import org.vitfit.heads.Splits;
import org.vitfit.heads.TrainingRun;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * CIFAR-10 head benchmark, Java side (run by run.sh with the source launcher): extracts the images into a cache
 * (incremental: a second run only re-hashes them), makes one seeded stratified split (72% train, 8% validation,
 * 20% test), exports embeddings + labels + split for scikit-learn, then trains on the same 80% scikit-learn fits
 * (train + validation) the default linear head (L-BFGS, C by 5-fold cross-validation, untuned) and the SGD linear
 * head, and the MLP on train with early stopping on validation; writes test accuracy and fit time of each to
 * java-results.json.
 *
 * Usage: java -cp ... CifarHeads.java MODEL_DIR IMAGES_DIR WORK_DIR SEED
 */
public class CifarHeads {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        Path images = Path.of(args[1]);
        Path work = Path.of(args[2]);
        long seed = Long.parseLong(args[3]);
        Files.createDirectories(work);
        Path cache = work.resolve("cache");

        long t0 = System.nanoTime();
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, images, cache).batchSize(64).build(),
                ExtractListener.NONE);
        double extractSeconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "extract: %d embedded, %d unchanged, %d failed in %.0f s%n",
                s.embedded(), s.unchanged(), s.failed(), extractSeconds);

        EmbeddingSet all = EmbeddingSet.fromCache(cache);
        int n = all.size();
        int d = all.dimension();
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            labels.add(all.labels(i).get(0));
        }
        int[][] parts = Splits.stratifiedSingleLabel(labels, new double[] {0.72, 0.08, 0.2}, seed);
        String[] split = new String[n];
        for (int r : parts[0]) split[r] = "train";
        for (int r : parts[1]) split[r] = "val";
        for (int r : parts[2]) split[r] = "test";

        float[] data = new float[n * d];
        List<List<String>> labelLists = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            System.arraycopy(all.vector(i), 0, data, i * d, d);
            labelLists.add(List.of(labels.get(i)));
        }
        ByteBuffer buf = ByteBuffer.allocate(n * d * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(data);
        Files.write(work.resolve("embeddings.f32"), buf.array());
        Files.write(work.resolve("labels.txt"), labels);
        Files.write(work.resolve("split.txt"), List.of(split));
        Files.writeString(work.resolve("shape.txt"), n + " " + d + "\n");

        List<String> linearSplit = new ArrayList<>();
        List<String> mlpSplit = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            linearSplit.add(split[i].equals("test") ? "test" : "train");
            mlpSplit.add(split[i]);
        }
        EmbeddingSet linearSet = new EmbeddingSet(data, d, labelLists, linearSplit, null, all.modelSha256(), "cifar10");
        EmbeddingSet mlpSet = new EmbeddingSet(data, d, labelLists, mlpSplit, null, all.modelSha256(), "cifar10");

        // fractions 0.8/0/0.2: no validation carved out of train, so the linear heads fit exactly scikit-learn's rows
        TrainingRun linear = HeadTrainer.builder().fractions(0.8, 0.0, 0.2).seed(seed).build().train(linearSet);
        TrainingRun sgd = HeadTrainer.builder().solver(HeadTrainer.LinearSolver.SGD).fractions(0.8, 0.0, 0.2).seed(seed)
                .build().train(linearSet);
        TrainingRun mlp = HeadTrainer.builder().head(HeadKind.MLP).seed(seed).build().train(mlpSet);
        linear.writeTo(work.resolve("linear-head"), true);
        sgd.writeTo(work.resolve("sgd-head"), true);
        mlp.writeTo(work.resolve("mlp-head"), true);
        String json = String.format(Locale.ROOT, "{\"images\": %d, \"dimension\": %d, \"train\": %d, \"validation\": %d, "
                        + "\"test\": %d, \"extract_seconds\": %.1f,%n \"linear\": %s,%n \"sgd\": %s,%n \"mlp\": %s}%n",
                n, d, parts[0].length, parts[1].length, parts[2].length, extractSeconds, result(linear), result(sgd),
                result(mlp));
        Files.writeString(work.resolve("java-results.json"), json);
        System.out.print(json);
    }

    static String result(TrainingRun run) {
        return String.format(Locale.ROOT, "{\"accuracy\": %.6f, \"fit_seconds\": %.2f, \"steps\": %d, \"selection\": \"%s\", "
                        + "\"options\": \"%s\"}", ((ClassificationReport) run.test()).accuracy(), run.trainSeconds(),
                run.curve().trainLoss().size(), run.selection() == null ? "" : run.selection().summary(),
                run.head().metadata().training().toString().replace("\"", "'"));
    }
}
