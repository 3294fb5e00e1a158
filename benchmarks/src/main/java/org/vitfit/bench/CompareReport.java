package org.vitfit.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the JSON lines of a comparison run (vitfit's {@link CompareHarness} and PyTorch's {@code torch_vit.py}) into
 * the side-by-side Markdown table: one row per model, mode and batch size; medians in images per second, the
 * min-max spread of the repetitions, and vitfit's ratios to PyTorch eager.
 *
 * Usage: {@code CompareReport RESULTS.jsonl TABLE.md}
 */
public final class CompareReport {

    private CompareReport() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[1]);
        Files.writeString(out, table(Files.readAllLines(Path.of(args[0]))));
        System.out.print(Files.readString(out));
    }

    /** The Markdown table of {@code jsonLines} (blank lines and start-up lines are skipped). */
    public static String table(List<String> jsonLines) throws IOException {
        ObjectMapper json = new ObjectMapper();
        // row key -> column ("pytorch fp32", "vitfit fp32", "vitfit int8") -> measurement
        Map<String, Map<String, JsonNode>> rows = new TreeMap<>();
        for (String line : jsonLines) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n = json.readTree(line);
            String mode = n.get("mode").asText();
            if (mode.equals("startup")) {
                continue;
            }
            String key = String.format(Locale.ROOT, "%s|%s|%04d|%d|%s", n.get("model").asText(), mode,
                    n.get("batch").asInt(), n.get("threads").asInt(), n.get("device").asText());
            rows.computeIfAbsent(key, k -> new TreeMap<>())
                    .put(n.get("impl").asText() + " " + n.get("precision").asText(), n);
        }
        StringBuilder sb = new StringBuilder();
        sb.append("| model | mode | batch | threads | PyTorch eager fp32 | vitfit fp32 | vitfit int8 | fp32 / PyTorch | int8 / PyTorch |\n");
        sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (Map.Entry<String, Map<String, JsonNode>> e : rows.entrySet()) {
            String[] k = e.getKey().split("\\|");
            Map<String, JsonNode> c = e.getValue();
            JsonNode torch = c.get("pytorch fp32");
            List<String> cells = new ArrayList<>(List.of(k[0], k[1].equals("e2e") ? "end-to-end" : "inference",
                    Integer.toString(Integer.parseInt(k[2])), k[3]));
            cells.add(cell(torch));
            cells.add(cell(c.get("vitfit fp32")));
            cells.add(cell(c.get("vitfit int8")));
            cells.add(ratio(c.get("vitfit fp32"), torch));
            cells.add(ratio(c.get("vitfit int8"), torch));
            sb.append("| ").append(String.join(" | ", cells)).append(" |\n");
        }
        sb.append("\nimg/s: median of the repetitions (min-max in brackets); ratios are of medians.\n");
        return sb.toString();
    }

    private static String cell(JsonNode n) {
        if (n == null) {
            return "–";
        }
        double min = Double.MAX_VALUE;
        double max = 0;
        for (JsonNode r : n.get("reps")) {
            min = Math.min(min, r.asDouble());
            max = Math.max(max, r.asDouble());
        }
        return String.format(Locale.ROOT, "%s (%s-%s)", num(n.get("median").asDouble()), num(min), num(max));
    }

    private static String ratio(JsonNode a, JsonNode b) {
        if (a == null || b == null || b.get("median").asDouble() <= 0) {
            return "–";
        }
        return String.format(Locale.ROOT, "%.2fx", a.get("median").asDouble() / b.get("median").asDouble());
    }

    private static String num(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }
}
