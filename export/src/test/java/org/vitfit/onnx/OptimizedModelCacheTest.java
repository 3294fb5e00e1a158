package org.vitfit.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.convert.Converter;

import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The on-disk cache of ONNX Runtime's optimised graph (lives here, not in runtime, because it needs a converted
 * model): reused when valid, rebuilt when damaged, replaced when the model or the settings change, and never
 * changing what the model computes.
 */
class OptimizedModelCacheTest {

    @TempDir
    static Path tmp;
    static Path model;
    static float[] pixels = new float[2 * 3 * 224 * 224];

    @BeforeAll
    static void convert() throws Exception {
        Path dir = tmp.resolve("vit-tiny");
        Converter.convert(Path.of(System.getProperty("vitfit.root")).resolve("models/vit-tiny-patch16-224-augreg"), dir);
        model = dir.resolve("model.onnx");
        Random r = new Random(7);
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) r.nextGaussian();
        }
    }

    @BeforeEach
    void emptyCache() throws Exception {
        Path dir = model.resolveSibling(OptimizedModelCache.DIR);
        if (Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    @Test
    void secondOpenLoadsTheCachedGraphAndComputesTheSame() throws Exception {
        OnnxSessions.Tuning on = OnnxSessions.Tuning.defaults(1).withOptimizedModelCache(true);
        float[] plain = embed(OnnxSessions.open(model, Device.CPU, on.withOptimizedModelCache(false)));
        assertEquals(List.of(), entries(), "no cache without asking for one");

        float[] first = embed(OnnxSessions.open(model, Device.CPU, on));
        List<Path> written = entries();
        assertEquals(1, written.size(), "one entry after the first open: " + written);
        long stamp = Files.getLastModifiedTime(written.get(0)).toMillis();
        Thread.sleep(20);
        float[] second = embed(OnnxSessions.open(model, Device.CPU, on));
        assertEquals(written, entries());
        assertEquals(stamp, Files.getLastModifiedTime(written.get(0)).toMillis(), "a valid entry is read, not rewritten");
        assertArrayEquals(plain, first, 1e-5f);
        assertArrayEquals(plain, second, 1e-5f);
    }

    @Test
    void damagedEntryIsRebuiltAndOtherSettingsGetTheirOwn() throws Exception {
        OnnxSessions.Tuning on = OnnxSessions.Tuning.defaults(1).withOptimizedModelCache(true);
        float[] reference = embed(OnnxSessions.open(model, Device.CPU, on));
        Path entry = OptimizedModelCache.of(model, on.graphSettings()).entry();
        assertTrue(Files.isRegularFile(entry));
        // A flipped byte in the middle (weights: ONNX Runtime would load it and compute garbage) and a torn tail.
        try (FileChannel ch = FileChannel.open(entry, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            long at = ch.size() / 2;
            ch.read(b, at);
            b.put(0, (byte) ~b.get(0)).rewind();
            ch.write(b, at);
        }
        assertArrayEquals(reference, embed(OnnxSessions.open(model, Device.CPU, on)), 1e-5f);
        assertNotNull(OptimizedModelCache.of(model, on.graphSettings()).validEntry(), "rebuilt whole");
        try (FileChannel ch = FileChannel.open(entry, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 3);
        }
        assertArrayEquals(reference, embed(OnnxSessions.open(model, Device.CPU, on)), 1e-5f);
        assertNotNull(OptimizedModelCache.of(model, on.graphSettings()).validEntry(), "rebuilt after truncation");

        // A setting that changes what the optimiser does (QDQ fusions off) gets an entry of its own.
        OnnxSessions.Tuning other = on.withConfig(Map.of("session.enable_quant_qdq", "0"));
        assertNotEquals(entry, OptimizedModelCache.of(model, other.graphSettings()).entry());
        assertArrayEquals(reference, embed(OnnxSessions.open(model, Device.CPU, other)), 1e-5f);
        assertEquals(1, entries().size(), "the entry for other settings replaced the old one: " + entries());
    }

    /**
     * extract (spinning off) and predict (spinning on) open the same model: thread settings do not change the
     * optimised graph, so they share one entry and neither rebuilds (and fsyncs) it for the other.
     */
    @Test
    void threadSettingsShareOneEntry() throws Exception {
        OnnxSessions.Tuning predict = OnnxSessions.Tuning.defaults(1).withOptimizedModelCache(true);
        OnnxSessions.Tuning extract = OnnxSessions.Tuning.defaults(2).withOptimizedModelCache(true)
                .withConfig(Map.of("session.intra_op.allow_spinning", "0", "session.inter_op.allow_spinning", "0"));
        assertEquals(OptimizedModelCache.of(model, predict.graphSettings()).entry(),
                OptimizedModelCache.of(model, extract.graphSettings()).entry());
        float[] first = embed(OnnxSessions.open(model, Device.CPU, predict));
        List<Path> written = entries();
        assertEquals(1, written.size(), "one entry: " + written);
        long stamp = Files.getLastModifiedTime(written.get(0)).toMillis();
        Thread.sleep(20);
        float[] second = embed(OnnxSessions.open(model, Device.CPU, extract));
        embed(OnnxSessions.open(model, Device.CPU, predict));
        assertEquals(written, entries());
        assertEquals(stamp, Files.getLastModifiedTime(written.get(0)).toMillis(), "the entry was not rewritten");
        assertArrayEquals(first, second, 1e-5f);
    }

    private static float[] embed(OnnxSessions.Opened opened) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (opened;
             OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), new long[] {2, 3, 224, 224});
             OrtSession.Result r = opened.session().run(Map.of("pixel_values", t))) {
            FloatBuffer fb = ((OnnxTensor) r.get("embedding").orElseThrow()).getFloatBuffer();
            float[] out = new float[fb.remaining()];
            fb.get(out);
            return out;
        }
    }

    private static List<Path> entries() throws Exception {
        Path dir = model.resolveSibling(OptimizedModelCache.DIR);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".ort.onnx")).sorted().toList();
        }
    }
}
