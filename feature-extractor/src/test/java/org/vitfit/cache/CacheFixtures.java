package org.vitfit.cache;

import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/** Synthetic identities, rows and vectors for cache tests that do not need a model. */
final class CacheFixtures {

    static final int DIM = 12;
    static final String SHA_A = "a".repeat(64);
    static final String SHA_B = "b".repeat(64);

    private CacheFixtures() {
    }

    static PreprocessRecipe recipe() {
        return new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255,
                List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false);
    }

    static CacheIdentity identity(VectorDtype dtype) {
        return new CacheIdentity(SHA_A, "test-model", recipe(), DIM, dtype);
    }

    /** A deterministic vector per name, so tests can recompute what they wrote. */
    static float[] vector(String name) {
        Random r = new Random(name.hashCode());
        float[] v = new float[DIM];
        for (int i = 0; i < DIM; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    static String sha(String name) {
        return org.vitfit.runtime.Hashing.sha256(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static RowMeta meta(String name, String... labels) {
        return new RowMeta(name, sha(name), name.length(), List.of(labels), name.startsWith("val") ? "val" : "train");
    }

    /** Writes {@code names} with their vectors and commits. */
    static void write(Path dir, VectorDtype dtype, String... names) throws IOException {
        try (CacheWriter w = CacheWriter.open(dir, identity(dtype))) {
            for (String n : names) {
                w.append(meta(n, "label-" + n.charAt(0)), vector(n), 0);
            }
        }
    }

    static Path onlyFile(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> matches = s.filter(p -> p.getFileName().toString().startsWith(prefix)).toList();
            if (matches.size() != 1) {
                throw new AssertionError("expected one " + prefix + "* file in " + dir + ", found " + matches);
            }
            return matches.get(0);
        }
    }

    /** A copy of the directory as it is on disk now: what a machine that crashed at this moment would find. */
    static Path snapshot(Path dir, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
        return to;
    }

    static void flipByte(Path file, long offset) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[(int) offset] ^= 0x04;
        Files.write(file, b);
    }
}
