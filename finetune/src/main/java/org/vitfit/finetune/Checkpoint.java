package org.vitfit.finetune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.io.Durable;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The resumable state of a run, in {@code <output>.finetune-state/} (a vitfit {@link OutputKind#FINETUNE_STATE}
 * directory):
 * <ul>
 *   <li>{@code state.json}: format, settings-and-data fingerprint, epochs done, optimiser steps, best epoch and its
 *       validation loss, per-epoch history, and the names of the two weight files;</li>
 *   <li>{@code current-E.bin}: the flat trainable parameters and both AdamW moments after epoch E;</li>
 *   <li>{@code best-E.bin}: the parameters of the best epoch E;</li>
 *   <li>{@code prefix-cache/}: the frozen layers' outputs ({@link PrefixCache}), when there is a frozen prefix and no
 *       augmentation;</li>
 *   <li>{@code run.lock}: an OS lock held by the one run using this state (released by the OS if it dies).</li>
 * </ul>
 * A weight file is {@value #MAGIC} (8 bytes), format version, epoch, sections (1 or 3) and floats per section
 * (little-endian int32, int32, int32, int64), the sections as little-endian float32, then the sha256 of everything
 * before it (32 bytes). Each file is written to a temporary sibling, fsynced and renamed; {@code state.json} is
 * replaced last and names the files it belongs to, so a crash at any point leaves a state whose files match it.
 * Reading checks the magic, the sizes the model needs, the epoch and the checksum, and refuses any difference.
 */
final class Checkpoint implements AutoCloseable {

    static final String STATE = "state.json";
    static final String FORMAT = "vitfit-finetune-state";
    static final int FORMAT_VERSION = 2;
    static final String MAGIC = "VFTCKPT1";
    static final String PREFIX_CACHE = "prefix-cache";
    private static final String LOCK = "run.lock";
    private static final int HEADER = 8 + 4 + 4 + 4 + 8;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What state.json records. */
    record State(String fingerprint, int epochsDone, long steps, int bestEpoch, double bestValLoss,
                 List<EpochRecord> history) {
    }

    private final Path dir;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private Checkpoint(Path dir, FileChannel lockChannel, FileLock lock) {
        this.dir = dir;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /**
     * Opens (creating it when missing) the state directory and takes its run lock.
     *
     * @param inputs the command's inputs: the state must not be, contain or lie inside one
     */
    static Checkpoint open(Path dir, List<SafeOutput.Input> inputs) throws IOException {
        SafeOutput.openInPlace(dir, OutputKind.FINETUNE_STATE, Checkpoint::isEarlierState, inputs);
        FileChannel ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null;
        }
        if (l == null) {
            ch.close();
            throw new IOException("another vitfit finetune is running with the checkpoint " + dir + " (it holds "
                    + dir.resolve(LOCK) + "); wait for it to finish, or choose another --output");
        }
        return new Checkpoint(dir, ch, l);
    }

    /** A state directory an earlier vitfit wrote before outputs carried markers: state.json with a fingerprint. */
    static boolean isEarlierState(Path dir) throws IOException {
        Path f = dir.resolve(STATE);
        if (!Files.isRegularFile(f) || Files.size(f) > 16 << 20) {
            return false;
        }
        try {
            return JSON.readTree(f.toFile()).has("fingerprint");
        } catch (IOException e) {
            return false;
        }
    }

    Path directory() {
        return dir;
    }

    Path prefixCache() {
        return dir.resolve(PREFIX_CACHE);
    }

    /** The recorded state, or null when the run starts fresh; refuses another run's state. */
    State read(String fingerprint) throws IOException {
        Path f = dir.resolve(STATE);
        if (!Files.exists(f)) {
            return null;
        }
        JsonNode s;
        try {
            s = JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new IOException(f + " cannot be read (" + e.getMessage() + "); the checkpoint is damaged: delete "
                    + dir + " to start over", e);
        }
        if (!FORMAT.equals(s.path("format").asText()) || s.path("formatVersion").asInt() != FORMAT_VERSION) {
            throw new IOException(dir + " was written by another vitfit version (format " + s.path("format").asText("?")
                    + " " + s.path("formatVersion").asText("?") + ", expected " + FORMAT + " " + FORMAT_VERSION
                    + "); delete it to start over");
        }
        if (!fingerprint.equals(s.path("fingerprint").asText())) {
            throw new IllegalArgumentException(dir + " holds a run with other settings, model or data (images added, "
                    + "removed, relabelled or changed); re-run with the same settings and data to resume it, or "
                    + "delete it to start over");
        }
        List<EpochRecord> history = new ArrayList<>();
        for (JsonNode e : s.path("history")) {
            history.add(JSON.treeToValue(e, EpochRecord.class));
        }
        return new State(fingerprint, s.path("epochsDone").asInt(), s.path("steps").asLong(),
                s.path("bestEpoch").asInt(), s.path("bestValLoss").asDouble(), history);
    }

    /**
     * Records epoch {@code state.epochsDone()}: the current weights and moments, the best weights when this epoch is
     * the best, then state.json, then removes the weight files it no longer names.
     */
    void write(State state, FloatBuffer params, FloatBuffer m, FloatBuffer v) throws IOException {
        int epoch = state.epochsDone();
        if (state.bestEpoch() == epoch) {
            writeWeights(dir.resolve(bestFile(epoch)), epoch, params);
        }
        writeWeights(dir.resolve(currentFile(epoch)), epoch, params, m, v);
        ObjectNode s = JSON.createObjectNode();
        s.put("format", FORMAT);
        s.put("formatVersion", FORMAT_VERSION);
        s.put("fingerprint", state.fingerprint());
        s.put("epochsDone", epoch);
        s.put("steps", state.steps());
        s.put("bestEpoch", state.bestEpoch());
        s.put("bestValLoss", state.bestValLoss());
        s.put("current", currentFile(epoch));
        s.put("best", bestFile(state.bestEpoch()));
        ArrayNode h = s.putArray("history");
        state.history().forEach(e -> h.add(JSON.valueToTree(e)));
        Durable.writeAtomically(dir.resolve(STATE), JSON.writeValueAsBytes(s));
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.endsWith(".bin") && !name.equals(currentFile(epoch))
                        && !name.equals(bestFile(state.bestEpoch()))) {
                    Files.delete(f);
                }
            }
        }
    }

    /** Parameters, first and second moments after epoch {@code epoch}, each of {@code floats} values. */
    float[][] readCurrent(int epoch, int floats) throws IOException {
        return readWeights(dir.resolve(currentFile(epoch)), epoch, 3, floats);
    }

    float[] readBest(int epoch, int floats) throws IOException {
        return readWeights(dir.resolve(bestFile(epoch)), epoch, 1, floats)[0];
    }

    static String currentFile(int epoch) {
        return "current-" + epoch + ".bin";
    }

    static String bestFile(int epoch) {
        return "best-" + epoch + ".bin";
    }

    static void writeWeights(Path file, int epoch, FloatBuffer... sections) throws IOException {
        long floats = sections[0].remaining();
        Durable.writeAtomically(file, out -> {
            MessageDigest md = Hashing.sha256();
            ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
            header.put(MAGIC.getBytes(StandardCharsets.US_ASCII)).putInt(1).putInt(epoch).putInt(sections.length)
                    .putLong(floats);
            write(out, md, header.array(), HEADER);
            byte[] chunk = new byte[1 << 20];
            ByteBuffer view = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
            for (FloatBuffer section : sections) {
                if (section.remaining() != floats) {
                    throw new IllegalArgumentException("checkpoint sections differ in size");
                }
                FloatBuffer src = section.duplicate();
                while (src.hasRemaining()) {
                    int n = Math.min(src.remaining(), chunk.length / Float.BYTES);
                    view.clear();
                    for (int i = 0; i < n; i++) {
                        view.putFloat(src.get());
                    }
                    write(out, md, chunk, n * Float.BYTES);
                }
            }
            out.write(md.digest());
        });
    }

    private static void write(OutputStream out, MessageDigest md, byte[] b, int len) throws IOException {
        md.update(b, 0, len);
        out.write(b, 0, len);
    }

    static float[][] readWeights(Path file, int epoch, int sections, int floats) throws IOException {
        long expected = HEADER + (long) sections * floats * Float.BYTES + 32;
        long actual = Files.size(file);
        if (actual != expected) {
            throw new IOException(file + " holds " + actual + " bytes, this model's checkpoint needs " + expected
                    + "; it belongs to another model or is damaged: delete " + file.getParent() + " to start over");
        }
        byte[] all = Files.readAllBytes(file);
        MessageDigest md = Hashing.sha256();
        md.update(all, 0, all.length - 32);
        if (!Arrays.equals(md.digest(), Arrays.copyOfRange(all, all.length - 32, all.length))) {
            throw new IOException(file + ": checksum mismatch, the file was altered or damaged after it was written; "
                    + "delete " + file.getParent() + " to start over");
        }
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[8];
        b.get(magic);
        int version = b.getInt();
        int fileEpoch = b.getInt();
        int fileSections = b.getInt();
        long fileFloats = b.getLong();
        if (!MAGIC.equals(new String(magic, StandardCharsets.US_ASCII)) || version != 1 || fileEpoch != epoch
                || fileSections != sections || fileFloats != floats) {
            throw new IOException(file + " is not the checkpoint state.json names (epoch " + fileEpoch + ", "
                    + fileSections + " x " + fileFloats + " values; expected epoch " + epoch + ", " + sections + " x "
                    + floats + "); delete " + file.getParent() + " to start over");
        }
        float[][] out = new float[sections][floats];
        FloatBuffer fb = b.asFloatBuffer();
        for (float[] section : out) {
            fb.get(section);
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            lockChannel.close();
        }
    }
}
