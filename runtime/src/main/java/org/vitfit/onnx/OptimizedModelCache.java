package org.vitfit.onnx;

import ai.onnxruntime.OrtEnvironment;
import org.vitfit.io.Durable;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HexFormat;
import java.util.Properties;
import java.util.zip.CRC32C;

/**
 * ONNX Runtime's optimised graph of a model, kept on disk in {@code <model dir>/.ort-cache/} so that later sessions
 * skip graph optimisation (fusions, constant folding, layout changes) at start-up.
 *
 * <p>An entry is named by a key over everything that shapes the optimised graph: the model's sha256, the ONNX Runtime
 * version, the optimisation settings and the CPU (its model name and instruction-set flags: ONNX Runtime's level-3
 * layouts are specific to the hardware). A different key is a different file, so a stale entry is never used; the
 * writer removes entries with other keys. Each entry has a sidecar recording its length and CRC-32C, checked before
 * use, so a torn or damaged entry is rebuilt instead of loaded. Entries are written to a temporary name and renamed
 * into place, so readers see whole files only.
 *
 * <p>Hashing a ViT-B model takes about a second, more than the optimisation it saves on small models, so the model's
 * sha256 is remembered in {@code source.properties} with the file's size, modification time and file key, and
 * recomputed only when one of those changed (the way git's index trusts unchanged stat data).
 */
final class OptimizedModelCache {

    static final String DIR = ".ort-cache";
    private static final String SOURCE_STAMP = "source.properties";
    private static final String SUFFIX = ".ort.onnx";

    private final Path model;
    private final Path dir;
    private final String key;

    private OptimizedModelCache(Path model, Path dir, String key) {
        this.model = model;
        this.dir = dir;
        this.key = key;
    }

    /** The cache entry for {@code model} opened with settings {@code settings}; reads or hashes the model. */
    static OptimizedModelCache of(Path model, String settings) throws IOException {
        Path abs = model.toAbsolutePath().normalize();
        Path dir = abs.resolveSibling(DIR);
        String modelSha = modelSha256(abs, dir);
        String text = "model=" + modelSha + "\nort=" + OrtEnvironment.getEnvironment().getVersion()
                + "\nsettings=" + settings + "\ncpu=" + CpuFingerprint.get() + "\n";
        String key = Hashing.sha256(text.getBytes(StandardCharsets.UTF_8)).substring(0, 20);
        return new OptimizedModelCache(abs, dir, key);
    }

    /** Where ONNX Runtime's optimised model lives once {@link #commit} put it there. */
    Path entry() {
        return dir.resolve(stem() + "." + key + SUFFIX);
    }

    /** The entry, when it exists whole and undamaged; otherwise deletes what is there and returns null. */
    Path validEntry() {
        Path entry = entry();
        Path sidecar = sidecar(entry);
        if (!Files.isRegularFile(entry)) {
            return null;
        }
        try {
            Properties p = load(sidecar);
            long length = Long.parseLong(p.getProperty("length", "-1"));
            if (length == Files.size(entry) && Long.toHexString(crc32c(entry)).equals(p.getProperty("crc32c"))) {
                return entry;
            }
        } catch (IOException | NumberFormatException e) {
            // unreadable or missing sidecar: same as damaged
        }
        discard(entry);
        return null;
    }

