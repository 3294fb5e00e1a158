package org.vitfit.bench;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;
import org.vitfit.convert.Precision;
import org.vitfit.onnx.Device;
import org.vitfit.onnx.OnnxSessions;

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
        }
        assertEquals(4, e2e.images(), "every JPEG embedded");
        assertEquals(4, infer.images());

        Path table = tmp.resolve("table.md");
        Files.writeString(table, CompareReport.table(List.of(infer.json(), e2e.json(), "")));
        List<String> lines = Files.readAllLines(table);
        assertTrue(lines.get(0).startsWith("| model | mode | batch"), lines.get(0));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("| vit_tiny_patch16_224 | end-to-end | 2 | 1 | – | – | ")),
                String.join("\n", lines));
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("| vit_tiny_patch16_224 | inference | 2 | 1 | ")),
                String.join("\n", lines));
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
