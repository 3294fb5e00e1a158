package org.vitfit.preprocess;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths and readers for the read-only reference data in {@code shared/}. */
final class Fixtures {

    static final ObjectMapper JSON = new ObjectMapper();

    private Fixtures() {
    }

    /** The shared data folder: surefire's {@code vitfit.shared}, else {@code ../shared} beside the checkout. */
    static Path shared() {
        String configured = System.getProperty("vitfit.shared");
        Path dir = configured != null ? Path.of(configured)
                : Path.of(System.getProperty("vitfit.root", "..")).resolve("../shared");
        if (!Files.isDirectory(dir.resolve("fixtures"))) {
            throw new IllegalStateException("reference data not found at " + dir.toAbsolutePath()
                    + "; put the shared/ folder beside the checkout or pass -Dvitfit.shared=<path>");
        }
        return dir;
    }

    static JsonNode json(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A raw little-endian float32 file. */
    static float[] f32(Path file) {
        try {
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[bytes.remaining() / 4];
            bytes.asFloatBuffer().get(out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
