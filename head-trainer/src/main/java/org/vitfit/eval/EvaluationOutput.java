package org.vitfit.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.io.OutputKind;
import org.vitfit.io.OutputRefusedException;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.Finite;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
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

    /**
     * Writes {@code metrics.json}, {@code report.txt} and (multi-class) the confusion heatmap into {@code dir}
     * through {@link SafeOutput} (kind {@link OutputKind#REPORT}: only an earlier evaluation is ever replaced).
     */
    public static void write(Path dir, boolean overwrite, List<SafeOutput.Input> inputs, Path headDir,
                             EmbeddingSet set, EvaluationReport report) throws IOException {
        SafeOutput.writeDirectory(dir, OutputKind.REPORT, overwrite, inputs, tmp -> {
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
            return null;
        });
    }

    /** The first columns of a scores CSV; also how an earlier one is recognised before it is replaced. */
    static final String CSV_HEADER = "path,true_labels,predicted";
    private static final String JSONL_FIELDS = "{\"path\":";
    private static final int FIRST_LINE_LIMIT = 4 << 20;

    /** Refuses a scores path whose format cannot be told from its name, before any work is done. */
    public static void checkScoresFile(Path file, boolean overwrite, List<SafeOutput.Input> inputs)
            throws IOException {
        scoresFormat(file);
        SafeOutput.checkFile(file, OutputKind.SCORES, EvaluationOutput::isScoresFile, overwrite, inputs);
    }

    /**
     * Writes one line per row: its image path, true labels, the head's decision and every label's score (in the
     * head's label order), as CSV ({@code .csv}: {@code path,true_labels,predicted,<label>...}, label lists joined
     * with {@code |}) or JSON Lines ({@code .jsonl}: {@code {"path", "true_labels", "predicted", "scores": {label:
     * score}}}).
     */
    public static void writeScores(Path file, boolean overwrite, List<SafeOutput.Input> inputs, Head head,
                                   EmbeddingSet set, int[] rows, float[] scores) throws IOException {
        boolean csv = scoresFormat(file);
        Finite.require(scores, "the head's scores", "the head or the embeddings are damaged; retrain the head");
        List<String> labels = head.labels();
        int k = labels.size();
        SafeOutput.writeFile(file, OutputKind.SCORES, EvaluationOutput::isScoresFile, overwrite, inputs, tmp -> {
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                if (csv) {
                    StringBuilder header = new StringBuilder(CSV_HEADER);
                    for (String l : labels) {
                        header.append(',').append(csvField(l));
                    }
                    w.write(header.append('\n').toString());
                }
                for (int i = 0; i < rows.length; i++) {
                    int r = rows[i];
                    List<String> predicted = predicted(head, scores, i * k);
                    if (csv) {
                        StringBuilder line = new StringBuilder();
                        line.append(csvField(set.path(r))).append(',').append(csvField(String.join("|", set.labels(r))))
                                .append(',').append(csvField(String.join("|", predicted)));
                        for (int j = 0; j < k; j++) {
                            line.append(',').append(scores[i * k + j]);
                        }
                        w.write(line.append('\n').toString());
                    } else {
                        ObjectNode o = MetricsFile.JSON.createObjectNode();
                        o.put("path", set.path(r));
                        ArrayNode truth = o.putArray("true_labels");
                        set.labels(r).forEach(truth::add);
                        ArrayNode p = o.putArray("predicted");
                        predicted.forEach(p::add);
                        ObjectNode s = o.putObject("scores");
                        for (int j = 0; j < k; j++) {
                            s.put(labels.get(j), scores[i * k + j]);
                        }
                        w.write(MetricsFile.JSON.writer().without(
                                com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT).writeValueAsString(o));
                        w.write('\n');
                    }
                }
            }
            return null;
        });
    }

    private static List<String> predicted(Head head, float[] scores, int offset) {
        List<String> labels = head.labels();
        List<String> out = new ArrayList<>();
        if (head.task() == HeadTask.MULTICLASS) {
            int best = 0;
            for (int j = 1; j < labels.size(); j++) {
                if (scores[offset + j] > scores[offset + best]) {
                    best = j;
                }
            }
            out.add(labels.get(best));
        } else {
            float[] t = head.thresholds().values();
            for (int j = 0; j < labels.size(); j++) {
                if (scores[offset + j] > t[j]) {
                    out.add(labels.get(j));
                }
            }
        }
        return out;
    }

    /** True for CSV, false for JSON Lines. */
    private static boolean scoresFormat(Path file) throws OutputRefusedException {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".csv")) {
            return true;
        }
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return false;
        }
        throw new OutputRefusedException("--scores " + file + ": name the file .csv (comma-separated) or .jsonl "
                + "(JSON Lines) so the format is clear");
    }

    /**
     * Whether {@code existing} is a scores file vitfit wrote: its CSV header, or a first JSON line with exactly the four
     * fields of a scores line. {@code {"path": ...}} alone is not enough: a user's JSONL manifest starts that way too.
     */
    static boolean isScoresFile(Path existing) throws IOException {
        String first = firstLine(existing);
        if (first == null) {
            return false;
        }
        if (first.startsWith(CSV_HEADER + ",")) {
            return true;
        }
        if (!first.startsWith(JSONL_FIELDS)) {
            return false;
        }
        JsonNode line;
        try {
            line = MetricsFile.JSON.readTree(first);
        } catch (IOException e) {
            return false;
        }
        return line != null && line.size() == 4 && line.path("path").isTextual() && line.path("true_labels").isArray()
                && line.path("predicted").isArray() && line.path("scores").isObject();
    }

    /** The first line, read with a bound (a scores line of 21,000 labels is well under it); null when there is none. */
    private static String firstLine(Path file) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(FIRST_LINE_LIMIT);
        }
        int end = 0;
        while (end < head.length && head[end] != '\n') {
            end++;
        }
        if (end == head.length && head.length == FIRST_LINE_LIMIT) {
            return null;
        }
        return new String(head, 0, end, StandardCharsets.UTF_8);
    }

    private static String csvField(String s) {
        if (s.indexOf(',') < 0 && s.indexOf('"') < 0 && s.indexOf('\n') < 0 && s.indexOf('\r') < 0) {
            return s;
        }
        return '"' + s.replace("\"", "\"\"") + '"';
    }
}
