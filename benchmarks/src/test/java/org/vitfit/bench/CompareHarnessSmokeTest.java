package org.vitfit.bench;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Precision;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CI smoke run of the comparison benchmark's vitfit side (PyTorch is not installed in CI): the harness measures
 * inference and end-to-end throughput of the int8 ViT-Tiny on 4 real JPEGs with one repetition, and the report
 * turns the results into the table. Keeps {@code benchmarks/compare/run.sh} from rotting in a few seconds.
 */
class CompareHarnessSmokeTest {

    @TempDir
    static Path tmp;
    static Path model;
    static Path images;

    @BeforeAll
    static void setUp() throws Exception {
        Path root = Path.of(System.getProperty("vitfit.root"));
        Path shared = Path.of(System.getProperty("vitfit.shared"));
        model = tmp.resolve("vit-tiny-int8");
        Converter.convert(root.resolve("models/vit-tiny-patch16-224-augreg"), model,
                new Converter.Options(null, false, null, Precision.INT8));
        images = Files.createDirectories(tmp.resolve("images"));
        try (Stream<Path> s = Files.walk(shared.resolve("datasets/oxford-pets-370"))) {
            for (Path p : s.filter(f -> f.toString().endsWith(".jpg")).sorted().limit(4).toList()) {
                Files.copy(p, images.resolve(p.getFileName().toString()));
            }
        }
    }