    /** A fresh temporary path inside the cache directory for ONNX Runtime to write the optimised model to. */
    Path newTemporary() throws IOException {
        Files.createDirectories(dir);
        return dir.resolve(stem() + "." + key + ".tmp-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    }

    /** Moves a finished temporary file into place (sidecar first: an entry without a matching sidecar is invalid). */
    void commit(Path temporary) throws IOException {
        Path entry = entry();
        Properties p = new Properties();
        p.setProperty("length", Long.toString(Files.size(temporary)));
        p.setProperty("crc32c", Long.toHexString(crc32c(temporary)));
        p.setProperty("source", model.toString());
        Durable.fsync(temporary);
        writeAtomically(sidecar(entry), p);
        Durable.moveAtomically(temporary, entry, true);
        Durable.fsyncDirectory(dir);
        removeOtherEntries();
    }

    /** Deletes an entry that ONNX Runtime could not load. */
    void discard(Path entry) {
        try {
            Files.deleteIfExists(entry);
            Files.deleteIfExists(sidecar(entry));
        } catch (IOException ignored) {
            // a read-only directory keeps the bad entry; validEntry() keeps rejecting it and we keep working
        }
    }

    private void removeOtherEntries() {
        String mine = entry().getFileName().toString();
        // A prefix, not a glob: brackets or braces in the model's file name are not patterns.
        String prefix = stem() + ".";
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, p -> p.getFileName().toString().startsWith(prefix))) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                boolean otherEntry = (name.endsWith(SUFFIX) || name.endsWith(SUFFIX + ".properties"))
                        && !name.startsWith(mine);
                boolean oldTemporary = name.contains(".tmp-")
                        && Files.getLastModifiedTime(p).toMillis() < System.currentTimeMillis() - 3_600_000L;
                if (otherEntry || oldTemporary) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException ignored) {
            // leftovers only cost disk space
        }
    }

    private String stem() {
        String name = model.getFileName().toString();
        return name.endsWith(".onnx") ? name.substring(0, name.length() - 5) : name;
    }

    private static Path sidecar(Path entry) {
        return entry.resolveSibling(entry.getFileName() + ".properties");
    }

    /** The model's sha256 through the stat-checked memo ({@link OnnxSessions#modelSha256}). */
    static String modelSha256(Path model) throws IOException {
        Path abs = model.toAbsolutePath().normalize();
        return modelSha256(abs, abs.resolveSibling(DIR));
    }

    private static String modelSha256(Path model, Path dir) throws IOException {
        BasicFileAttributes a = Files.readAttributes(model, BasicFileAttributes.class);
        String stat = model + "|" + a.size() + "|" + a.lastModifiedTime().toMillis() + "|" + a.fileKey();
        Path stamp = dir.resolve(model.getFileName() + "." + SOURCE_STAMP);
        try {
            Properties p = load(stamp);
            if (stat.equals(p.getProperty("stat")) && p.getProperty("sha256", "").length() == 64) {
                return p.getProperty("sha256");
            }
        } catch (IOException e) {
            // no stamp yet
        }
        String sha = Hashing.sha256(model);
        Properties p = new Properties();
        p.setProperty("stat", stat);
        p.setProperty("sha256", sha);
        try {
            Files.createDirectories(dir);
            writeAtomically(stamp, p);
        } catch (IOException e) {
            // read-only model directory: hash again next time
        }
        return sha;
    }

    private static Properties load(Path file) throws IOException {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
        }
        return p;
    }

    private static void writeAtomically(Path file, Properties p) throws IOException {
        Durable.writeAtomically(file, out -> p.store(out, "vitfit ONNX Runtime cache; safe to delete"));
    }

    /** CRC-32C is hardware-accelerated (gigabytes per second): cheap enough to check every entry on every open. */
    static long crc32c(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf.clear()) > 0) {
                crc.update(buf.flip());
            }
        }
        return crc.getValue();
    }

    /** The CPU as far as ONNX Runtime's kernel and layout choices go: model name and feature flags. */
    static final class CpuFingerprint {
        private static final String VALUE = compute();

        static String get() {
            return VALUE;
        }

        private static String compute() {
            StringBuilder sb = new StringBuilder(System.getProperty("os.arch"));
            try {
                for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                    if (line.startsWith("model name") || line.startsWith("flags") || line.startsWith("Features")) {
                        sb.append('|').append(line.trim());
                    }
                    if (line.isBlank()) {
                        break; // the first processor describes them all
                    }
                }
            } catch (IOException | RuntimeException e) {
                // not Linux: the architecture alone still separates the kernels ONNX Runtime picks
            }
            return HexFormat.of().formatHex(Hashing.sha256().digest(sb.toString().getBytes(StandardCharsets.UTF_8)));
        }
    }
}
