package org.vitfit.eval;

import org.vitfit.heads.AtomicDirectory;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/** Evaluation of a saved head on another cache, as {@code vitfit evaluate} runs it. */
public final class EvaluationOutput {

    public static final String REPORT = "report.txt";
    public static final String CONFUSION_PNG = "confusion_matrix.png";

    private EvaluationOutput() {
    }

    /**
     * Rows of {@code set} in {@code split}: {@code all} for every row; {@code train}, {@code val} (also matching
     * {@code validation}) or {@code test} by the split column, which must then exist.
     */
    public static int[] rows(EmbeddingSet set, String split) {
        String wanted = normalise(split);
        if (wanted.equals("all")) {
            int[] all = new int[set.size()];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
            }
            return all;
        }
        if (!set.hasSplitColumn()) {
            throw new IllegalArgumentException(set.source() + " has no split column; use --split all to evaluate "
                    + "every row");
        }
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < set.size(); i++) {
            if (set.split(i) != null && normalise(set.split(i)).equals(wanted)) {
                rows.add(i);
            }
        }
        if (rows.isEmpty()) {
            throw new IllegalArgumentException(set.source() + " has no rows in split '" + split + "'");
        }
        return rows.stream().mapToInt(Integer::intValue).toArray();
    }

    private static String normalise(String split) {
        String s = split.trim().toLowerCase(Locale.ROOT);
        return switch (s) {
            case "validation", "valid", "dev" -> "val";
            case "training" -> "train";
            case "testing" -> "test";
            default -> s;
        };
    }

    /** Refuses embeddings of another backbone, when both sides know theirs. */
    public static void checkBackbone(Head head, EmbeddingSet set) {
        String trained = head.metadata().backboneModelSha256();
        if (trained != null && set.modelSha256() != null && !Objects.equals(trained, set.modelSha256())) {
            throw new IllegalArgumentException(set.source() + " holds embeddings of model sha256 " + set.modelSha256()
                    + " but the head was trained on embeddings of " + trained
                    + "; extract the images with the same backbone the head was trained on");
        }
    }

    /** Writes {@code metrics.json}, {@code report.txt} and (multi-class) the confusion heatmap into {@code dir}. */
    public static void write(Path dir, boolean overwrite, Path headDir, EmbeddingSet set, EvaluationReport report)
            throws IOException {
        AtomicDirectory.write(dir, overwrite, tmp -> {
            Map<String, Object> context = new LinkedHashMap<>();
            context.put("head", headDir.toAbsolutePath().toString());
            context.put("embeddings", set.source());
            context.put("backboneModelSha256", set.modelSha256());
            Map<String, EvaluationReport> reports = new LinkedHashMap<>();
            reports.put(report.split(), report);
            MetricsFile.write(tmp.resolve(MetricsFile.NAME), context, reports);
            Files.writeString(tmp.resolve(REPORT), report.toTable(), StandardCharsets.UTF_8);
            if (report instanceof ClassificationReport c) {
                Charts.confusionMatrix(c, tmp.resolve(CONFUSION_PNG));
            }
        });
    }
}
