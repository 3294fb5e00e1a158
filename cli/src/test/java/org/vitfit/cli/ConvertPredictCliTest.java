package org.vitfit.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's main job through the real command line: convert the bundled model, predict the samples. */
class ConvertPredictCliTest {

    @TempDir
    Path tmp;

    @Test
    void convertThenPredictNamesEverySampleLikeTimm() throws IOException {
        Path modelDir = CliRun.root().resolve("models/vit-tiny-patch16-224-augreg");
        Path out = tmp.resolve("vit-tiny");
        CliRun convert = CliRun.vitfit("convert", modelDir.toString(), "--output", out.toString());
        assertEquals(0, convert.exit(), convert.err());
        assertTrue(convert.out().contains("embedding dim 192"), convert.out());

        List<Path> samples;
        try (Stream<Path> s = Files.list(modelDir.resolve("samples"))) {
            samples = s.sorted().toList();
        }
        List<String> args = new ArrayList<>(List.of("predict", "--model", out.toString(), "--json"));
        samples.forEach(p -> args.add(p.toString()));
        CliRun predict = CliRun.vitfit(args.toArray(String[]::new));
        assertEquals(0, predict.exit(), predict.err());

        List<String> classes = Files.readAllLines(modelDir.resolve("imagenet_classes.txt"));
        byte[] raw = Files.readAllBytes(CliRun.shared().resolve("fixtures/timm-golden/imagenet_samples/logits.f32"));
        float[] logits = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(logits);

        ObjectMapper json = new ObjectMapper();
        String[] lines = predict.out().strip().split("\n");
        assertEquals(samples.size(), lines.length);
        for (int i = 0; i < lines.length; i++) {
            JsonNode o = json.readTree(lines[i]);
            assertEquals(samples.get(i).toString(), o.get("path").asText());
            assertEquals(5, o.get("top").size());
            int best = 0;
            for (int c = 1; c < 1000; c++) {
                if (logits[i * 1000 + c] > logits[i * 1000 + best]) {
                    best = c;
                }
            }
            assertEquals(classes.get(best).strip(), o.get("top").get(0).get("label").asText(), samples.get(i).toString());
            assertEquals(best, o.get("top").get(0).get("index").asInt(), "the class index, not only its name");
            double s0 = o.get("top").get(0).get("score").asDouble();
            double s4 = o.get("top").get(4).get("score").asDouble();
            assertTrue(s0 >= s4 && s0 <= 1 && s4 >= 0);
        }
    }

    @Test
    void predictWithoutHeadExplainsWhatToDo() throws IOException {
        Path tinyVit = CliRun.shared().resolve("fixtures/hf-golden/vit");
        Path out = tmp.resolve("hf-vit");
        CliRun convert = CliRun.vitfit("convert", tinyVit.toString(), "--output", out.toString(),
                "--preprocessor-config", tinyVit.resolve("processor_slow/preprocessor_config.json").toString());
        assertEquals(0, convert.exit(), convert.err());
        CliRun predict = CliRun.vitfit("predict", "--model", out.toString(), CliRun.shared().resolve("fixtures/hf-golden/images/img0.png").toString());
        assertEquals(1, predict.exit());
        assertTrue(predict.err().contains("no classification head"), predict.err());
    }

    /** Issue 11 item 1: --overwrite replaces an earlier conversion, never a directory vitfit did not write. */
    @Test
    void overwriteReplacesOnlyAnEarlierConversion() throws IOException {
        Path tinyVit = CliRun.shared().resolve("fixtures/hf-golden/vit");
        String processor = tinyVit.resolve("processor_slow/preprocessor_config.json").toString();
        Path out = tmp.resolve("hf-vit");
        CliRun first = CliRun.vitfit("convert", tinyVit.toString(), "--output", out.toString(),
                "--preprocessor-config", processor);
        assertEquals(0, first.exit(), first.err());
        CliRun again = CliRun.vitfit("convert", tinyVit.toString(), "--output", out.toString(),
                "--preprocessor-config", processor, "--overwrite");
        assertEquals(0, again.exit(), again.err());
        assertTrue(Files.isRegularFile(out.resolve("model.onnx")));

        Path project = Files.createDirectories(tmp.resolve("project/src"));
        Files.writeString(project.resolve("Main.java"), "class Main {}");
        CliRun refused = CliRun.vitfit("convert", tinyVit.toString(), "--output", tmp.resolve("project").toString(),
                "--preprocessor-config", processor, "--overwrite");
        assertEquals(1, refused.exit());
        assertTrue(refused.err().startsWith("error: " + tmp.resolve("project") + " already exists and was not written by "
                + "vitfit as a converted model (it holds src/); refusing to replace or write into it."), refused.err());
        assertEquals("class Main {}", Files.readString(project.resolve("Main.java")));
    }

    @Test
    void calibratedInt8ConvertsAndRecordsTheCalibration() throws IOException {
        Path modelDir = CliRun.root().resolve("models/vit-tiny-patch16-224-augreg");
        Path pets = CliRun.shared().resolve("datasets/oxford-pets-370");
        Path out = tmp.resolve("vit-tiny-int8");
        CliRun convert = CliRun.vitfit("convert", modelDir.toString(), "--precision", "int8", "--calibration",
                pets.toString(), "--calibration-images", "16", "--output", out.toString());
        assertEquals(0, convert.exit(), convert.err());
        assertTrue(convert.err().contains("calibrating int8 on 16 of the 370 images"), convert.err());
        assertTrue(convert.out().contains("int8 static: qkv, proj, fc1, fc2 (activation scales from calibration)"), convert.out());
        JsonNode q = new ObjectMapper().readTree(out.resolve("vitfit-model.json").toFile()).get("quantization");
        assertEquals("static", q.get("mode").asText());
        assertEquals(16, q.get("calibration").get("images").asInt());
        assertEquals(pets.toAbsolutePath().normalize().toString(), q.get("calibration").get("source").asText());
    }

    @Test
    void calibrationOptionsAreNeverIgnored() {
        Path modelDir = CliRun.root().resolve("models/vit-tiny-patch16-224-augreg");
        Path pets = CliRun.shared().resolve("datasets/oxford-pets-370");
        CliRun fp32 = CliRun.vitfit("convert", modelDir.toString(), "--calibration", pets.toString(), "--output",
                tmp.resolve("a").toString());
        assertEquals(1, fp32.exit());
        assertTrue(fp32.err().contains("error: --calibration measures int8 activation scales; it has no use with "
                + "--precision fp32"), fp32.err());
        CliRun few = CliRun.vitfit("convert", modelDir.toString(), "--precision", "int8", "--calibration",
                pets.toString(), "--calibration-images", "4", "--output", tmp.resolve("b").toString());
        assertEquals(1, few.exit());
        assertTrue(few.err().contains("--calibration-images 4 is too few: give at least 16"), few.err());
        CliRun empty = CliRun.vitfit("convert", modelDir.toString(), "--precision", "int8", "--calibration",
                tmp.toString(), "--output", tmp.resolve("c").toString());
        assertEquals(1, empty.exit());
        assertTrue(empty.err().contains("no images in " + tmp), empty.err());
        assertTrue(Files.notExists(tmp.resolve("a")) && Files.notExists(tmp.resolve("b")));
    }

    @Test
    void convertRefusesBadArguments() {
        CliRun r = CliRun.vitfit("convert", "--output", tmp.resolve("x").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("CHECKPOINT_DIR or --hub"), r.err());
        CliRun missing = CliRun.vitfit("convert", tmp.resolve("nope").toString(), "--output", tmp.resolve("y").toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("does not exist"), missing.err());
    }
}
