package org.vitfit.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the JSON lines of a comparison run into its Markdown report: the measured peaks, then per model and batch
 * size one row per implementation (vitfit fp32 and int8 through {@link CompareHarness}, DJL + PyTorch 2.7.1 through
 * {@code DjlHarness.java}, Debian's PyTorch through {@code torch_vit.py}) with images per second (median and min-max of
 * the repetitions, pooled over the rounds of the run), achieved GFLOP/s and its fraction of the matching peak (fp32
 * rows of the best fp32 product, int8 rows of the best int8 one), inference-only and end to end; then the ratios of
 * medians, int8 against int8 and fp32 against fp32.
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

    /** An implementation as a row label, in the order rows are listed. */
    enum Impl {
        VITFIT_FP32("vitfit fp32 (ONNX Runtime)"),
        VITFIT_FP16("vitfit fp16 (ONNX Runtime)"),
        VITFIT_INT8_STATIC("vitfit int8, calibrated"),
        VITFIT_INT8_DYNAMIC("vitfit int8, dynamic"),
        DJL_FP32("DJL 0.36 + PyTorch 2.7.1 fp32 (TorchScript)"),
        DJL_INT8("DJL 0.36 + PyTorch 2.7.1 int8 (quantize_dynamic: qkv, proj, fc1)"),
        TORCH_INT8("PyTorch 1.13 int8 (Debian, quantize_dynamic: qkv, proj, fc1)"),
        TORCH_FP32("PyTorch 1.13 eager fp32 (Debian)");

        final String label;

        Impl(String label) {
            this.label = label;
        }

        boolean int8() {
            return this == VITFIT_INT8_STATIC || this == VITFIT_INT8_DYNAMIC || this == DJL_INT8 || this == TORCH_INT8;
        }

        static Impl of(JsonNode n) {
            String impl = n.get("impl").asText();
            if (!n.has("precision") || !n.has("mode")) {
                return null;
            }
            boolean int8 = n.get("precision").asText().equals("int8");
            if (impl.equals("vitfit") && n.get("precision").asText().equals("fp16")) {
                return VITFIT_FP16;
            }
            return switch (impl) {
                case "vitfit" -> !int8 ? VITFIT_FP32
                        : n.path("quantization").asText().equals("static") ? VITFIT_INT8_STATIC : VITFIT_INT8_DYNAMIC;
                case "djl-pytorch" -> int8 ? DJL_INT8 : DJL_FP32;
                case "pytorch" -> int8 ? TORCH_INT8 : TORCH_FP32;
                default -> null;
            };
        }
    }

    /** The Markdown report of {@code jsonLines} (blank, start-up and parity lines are skipped). */
    public static String table(List<String> jsonLines) throws IOException {
        ObjectMapper json = new ObjectMapper();
        // "model|batch" -> impl -> mode -> measurement
        Map<String, Map<Impl, Map<String, JsonNode>>> groups = new TreeMap<>();
        Map<String, Double> gflop = new TreeMap<>();
        Map<String, String> devices = new TreeMap<>();
        List<JsonNode> peaks = new ArrayList<>();
        for (String line : jsonLines) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n = json.readTree(line);
            if (n.get("impl").asText().equals("peak")) {
                peaks.add(n);
                continue;
            }
            Impl impl = Impl.of(n);
            if (impl == null || n.get("mode").asText().equals("startup")) {
                continue;
            }
            String model = n.get("model").asText();
            String key = String.format(Locale.ROOT, "%s|%04d|%d", model, n.get("batch").asInt(), n.get("threads").asInt());
            groups.computeIfAbsent(key, k -> new TreeMap<>()).computeIfAbsent(impl, k -> new TreeMap<>())
                    .merge(n.get("mode").asText(), n, CompareReport::pooled);
            if (n.has("gflop")) {
                gflop.put(model, n.get("gflop").asDouble());
            }
            devices.put(impl.label + " " + n.get("mode").asText(), n.get("device").asText());
        }
        double fp32Peak = best(peaks, "fp32");
        double int8Peak = best(peaks, "int8");
        StringBuilder sb = new StringBuilder();
        if (!peaks.isEmpty()) {
            sb.append("Measured peaks (square products, same threads): ");
            List<String> p = new ArrayList<>();
            for (JsonNode n : peaks) {
                p.add(String.format(Locale.ROOT, "%s %s %d² %.0f GFLOP/s", n.get("kernel").asText(),
                        n.get("precision").asText(), n.path("size").asInt(), n.get("gflops").asDouble()));
            }
            sb.append(String.join("; ", p)).append(". fp32 rows are compared with the best fp32 peak (")
                    .append(num(fp32Peak)).append(" GFLOP/s), int8 rows with the best int8 peak (")
                    .append(num(int8Peak)).append(" GFLOP/s).\n\n");
        }
        sb.append("| model | batch | threads | implementation | inference img/s | GFLOP/s | % of peak | end-to-end img/s "
                + "| GFLOP/s | % of peak |\n");
        sb.append("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        Map<String, Map<String, String>> ratios = new LinkedHashMap<>();
        for (Map.Entry<String, Map<Impl, Map<String, JsonNode>>> g : groups.entrySet()) {
            String[] k = g.getKey().split("\\|");
            double work = gflop.getOrDefault(k[0], Double.NaN);
            for (Map.Entry<Impl, Map<String, JsonNode>> row : g.getValue().entrySet()) {
                double peak = row.getKey().int8() ? int8Peak : fp32Peak;
                List<String> cells = new ArrayList<>(List.of(k[0], Integer.toString(Integer.parseInt(k[1])), k[2],
                        row.getKey().label));
                for (String mode : List.of("infer", "e2e")) {
                    JsonNode n = row.getValue().get(mode);
                    cells.add(cell(n));
                    double rate = n == null ? Double.NaN : n.get("median").asDouble() * work;
                    cells.add(Double.isNaN(rate) ? "–" : num(rate));
                    // The peaks are the CPU's: a row that ran elsewhere, or fp16, has no matching peak.
                    boolean comparable = peak > 0 && n != null && n.get("device").asText().equals("cpu")
                            && row.getKey() != Impl.VITFIT_FP16;
                    cells.add(Double.isNaN(rate) || !comparable ? "–"
                            : String.format(Locale.ROOT, "%.0f%%", 100 * rate / peak));
                }
                sb.append("| ").append(String.join(" | ", cells)).append(" |\n");
            }
            for (String mode : List.of("infer", "e2e")) {
                Map<String, String> r = new LinkedHashMap<>();
                r.put("vitfit fp32 / DJL fp32", ratio(g.getValue(), Impl.VITFIT_FP32, Impl.DJL_FP32, mode));
                r.put("vitfit int8 calibrated / best PyTorch int8", ratio(g.getValue(), Impl.VITFIT_INT8_STATIC,
                        faster(g.getValue(), Impl.DJL_INT8, Impl.TORCH_INT8, mode), mode));
                r.put("vitfit int8 calibrated / vitfit fp32", ratio(g.getValue(), Impl.VITFIT_INT8_STATIC,
                        Impl.VITFIT_FP32, mode));
                r.put("vitfit int8 dynamic / vitfit fp32", ratio(g.getValue(), Impl.VITFIT_INT8_DYNAMIC,
                        Impl.VITFIT_FP32, mode));
                r.put("vitfit fp32 / PyTorch 1.13 eager", ratio(g.getValue(), Impl.VITFIT_FP32, Impl.TORCH_FP32, mode));
                ratios.put(k[0] + " | " + Integer.parseInt(k[1]) + " | " + (mode.equals("infer") ? "inference"
                        : "end-to-end"), r);
            }
        }
        sb.append("\nimg/s: median of the repetitions, every round pooled (min-max in brackets). GFLOP/s = img/s x "
                + "the model's GFLOP per image (");
        List<String> w = new ArrayList<>();
        gflop.forEach((m, v) -> w.add(String.format(Locale.ROOT, "%s %.2f", m, v)));
        sb.append(String.join(", ", w)).append("; products only, as CompareHarness.gflopPerImage counts them).\n\n");
        if (!ratios.isEmpty()) {
            List<String> names = new ArrayList<>(ratios.values().iterator().next().keySet());
            sb.append("| model | batch | mode | ").append(String.join(" | ", names)).append(" |\n");
            sb.append("| --- | ---: | --- |").append(" ---: |".repeat(names.size())).append('\n');
            for (Map.Entry<String, Map<String, String>> e : ratios.entrySet()) {
                sb.append("| ").append(e.getKey()).append(" | ").append(String.join(" | ", e.getValue().values()))
                        .append(" |\n");
            }
            sb.append("\nRatios of medians; \"best PyTorch int8\" is the faster of DJL + PyTorch 2.7.1 and Debian's "
                    + "PyTorch 1.13 in that row.\n");
        }
        List<String> off = new ArrayList<>();
        devices.forEach((what, device) -> {
            if (!device.equals("cpu")) {
                off.add(what + " ran on " + device);
            }
        });
        if (!off.isEmpty()) {
            sb.append("\nDevices: ").append(String.join("; ", off)).append(".\n");
        }
        return sb.toString();
    }

    /**
     * One measurement from two rounds of the same implementation: the repetitions pooled, the median taken over all
     * of them. run.sh measures in interleaved rounds (every implementation once per round), so a slow minute of a
     * shared machine lands on every row instead of on whichever ran then.
     */
    static JsonNode pooled(JsonNode a, JsonNode b) {
        ObjectNode merged = ((ObjectNode) a).deepCopy();
        ArrayNode reps = merged.putArray("reps");
        List<Double> all = new ArrayList<>();
        for (JsonNode n : List.of(a, b)) {
            for (JsonNode r : n.get("reps")) {
                reps.add(r.asDouble());
                all.add(r.asDouble());
            }
        }
        merged.put("median", CompareHarness.median(all.stream().mapToDouble(Double::doubleValue).toArray()));
        merged.put("images", a.path("images").asInt() + b.path("images").asInt());
        return merged;
    }

    private static double best(List<JsonNode> peaks, String precision) {
        double best = 0;
        for (JsonNode n : peaks) {
            if (n.get("precision").asText().equals(precision)) {
                best = Math.max(best, n.get("gflops").asDouble());
            }
        }
        return best;
    }

    private static Impl faster(Map<Impl, Map<String, JsonNode>> row, Impl a, Impl b, String mode) {
        double ra = median(row, a, mode);
        double rb = median(row, b, mode);
        if (Double.isNaN(ra)) {
            return b;
        }
        return Double.isNaN(rb) || ra >= rb ? a : b;
    }

    private static double median(Map<Impl, Map<String, JsonNode>> row, Impl impl, String mode) {
        Map<String, JsonNode> m = row.get(impl);
        JsonNode n = m == null ? null : m.get(mode);
        return n == null ? Double.NaN : n.get("median").asDouble();
    }

    private static String ratio(Map<Impl, Map<String, JsonNode>> row, Impl a, Impl b, String mode) {
        double ra = median(row, a, mode);
        double rb = median(row, b, mode);
        if (Double.isNaN(ra) || Double.isNaN(rb) || rb <= 0) {
            return "–";
        }
        return String.format(Locale.ROOT, "%.2fx", ra / rb);
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

    private static String num(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
    }
}
