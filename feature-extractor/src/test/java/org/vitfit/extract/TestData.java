package org.vitfit.extract;

import org.vitfit.convert.Converter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Reference data beside the checkout and the bundled ViT-Tiny, converted once per test JVM. */
final class TestData {

    private static Path model;

    private TestData() {
    }

    static Path shared() {
        return Path.of(System.getProperty("vitfit.shared", "../../shared")).toAbsolutePath().normalize();
    }

    static Path root() {
        return Path.of(System.getProperty("vitfit.root", "..")).toAbsolutePath().normalize();
    }

    /** The converted bundled ViT-Tiny ({@code model.onnx} + {@code vitfit-model.json}). */
    static synchronized Path model() {
        if (model == null) {
            try {
                Path dir = Files.createTempDirectory("vitfit-test-model");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
                Path out = dir.resolve("vit-tiny");
                Converter.convert(root().resolve("models/vit-tiny-patch16-224-augreg"), out);
                model = out;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    static float[] readF32(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    static double cosine(float[] a, int aOff, float[] b, int bOff, int n) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < n; i++) {
            dot += (double) a[aOff + i] * b[bOff + i];
            na += (double) a[aOff + i] * a[aOff + i];
            nb += (double) b[bOff + i] * b[bOff + i];
        }
        return dot / Math.sqrt(na * nb);
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: a temp directory
        }
    }

    /** Copies the first {@code n} images of each of the first {@code classes} pet breeds into {@code to}. */
    static Path petSubset(Path to, int classes, int n) throws IOException {
        Path pets = shared().resolve("datasets/oxford-pets-370");
        try (Stream<Path> breeds = Files.list(pets)) {
            for (Path breed : breeds.sorted().limit(classes).toList()) {
                Path dst = Files.createDirectories(to.resolve(breed.getFileName().toString()));
                try (Stream<Path> imgs = Files.list(breed)) {
                    for (Path img : imgs.sorted().limit(n).toList()) {
                        Files.copy(img, dst.resolve(img.getFileName().toString()));
                    }
                }
            }
        }
        return to;
    }
}
