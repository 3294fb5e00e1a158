package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
import org.vitfit.convert.graph.OnnxGraph;
import org.vitfit.extract.InputItem;
import org.vitfit.extract.InputScanner;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code vitfit predict} as a batch tool, with the converted ViT-Tiny's own ImageNet head: folders (recursive), list
 * files, globs, CSV and JSON Lines files, class indices checked against timm's logits for the bundled samples, bad
 * images as error entries with exit status 3, and batching that does not change any answer.
 */
class PredictBatchCliTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    static Path model;
    static Path samples;
    static List<String> classes;
    /** Sample file name -> the ImageNet class timm's logits rank first. */
    static final Map<String, Integer> golden = new HashMap<>();

    @BeforeAll
    static void convert() throws IOException {
        Path checkpoint = CliRun.root().resolve("models/vit-tiny-patch16-224-augreg");
        model = tmp.resolve("vit-tiny");
        Converter.convert(checkpoint, model);
        samples = checkpoint.resolve("samples");
        classes = Files.readAllLines(checkpoint.resolve("imagenet_classes.txt")).stream().map(String::strip).toList();
        byte[] raw = Files.readAllBytes(CliRun.shared().resolve("fixtures/timm-golden/imagenet_samples/logits.f32"));
        float[] logits = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(logits);
        List<Path> files = sampleFiles();
        for (int i = 0; i < files.size(); i++) {
            int best = 0;
            for (int c = 1; c < 1000; c++) {
                best = logits[i * 1000 + c] > logits[i * 1000 + best] ? c : best;
            }
            golden.put(files.get(i).getFileName().toString(), best);
        }
    }

    static List<Path> sampleFiles() throws IOException {
        try (Stream<Path> s = Files.list(samples)) {
            return s.sorted().toList();
        }
    }

    private static List<JsonNode> jsonLines(String text) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : text.strip().split("\n")) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    /** A classified entry must name timm's top class for its sample, by index and by name. */
    private static void assertGolden(JsonNode entry) {
        String name = Path.of(entry.path("path").asText()).getFileName().toString();
        int want = golden.get(name);
        JsonNode top = entry.path("top").get(0);
        assertEquals(want, top.path("index").asInt(), entry.toString());
        assertEquals(classes.get(want), top.path("label").asText(), entry.toString());
        assertEquals(classes.get(want), entry.path("labels").get(0).asText());
    }

    @Test
    void aFolderWithBrokenFilesIsClassifiedToTheEndWithErrorEntries() throws IOException {
        Path dir = tmp.resolve("folder");
        List<Path> files = sampleFiles();
        Files.createDirectories(dir.resolve("a/b"));
        Files.createDirectories(dir.resolve(".hidden"));
        Files.copy(files.get(0), dir.resolve("a").resolve(files.get(0).getFileName()));
        Files.copy(files.get(1), dir.resolve("a/b").resolve(files.get(1).getFileName()));
        Files.copy(files.get(2), dir.resolve(files.get(2).getFileName()));
        Files.copy(files.get(3), dir.resolve(".hidden/skipped.JPEG"));
        byte[] jpeg = Files.readAllBytes(files.get(4));
        Files.write(dir.resolve("truncated.jpg"), Arrays.copyOf(jpeg, jpeg.length / 3));
        Files.writeString(dir.resolve("notes.jpg"), "name,breed\nrex,beagle\n");

        CliRun r = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--json", "--batch-size", "2",
                "--threads", "2");
        assertEquals(PredictCommand.SOME_FAILED, r.exit(), r.err());
        assertTrue(r.err().contains("2 of 5 images could not be classified"), r.err());
        List<JsonNode> entries = jsonLines(r.out());
        List<String> paths = entries.stream().map(e -> e.path("path").asText()).toList();
        assertEquals(List.of(dir.resolve("a/b").resolve(files.get(1).getFileName()).toString(),
                dir.resolve("a").resolve(files.get(0).getFileName()).toString(),
                dir.resolve(files.get(2).getFileName()).toString(),
                dir.resolve("notes.jpg").toString(), dir.resolve("truncated.jpg").toString()), paths,
                "sorted relative paths, recursive, hidden folder skipped");
        for (JsonNode e : entries.subList(0, 3)) {
            assertGolden(e);
            assertEquals(5, e.path("top").size());
        }
        assertEquals("not_an_image", entries.get(3).path("error").path("reason").asText(), entries.get(3).toString());
        assertEquals("truncated", entries.get(4).path("error").path("reason").asText(), entries.get(4).toString());
        assertFalse(entries.get(4).has("top"));
        assertTrue(entries.get(4).path("error").path("message").asText().contains("truncated.jpg"));

        CliRun text = CliRun.vitfit("predict", "--model", model.toString(), dir.toString());
        assertEquals(PredictCommand.SOME_FAILED, text.exit());
        assertTrue(text.out().contains("  error (not_an_image): "), text.out());
    }

    @Test
    void listFilesNameOnePathPerLineRelativeToTheList() throws IOException {
        Path lists = Files.createDirectories(tmp.resolve("lists"));
        List<Path> files = sampleFiles();
        Path copy = Files.createDirectories(tmp.resolve("list-images"));
        Files.copy(files.get(5), copy.resolve("x.JPEG"));
        Path list = lists.resolve("images.txt");
        Files.writeString(list, "# two samples and a file that is not there\n\n../list-images/x.JPEG\n"
                + files.get(6).toAbsolutePath() + "\n  gone.jpg  \n" + files.get(6).toAbsolutePath() + "\n");
        CliRun r = CliRun.vitfit("predict", "--model", model.toString(), "--list", list.toString(), "--json");
        assertEquals(PredictCommand.SOME_FAILED, r.exit(), r.err());
        assertTrue(r.err().contains("1 path(s) named more than once"), r.err());
        List<JsonNode> entries = jsonLines(r.out());
        assertEquals(3, entries.size(), r.out());
        assertEquals("../list-images/x.JPEG", entries.get(0).path("path").asText());
        assertEquals(golden.get(files.get(5).getFileName().toString()),
                entries.get(0).path("top").get(0).path("index").asInt());
        assertGolden(entries.get(1));
        JsonNode missing = entries.get(2);
        assertEquals("gone.jpg", missing.path("path").asText());
        assertEquals("missing", missing.path("error").path("reason").asText());
        assertTrue(missing.path("error").path("message").asText().contains("images.txt line 5"), missing.toString());
    }

    @Test
    void quotedGlobsAreExpandedLikeTheShell() throws IOException {
        CliRun r = CliRun.vitfit("predict", "--model", model.toString(), samples + "/n01*.JPEG", "--json",
                "--top-k", "1");
        assertEquals(0, r.exit(), r.err());
        List<JsonNode> entries = jsonLines(r.out());
        assertEquals(5, entries.size(), "the five n01 samples");
        entries.forEach(PredictBatchCliTest::assertGolden);

        Path tree = Files.createDirectories(tmp.resolve("tree/deeper"));
        List<Path> files = sampleFiles();
        Files.copy(files.get(7), tree.getParent().resolve("top.JPEG"));
        Files.copy(files.get(8), tree.resolve("deep.JPEG"));
        Files.writeString(tree.resolve("readme.txt"), "not matched");
        CliRun star = CliRun.vitfit("predict", "--model", model.toString(), tree.getParent() + "/*.JPEG", "--json");
        assertEquals(1, jsonLines(star.out()).size(), "* stays within its folder: " + star.out());
        CliRun globstar = CliRun.vitfit("predict", "--model", model.toString(), tree.getParent() + "/**/*.JPEG", "--json");
        assertEquals(2, jsonLines(globstar.out()).size(), "**/ crosses folders, zero included: " + globstar.out());

        CliRun none = CliRun.vitfit("predict", "--model", model.toString(), tree + "/*.png");
        assertEquals(1, none.exit());
        assertTrue(none.err().contains("matches no file"), none.err());
        CliRun nothing = CliRun.vitfit("predict", "--model", model.toString());
        assertEquals(1, nothing.exit());
        assertTrue(nothing.err().contains("nothing to classify"), nothing.err());
    }

    @Test
    void csvAndJsonLinesFilesAreWrittenWholeAndReplacedOnlyWhenOurs() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("csv-images"));
        List<Path> files = sampleFiles();
        Files.copy(files.get(9), dir.resolve("with, comma.JPEG"));
        Files.copy(files.get(10), dir.resolve("plain.JPEG"));
        Files.writeString(dir.resolve("broken.png"), "not a png");
        Path csv = tmp.resolve("out/predictions.csv");

        CliRun r = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--output", csv.toString(),
                "--top-k", "3");
        assertEquals(PredictCommand.SOME_FAILED, r.exit(), r.err());
        assertTrue(r.out().contains("wrote 3 entries to " + csv + " (2 classified, 1 failed)"), r.out());
        List<String> lines = Files.readAllLines(csv);
        assertEquals("path,labels,top1_index,top1_label,top1_score,top2_index,top2_label,top2_score,top3_index,"
                + "top3_label,top3_score,error,error_message", lines.get(0));
        assertTrue(lines.get(1).startsWith(dir.resolve("broken.png") + ",,,,,,,,,,,not_an_image,"), lines.get(1));
        assertTrue(lines.get(3).startsWith("\"" + dir.resolve("with, comma.JPEG") + "\","), "quoted: " + lines.get(3));
        int want = golden.get(files.get(9).getFileName().toString());
        assertTrue(lines.get(3).contains("," + classes.get(want) + "," + want + "," + classes.get(want) + ","),
                lines.get(3));
        // The file is a manifest 'vitfit extract' reads: path and (predicted) labels.
        List<InputItem> rows = InputScanner.scan(csv, List.of(), List.of()).items();
        assertEquals(3, rows.size());
        assertEquals(List.of(classes.get(want)), rows.get(2).labels());

        CliRun again = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--output", csv.toString());
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("already exists; pass --overwrite"), again.err());
        CliRun replaced = CliRun.vitfit("predict", "--model", model.toString(), files.get(11).toString(), "--output",
                csv.toString(), "--overwrite");
        assertEquals(0, replaced.exit(), replaced.err());
        assertEquals(2, Files.readAllLines(csv).size(), "header + one image");

        Path foreign = tmp.resolve("out/notes.csv");
        Files.writeString(foreign, "name,phone\nann,123\n");
        CliRun refused = CliRun.vitfit("predict", "--model", model.toString(), files.get(11).toString(), "--output",
                foreign.toString(), "--overwrite");
        assertEquals(1, refused.exit());
        assertTrue(refused.err().contains("is not a prediction file written by vitfit"), refused.err());
        assertEquals("name,phone\nann,123\n", Files.readString(foreign), "untouched");

        Path jsonl = tmp.resolve("out/predictions.jsonl");
        CliRun j = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--output", jsonl.toString());
        CliRun console = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--json");
        assertEquals(PredictCommand.SOME_FAILED, j.exit(), j.err());
        assertEquals(console.out(), Files.readString(jsonl, StandardCharsets.UTF_8), "the file holds what --json prints");

        CliRun unknown = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--output",
                tmp.resolve("out/p.txt").toString());
        assertEquals(1, unknown.exit());
        assertTrue(unknown.err().contains("--format csv|jsonl"), unknown.err());
        CliRun inside = CliRun.vitfit("predict", "--model", model.toString(), dir.toString(), "--output",
                dir.resolve("p.csv").toString());
        assertEquals(1, inside.exit());
        assertTrue(inside.err().contains("lies inside"), inside.err());
        assertFalse(Files.exists(dir.resolve("p.csv")));
    }

    /** Batches of 5 on 2 decode threads give the answers of one image at a time, in the same order. */
    @Test
    void batchingChangesNoAnswer() throws IOException {
        CliRun one = CliRun.vitfit("predict", "--model", model.toString(), samples.toString(), "--json",
                "--batch-size", "1", "--threads", "1");
        CliRun batched = CliRun.vitfit("predict", "--model", model.toString(), samples.toString(), "--json",
                "--batch-size", "5", "--threads", "2");
        assertEquals(0, batched.exit(), batched.err());
        List<JsonNode> a = jsonLines(one.out());
        List<JsonNode> b = jsonLines(batched.out());
        assertEquals(17, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).path("path"), b.get(i).path("path"));
            assertGolden(b.get(i));
            for (int k = 0; k < 5; k++) {
                assertEquals(a.get(i).path("top").get(k).path("index").asInt(), b.get(i).path("top").get(k).path("index").asInt());
                assertEquals(a.get(i).path("top").get(k).path("score").asDouble(),
                        b.get(i).path("top").get(k).path("score").asDouble(), 1e-5);
            }
        }
    }

    /**
     * A converted model whose logits are {@code log(mean pixel) * [1, -1]}: NaN for a dark image. Its entry is an
     * error ({@code non_finite_output}), never a NaN score, and the bright image next to it is classified.
     */
    @Test
    void nonFiniteScoresBecomeErrorEntries() throws IOException {
        ModelDescriptor vit = ModelDescriptor.read(model);
        Path dir = Files.createDirectories(tmp.resolve("dark-is-nan"));
        OnnxGraph g = new OnnxGraph("dark_is_nan");
        String pixels = g.floatInput("pixel_values", "N", 3, vit.imageHeight(), vit.imageWidth());
        String mean = g.op("ReduceMean", "mean", Map.of("axes", new long[] {1, 2, 3}, "keepdims", 1L), pixels);
        String column = g.op("Reshape", "column", mean, g.int64Initializer("column_shape", -1, 1));
        g.floatOutput(column, "embedding", "N", 1);
        String logits = g.op("MatMul", "logits", g.op("Log", "log", column),
                g.floatInitializer("weights", new float[] {1f, -1f}, 1, 2));
        g.floatOutput(logits, "logits", "N", 2);
        Path onnx = dir.resolve(ModelDescriptor.ONNX_FILE_NAME);
        Files.write(onnx, g.toModel("test", Map.of()).toByteArray());
        new ModelDescriptor(ModelDescriptor.FORMAT, vit.formatVersion(), "test", vit.family(), vit.architecture(),
                vit.imageHeight(), vit.imageWidth(), vit.patchSize(), vit.hiddenSize(), vit.numLayers(), vit.numHeads(),
                vit.mlpDim(), vit.numTokens(), 1, vit.embeddingPooling(), List.of("embedding", "logits"),
                List.of("bright", "dim"), vit.weightsSha256(), Hashing.sha256(onnx), vit.precision(), vit.toolVersion(),
                vit.preprocessing()).write(dir.resolve(ModelDescriptor.FILE_NAME));

        Path images = Files.createDirectories(tmp.resolve("dark-and-bright"));
        for (Map.Entry<String, Color> e : Map.of("bright.png", Color.WHITE, "dark.png", Color.BLACK).entrySet()) {
            BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_3BYTE_BGR);
            Graphics2D gr = img.createGraphics();
            gr.setColor(e.getValue());
            gr.fillRect(0, 0, 40, 30);
            gr.dispose();
            ImageIO.write(img, "png", images.resolve(e.getKey()).toFile());
        }
        CliRun r = CliRun.vitfit("predict", "--model", dir.toString(), images.toString(), "--json");
        assertEquals(PredictCommand.SOME_FAILED, r.exit(), r.err());
        assertFalse(r.out().contains("NaN\"") || r.out().contains(":NaN"), "no NaN score printed: " + r.out());
        List<JsonNode> entries = jsonLines(r.out());
        assertEquals(0.5, entries.get(0).path("top").get(0).path("score").asDouble(), 1e-6, "bright: log(1) = 0");
        JsonNode dark = entries.get(1).path("error");
        assertEquals("non_finite_output", dark.path("reason").asText(), entries.get(1).toString());
        assertTrue(dark.path("message").asText().startsWith(images.resolve("dark.png") + ": ")
                && dark.path("message").asText().contains("NaN"), dark.toString());
    }
}
