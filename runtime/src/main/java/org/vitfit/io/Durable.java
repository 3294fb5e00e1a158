package org.vitfit.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Locale;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The one place vitfit makes writes durable: fsync of files and directories, and small files replaced atomically
 * (write a temporary sibling, fsync it, rename it over the target, fsync the directory). Every writer goes through
 * here so they all behave the same when the disk is full or a directory cannot be synced.
 *
 * <p>Directory fsync policy (as Lucene's {@code IOUtils.fsync}): on Windows a directory cannot be opened and the
 * call is skipped; everywhere else a failure is an error, because a rename that is not on disk can be lost on power
 * failure and the caller would then report a write that did not happen.
 */
public final class Durable {

    private static final boolean WINDOWS =
            System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");

    /** Writes the content of a file (the stream is closed by the caller of the writer, not by it). */
    @FunctionalInterface
    public interface StreamWriter {
        void write(OutputStream out) throws IOException;
    }

    private Durable() {
    }

    public static void fsync(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    /** Makes new entries and renames in {@code dir} durable. */
    public static void fsyncDirectory(Path dir) throws IOException {
        if (WINDOWS) {
            return;
        }
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            throw new IOException("could not sync directory " + dir + " to disk: " + e.getMessage(), e);
        }
    }

    /** Fsyncs every file and directory below (and including) {@code dir}, deepest first. */
    public static void fsyncTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                if (Files.isRegularFile(p)) {
                    fsync(p);
                } else if (Files.isDirectory(p)) {
                    fsyncDirectory(p);
                }
            }
        }
    }

    /** Replaces {@code file} with {@code bytes} atomically: readers see the old content or the new, never a mix. */
    public static void writeAtomically(Path file, byte[] bytes) throws IOException {
        writeAtomically(file, out -> out.write(bytes));
    }

    /** Replaces {@code file} with what {@code writer} writes, atomically and durably. */
    public static void writeAtomically(Path file, StreamWriter writer) throws IOException {
        Path abs = file.toAbsolutePath().normalize();
        Path dir = abs.getParent();
        Path tmp = temporarySibling(abs, "tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                writer.write(out);
            }
            fsync(tmp);
            moveAtomically(tmp, abs, true);
            fsyncDirectory(dir);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw withPath(e, abs);
        } catch (RuntimeException | Error e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /**
     * Renames {@code from} to {@code to} in one step where the file system can, falling back to a plain move only
     * where it cannot (a move across file systems is then a copy, which the caller's fsync makes durable).
     */
    public static void moveAtomically(Path from, Path to, boolean replaceExisting) throws IOException {
        try {
            if (replaceExisting) {
                Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (AtomicMoveNotSupportedException e) {
            if (replaceExisting) {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.move(from, to);
            }
        }
    }

    /** A fresh hidden name beside {@code target}: {@code .NAME.vitfit-ROLE-XXXXXXXX}. */
    public static Path temporarySibling(Path target, String role) {
        Path abs = target.toAbsolutePath().normalize();
        String tag = UUID.randomUUID().toString().substring(0, 8);
        return abs.resolveSibling("." + abs.getFileName() + ".vitfit-" + role + "-" + tag);
    }

    /**
     * Deletes a tree that vitfit itself created (a temporary sibling, a replaced output already checked to be
     * vitfit's). Never call it on a path a user named without checking ownership first: see {@link SafeOutput}.
     */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.delete(dir);
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /**
     * Adds the path to an I/O error that lacks it ("No space left on device" alone does not say where), so every
     * message a user sees names the file.
     */
    public static IOException withPath(IOException e, Path path) {
        if (e instanceof OutputRefusedException
                || (e.getMessage() != null && e.getMessage().contains(path.toString()))) {
            return e;
        }
        return new IOException("writing " + path + ": " + describe(e), e);
    }

    /** An I/O error as a user reads it: the JDK's bare file-system messages name neither cause nor remedy. */
    public static String describe(IOException e) {
        String m = e.getMessage();
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory: " + m;
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied: " + m;
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException) {
            return "already exists: " + m;
        }
        if (e instanceof java.nio.file.NotDirectoryException) {
            return "not a directory: " + m;
        }
        if (e instanceof java.nio.file.DirectoryNotEmptyException) {
            return "directory not empty: " + m;
        }
        if (m == null) {
            return e.getClass().getSimpleName();
        }
        if (m.contains("No space left on device")) {
            return m + " (free some space on that disk, or write somewhere else)";
        }
        return m;
    }
}
