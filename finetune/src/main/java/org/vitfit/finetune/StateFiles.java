package org.vitfit.finetune;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Named float tensors in one raw little-endian file, in a given order; written to a temporary file, synced,
 * renamed and the directory synced, so a crash leaves either the old file or the new one.
 */
final class StateFiles {

    private StateFiles() {
    }

    static void write(Path file, List<String> order, Map<String, float[]> tensors) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (OutputStream os = Files.newOutputStream(tmp)) {
            for (String name : order) {
                float[] v = tensors.get(name);
                ByteBuffer b = ByteBuffer.allocate(v.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                os.write(b.array());
            }
        }
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        move(tmp, file);
    }

    static Map<String, float[]> read(Path file, List<String> order, Map<String, Integer> sizes) throws IOException {
        long expected = 0;
        for (String name : order) {
            expected += (long) sizes.get(name) * Float.BYTES;
        }
        long actual = Files.size(file);
        if (actual != expected) {
            throw new IOException(file + " holds " + actual + " bytes, the model needs " + expected
                    + "; the checkpoint belongs to another model or is damaged: delete it to start over");
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (String name : order) {
                ByteBuffer b = ByteBuffer.allocate(sizes.get(name) * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
                while (b.hasRemaining()) {
                    if (ch.read(b) < 0) {
                        throw new IOException(file + ": truncated at " + name);
                    }
                }
                b.flip();
                float[] v = new float[sizes.get(name)];
                b.asFloatBuffer().get(v);
                out.put(name, v);
            }
        }
        return out;
    }

    static void writeString(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        move(tmp, file);
    }

    private static void move(Path tmp, Path file) throws IOException {
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
        // The rename is only durable once the directory entry is on disk; the caller deletes older files next.
        FileChannel dir;
        try {
            dir = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ);
        } catch (IOException e) {
            return; // a platform that cannot open a directory (Windows) has no directory fsync either
        }
        try (dir) {
            dir.force(true);
        }
    }
}