    @Test
    void harnessMeasuresAndReportWritesTheTable() throws Exception {
        CompareHarness.Result infer = CompareHarness.inference(model, Device.CPU, 2, 1, 1, 4);
        CompareHarness.Result e2e = CompareHarness.endToEnd(model, images, Device.CPU, 2, 1, 1);
        for (CompareHarness.Result r : List.of(infer, e2e)) {
            assertTrue(r.median() > 0 && Double.isFinite(r.median()), r.json());
            assertEquals("int8", r.precision());
            assertEquals("cpu", r.device());
            assertEquals("dynamic", r.quantization());
            // ViT-Tiny: 2 x (patch projection + 12 x (qkv, proj, fc1, fc2, q kT, probs v)) = 2.507 GFLOP per image.
            assertEquals(2.507, r.gflop(), 0.001);
        }
        assertEquals(4, e2e.images(), "every JPEG embedded");
        assertEquals(4, infer.images());

        // A peak line and a peer line as the script writes them, so ratios and fractions of peak have something to use.
        String peak = "{\"impl\":\"peak\",\"precision\":\"int8\",\"kernel\":\"k\",\"threads\":1,\"size\":64,"
                + "\"gflops\":1000.0,\"reps\":[1000.0]}";
        String peer = String.format(java.util.Locale.ROOT, "{\"impl\":\"pytorch\",\"mode\":\"infer\","
                + "\"model\":\"vit_tiny_patch16_224\",\"precision\":\"int8\",\"device\":\"cpu\",\"batch\":2,"
                + "\"threads\":1,\"images\":4,\"median\":%.4f,\"reps\":[%.4f]}", infer.median() / 2, infer.median() / 2);
        String fp32 = infer.json().replace("\"precision\":\"int8\"", "\"precision\":\"fp32\"")
                .replace(",\"quantization\":\"dynamic\"", "")
                .replaceFirst("\"median\":[0-9.]+", String.format(java.util.Locale.ROOT, "\"median\":%.4f", infer.median() * 2));
        String parity = "{\"impl\": \"parity\", \"peer\": \"torch int8\", \"worst_cosine\": 0.99, \"ok\": true}";
        List<String> lines = List.of(CompareReport.table(List.of(peak, infer.json(), e2e.json(), peer, fp32, parity, ""))
                .split("\n"));
        String all = String.join("\n", lines);
        String row = lines.stream().filter(l -> l.startsWith("| vit_tiny_patch16_224 | 2 | 1 | vitfit int8, dynamic |"))
                .findFirst().orElseThrow(() -> new AssertionError(all));
        String[] cells = row.split("\\|");
        double gflops = Double.parseDouble(cells[6].trim());
        assertEquals(infer.median() * infer.gflop(), gflops, Math.max(0.01, gflops * 0.01), row);
        assertEquals(String.format(java.util.Locale.ROOT, "%.0f%%", 100 * infer.median() * infer.gflop() / 1000),
                cells[7].trim(), row);
        // Ratios of medians: int8 dynamic is half the (made-up) fp32 row; the PyTorch row is half of vitfit int8, but
        // "calibrated / best PyTorch int8" has no calibrated row here; no DJL row, so no fp32 / DJL ratio.
        assertTrue(all.contains("| vit_tiny_patch16_224 | 2 | inference | – | – | – | 0.50x | – |"), all);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("| vit_tiny_patch16_224 | 2 | 1 | PyTorch 1.13 int8")), all);

        ByteArrayOutputStream embeddings = new ByteArrayOutputStream();
        CompareHarness.embed(model, images, embeddings);
        float[] e = new float[embeddings.size() / 4];
        ByteBuffer.wrap(embeddings.toByteArray()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(e);
        assertEquals(4 * 192, e.length, "4 images x 192");
        for (float v : e) {
            assertTrue(Float.isFinite(v));
        }
    }

    /** Rounds of one implementation are pooled: the row's median is over every repetition of every round. */
    @Test
    void roundsArePooledIntoOneRow() throws Exception {
        String round = "{\"impl\":\"djl-pytorch\",\"mode\":\"infer\",\"model\":\"m\",\"precision\":\"fp32\","
                + "\"device\":\"cpu\",\"batch\":8,\"threads\":2,\"images\":16,\"median\":%s,\"reps\":%s}";
        String table = CompareReport.table(List.of(String.format(round, "10.0", "[10.0]"),
                String.format(round, "40.0", "[40.0, 40.0]"), String.format(round, "20.0", "[20.0]")));
        // Pooled reps 10, 40, 40, 20: median 30, range 10-40; the last round alone would have said 20.
        assertTrue(table.contains("| m | 8 | 2 | DJL 0.36 + PyTorch 2.7.1 fp32 (TorchScript) | 30.0 (10.0-40.0) |"), table);
    }

    /** The operator profile accounts for all kernel time, and names the fused int8 kernel ONNX Runtime ran. */
    @Test
    void operatorProfileSumsToTheKernelTime() throws Exception {
        com.fasterxml.jackson.databind.node.ObjectNode p = OperatorProfile.profile(model.resolve("model.onnx"), 1, 1, 2);
        double shares = 0;
        double ms = 0;
        for (var e : p.get("ops").properties()) {
            shares += e.getValue().get("share").asDouble();
            ms += e.getValue().get("msPerRun").asDouble();
        }
        assertEquals(1.0, shares, 0.01, p.toString());
        assertEquals(p.get("kernelMsPerRun").asDouble(), ms, 0.01 * ms + 0.01, p.toString());
        // Dynamic int8: 12 blocks x (qkv, proj, fc1) + the head, each one DynamicQuantizeMatMul.
        assertTrue(p.get("ops").has("DynamicQuantizeMatMul"), p.toString());
        assertTrue(p.get("ops").get("DynamicQuantizeMatMul").get("share").asDouble() > 0.05, p.toString());
        assertEquals(3, p.get("runs").asInt(), "the warm-up run and the two measured ones");

        List<com.fasterxml.jackson.databind.node.ObjectNode> ab = OperatorProfile.ab(
                List.of(model.resolve("model.onnx"), model.resolve("model.onnx")), 1, 1, 2);
        assertEquals(2, ab.size());
        assertEquals(1.0, ab.get(0).get("speedupOverFirst").asDouble(), 1e-9);
        assertTrue(ab.get(1).get("msPerBatch").asDouble() > 0, ab.toString());
    }

    /** An end-to-end row names the device the extractor ran on: a CUDA request that fell back says cpu. */
    @Test
    void endToEndRowNamesTheDeviceActuallyUsed() throws Exception {
        try (OnnxSessions.Opened s = OnnxSessions.open(model.resolve("model.onnx"), new Device(Device.Kind.CUDA, 0), 1)) {
            Assumptions.assumeTrue(s.device().kind() == Device.Kind.CPU, "a CUDA session opened here");
        }
        CompareHarness.Result r = CompareHarness.endToEnd(model, images, new Device(Device.Kind.CUDA, 0), 2, 1, 1);
        assertEquals("cpu", r.device(), r.json());
    }

    /** The GPU path: runs only where the gpu profile and a CUDA 12 + cuDNN 9 machine give a CUDA session. */
    @Test
    void cudaInferenceWhenAvailable() throws Exception {
        try (OnnxSessions.Opened s = OnnxSessions.open(model.resolve("model.onnx"), new Device(Device.Kind.CUDA, 0), 1)) {
            Assumptions.assumeTrue(s.device().kind() == Device.Kind.CUDA, "no CUDA execution provider here");
        }
        CompareHarness.Result r = CompareHarness.inference(model, new Device(Device.Kind.CUDA, 0), 2, 1, 1, 4);
        assertEquals("cuda:0", r.device());
        assertTrue(r.median() > 0);
    }
}
