package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.classify.Classification;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The three forms of {@code vitfit predict}'s answer, one entry per image in input order: text for people, JSON
 * Lines and CSV for programs. An image that could not be classified is an entry too, with the reason
 * ({@code missing}, {@code not_an_image}, {@code truncated}, ..., {@code non_finite_output}) and a message.
 *
 * <p>JSON Lines: {@code {"path": ..., "labels": [...], "top": [{"index": i, "label": ..., "score": p}, ...]}} or
 * {@code {"path": ..., "error": {"reason": ..., "message": ...}}}. CSV (RFC 4180, UTF-8): header
 * {@code path,labels,top1_index,top1_label,top1_score,...,topK_score,error,error_message}; {@code labels} is
 * {@code |}-separated, as in the manifests {@code vitfit extract} reads. Both files are recognised as vitfit's by
 * that first line, which is what {@code --overwrite} checks before replacing one.
 */
abstract class PredictionWriter {

    enum Format { TEXT, JSONL, CSV }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CSV_HEADER_START = "path,labels,top1_index,top1_label,top1_score";

    /** One classified image. */
    abstract void classified(String path, Classification c, int topK) throws IOException;

    /** One image that could not be classified. */
    abstract void failed(String path, String reason, String message) throws IOException;

    static Format formatOf(Path output, String explicit) {
        if (explicit != null) {
            return switch (explicit.toLowerCase(Locale.ROOT)) {
                case "csv" -> Format.CSV;
                case "jsonl", "json" -> Format.JSONL;
                default -> throw new IllegalArgumentException("--format must be csv or jsonl, got '" + explicit + "'");
            };
        }
        String name = output.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".csv")) {
            return Format.CSV;
        }
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return Format.JSONL;
        }
        throw new IllegalArgumentException("cannot tell the format of --output " + output + " from its name; end it in "
                + ".csv or .jsonl, or pass --format csv|jsonl");
    }

    /** A file writer; a CSV file gets its header at once. */
    static PredictionWriter create(Format format, Writer out, int columns) throws IOException {
        return switch (format) {
            case JSONL -> new Jsonl(out);
            case CSV -> Csv.start(out, columns);
            case TEXT -> throw new IllegalArgumentException("text goes to the console");
        };
    }

    /**
     * True when {@code file} starts the way a predictions file written by vitfit does: the CSV header, or a JSON object
     * with a {@code path} and {@code top} or {@code error}. Only such a file may be replaced with {@code --overwrite}.
     */
    static boolean isOurs(Path file) throws IOException {
        String first;
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            char[] buf = new char[64 << 10];
            int n = r.read(buf);
            if (n <= 0) {
                return false;
            }
            String head = new String(buf, 0, n);
            int eol = head.indexOf('\n');
            first = (eol < 0 ? head : head.substring(0, eol)).strip();
        } catch (MalformedInputException e) {
            return false;
        }
        if (first.startsWith(CSV_HEADER_START) && first.endsWith(",error,error_message")) {
            return true;
        }
        if (first.startsWith("{\"path\":")) {
            try {
                JsonNode o = JSON.readTree(first);
                return o.isObject() && o.path("path").isTextual() && (o.has("top") || o.has("error"));
            } catch (IOException e) {
                return false;
            }
        }
        return false;
    }

    /** For people: the top labels with their probability and class index, or the error. */
    static final class Text extends PredictionWriter {
        private final PrintStream out;
        private final boolean multiLabel;

        /** @param multiLabel print each image's active labels (those above their thresholds) too */
        Text(PrintStream out, boolean multiLabel) {
            this.out = out;
            this.multiLabel = multiLabel;
        }

        @Override
        void classified(String path, Classification c, int topK) {
            out.println(path);
            for (Classification.ScoredLabel s : c.top(topK)) {
                out.printf(Locale.ROOT, "  %6.2f%%  %s (%d)%n", 100 * s.score(), s.label(), s.index());
            }
            if (multiLabel) {
                out.println("  labels: " + (c.activeLabels().isEmpty() ? "(none above its threshold)"
                        : String.join(", ", c.activeLabels())));
            }
        }

        @Override
        void failed(String path, String reason, String message) {
            out.println(path);
            out.println("  error (" + reason + "): " + message);
        }
    }

    /** One JSON object per line; also what {@code --json} prints to the console. */
    static final class Jsonl extends PredictionWriter {
        private final Appendable out;

        Jsonl(Appendable out) {
            this.out = out;
        }

        @Override
        void classified(String path, Classification c, int topK) throws IOException {
            ObjectNode o = JSON.createObjectNode();
            o.put("path", path);
            ArrayNode labels = o.putArray("labels");
            c.activeLabels().forEach(labels::add);
            ArrayNode top = o.putArray("top");
            for (Classification.ScoredLabel s : c.top(topK)) {
                top.addObject().put("index", s.index()).put("label", s.label()).put("score", s.score());
            }
            out.append(JSON.writeValueAsString(o)).append('\n');
        }

        @Override
        void failed(String path, String reason, String message) throws IOException {
            ObjectNode o = JSON.createObjectNode();
            o.put("path", path);
            o.putObject("error").put("reason", reason).put("message", message);
            out.append(JSON.writeValueAsString(o)).append('\n');
        }
    }

    /** RFC 4180 CSV with a fixed set of columns: {@code columns} ranked labels per row. */
    static final class Csv extends PredictionWriter {
        private final Writer out;
        private final int columns;

        private Csv(Writer out, int columns) {
            this.out = out;
            this.columns = columns;
        }

        static Csv start(Writer out, int columns) throws IOException {
            Csv csv = new Csv(out, columns);
            List<String> header = new ArrayList<>(List.of("path", "labels"));
            for (int k = 1; k <= columns; k++) {
                header.addAll(List.of("top" + k + "_index", "top" + k + "_label", "top" + k + "_score"));
            }
            header.addAll(List.of("error", "error_message"));
            csv.row(header);
            return csv;
        }

        @Override
        void classified(String path, Classification c, int topK) throws IOException {
            List<String> row = new ArrayList<>(List.of(path, String.join("|", c.activeLabels())));
            List<Classification.ScoredLabel> top = c.top(columns);
            for (int k = 0; k < columns; k++) {
                if (k < top.size()) {
                    Classification.ScoredLabel s = top.get(k);
                    row.addAll(List.of(Integer.toString(s.index()), s.label(), Float.toString(s.score())));
                } else {
                    row.addAll(List.of("", "", ""));
                }
            }
            row.addAll(List.of("", ""));
            row(row);
        }

        @Override
        void failed(String path, String reason, String message) throws IOException {
            List<String> row = new ArrayList<>(List.of(path, ""));
            for (int k = 0; k < columns; k++) {
                row.addAll(List.of("", "", ""));
            }
            row.addAll(List.of(reason, message));
            row(row);
        }

        private void row(List<String> fields) throws IOException {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < fields.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                sb.append(quote(fields.get(i)));
            }
            out.write(sb.append("\r\n").toString());
        }

        /** Quoted only when needed: ImageNet labels hold commas ("tabby, tabby cat"). */
        private static String quote(String field) {
            if (field.indexOf(',') < 0 && field.indexOf('"') < 0 && field.indexOf('\n') < 0 && field.indexOf('\r') < 0) {
                return field;
            }
            return '"' + field.replace("\"", "\"\"") + '"';
        }
    }
}
