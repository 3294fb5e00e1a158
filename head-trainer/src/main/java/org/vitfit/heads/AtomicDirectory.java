package org.vitfit.heads;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Writes a directory all at once: the content goes into a hidden sibling first and is renamed into place only when
 * complete, so a failed step or a crashed process never leaves a half-written directory under the target name.
 * Limits: replacing an existing directory takes two renames (old one aside, new one in), so a crash between them
 * leaves no target, the old content in {@code .NAME.old-*} and the new in {@code .NAME.tmp-*}. The files and the
 * temporary directory are fsynced before the rename and the parent after it, so a power loss cannot leave empty
 * files under the target name.
 */
public final class AtomicDirectory {

    /** Fills a fresh, empty directory. */
    @FunctionalInterface
    public interface Writer {
        void write(Path dir) throws IOException;
    }

    private AtomicDirectory() {
    }

    /**
     * Writes {@code target} with {@code writer}.
     *
     * @param overwrite replace an existing non-empty {@code target}; without it such a target is an error
     */
    public static void write(Path target, boolean overwrite, Writer writer) throws IOException {
        Path abs = target.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        if (parent == null) {
            throw new IOException("cannot write a directory at the file-system root: " + target);
        }
        boolean exists = Files.exists(abs);
        if (exists && !Files.isDirectory(abs)) {
            throw new FileAlreadyExistsException(target.toString(), null, "exists and is not a directory");
        }
        boolean nonEmpty = exists && !isEmpty(abs);
        if (nonEmpty && !overwrite) {
            throw new FileAlreadyExistsException(target.toString(), null,
                    "already exists and is not empty; choose another output directory or allow overwriting");
        }
        Files.createDirectories(parent);
        String tag = UUID.randomUUID().toString().substring(0, 8);
        Path tmp = parent.resolve("." + abs.getFileName() + ".tmp-" + tag);
        Files.createDirectory(tmp);
        try {
            writer.write(tmp);
            fsyncTree(tmp);
        } catch (IOException | RuntimeException | Error e) {
            deleteRecursively(tmp);
            throw e;
        }
        Path old = null;
        if (exists) {
            old = parent.resolve("." + abs.getFileName() + ".old-" + tag);
            Files.move(abs, old);
        }
        try {
            move(tmp, abs);
        } catch (IOException e) {
            if (old != null) {
                Files.move(old, abs);
            }
            deleteRecursively(tmp);
            throw e;
        }
        fsyncDirectory(parent);
        if (old != null) {
            deleteRecursively(old);
        }
    }

    private static void fsyncTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                if (Files.isRegularFile(p)) {
                    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
                        ch.force(true);
                    }
                } else {
                    fsyncDirectory(p);
                }
            }
        }
    }

    /** Makes a rename or a new entry durable; some file systems cannot open a directory, which is then skipped. */
    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Not every platform lets a directory be opened for fsync; the rename itself is still atomic.
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException | DirectoryNotEmptyException e) {
            Files.move(from, to);
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
