package org.vitfit.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Writes vitfit's outputs without ever destroying anything that is not vitfit's own, the rule every command
 * follows:
 * <ul>
 *   <li>an output that exists is replaced only with {@code --overwrite}, and only when it carries an
 *       {@link OutputMarker} of the same {@link OutputKind} (an empty directory or an empty file holds nothing to
 *       lose and may be replaced);</li>
 *   <li>an output that is, contains, or lies inside one of the command's inputs is refused;</li>
 *   <li>the new content is written in full to a hidden sibling, fsynced, and only then renamed into place; the old
 *       output is moved aside first and deleted last, so nothing is deleted before the new output is complete.</li>
 * </ul>
 * Every refusal is an {@link OutputRefusedException} whose message names what is there and what to do; it is
 * thrown before anything on disk changes.
 *
 * <p>Replacing a directory takes two renames (old aside, new in). A crash between them leaves the target missing
 * with the old copy at {@code .NAME.vitfit-old-*}; the next write to the same target moves it back first.
 */
public final class SafeOutput {

    /** A path the command reads, named as the user typed the option ({@code --input}, {@code --cache}). */
    public record Input(String option, Path path) {
        public static Input of(String option, Path path) {
            return new Input(option, path);
        }
    }

    /** Fills a fresh directory (or file, for {@link #writeFile}) at a temporary path. */
    @FunctionalInterface
    public interface Writer<T> {
        T write(Path tmp) throws IOException;
    }

    /** Recognises a file of a kind vitfit wrote without a marker beside it (a classifier zip, a CSV header). */
    @FunctionalInterface
    public interface Ownership {
        boolean isOurs(Path existing) throws IOException;
    }

    private static final int LISTED_ENTRIES = 5;
    /** Roles of the temporary siblings ({@link Durable#temporarySibling}): new directory, new file, replaced output. */
    private static final String NEW = "new";
    private static final String TMP = "tmp";
    private static final String OLD = "old";

    private SafeOutput() {
    }

    // ------------------------------------------------------------------------------------------ directories

    /**
     * Checks that {@code out} may be written as a {@code kind} directory, before the command does any work, so a
     * long job is not run only to be refused at the end.
     */
    public static void checkDirectory(Path out, OutputKind kind, boolean overwrite, List<Input> inputs)
            throws OutputRefusedException {
        Path abs = absolute(out);
        checkNotOverlapping(abs, inputs);
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS) && !Files.exists(abs)) {
            checkParent(abs);
            return;
        }
        if (!Files.isDirectory(abs)) {
            throw new OutputRefusedException(abs + " exists and is a file, not a directory; choose another output "
                    + "(vitfit writes " + kind.withArticle() + " as a directory)");
        }
        if (isEmptyDirectory(abs)) {
            checkReplaceable(abs);
            return;
        }
        Optional<OutputMarker> marker = OutputMarker.read(abs);
        if (marker.isEmpty()) {
            throw notOurs(abs, kind);
        }
        if (marker.get().kind() != kind) {
            throw new OutputRefusedException(abs + " is a vitfit " + marker.get().kind().description() + ", not "
                    + kind.withArticle() + "; refusing to replace it. Choose another output.");
        }
        if (!overwrite) {
            throw new OutputRefusedException(abs + " already exists (a vitfit " + kind.description() + " written "
                    + marker.get().created() + "); pass --overwrite to replace it, or choose another output");
        }
        checkReplaceable(abs);
    }

    /**
     * Writes the directory {@code out} with {@code writer}, atomically, replacing an earlier vitfit output of the
     * same kind when {@code overwrite} is set. The writer sees an empty directory that already holds the marker.
     */
    public static <T> T writeDirectory(Path out, OutputKind kind, boolean overwrite, List<Input> inputs,
                                       Writer<T> writer) throws IOException {
        Path abs = absolute(out);
        recoverInterruptedReplace(abs);
        checkDirectory(abs, kind, overwrite, inputs);
        Path parent = abs.getParent();
        Files.createDirectories(parent);
        deleteAbandoned(abs, NEW);
        Path tmp = Durable.temporarySibling(abs, NEW);
        try (Claim claim = Claim.of(tmp, abs)) {
            T result;
            try {
                Files.createDirectory(tmp);
                // The marker goes in first, so a temporary left by a crash is recognisably vitfit's.
                OutputMarker.write(tmp, kind);
                result = writer.write(tmp);
                Durable.fsyncTree(tmp);
                // Checked again: the job may have run for hours and the target may have appeared or changed meanwhile.
                checkDirectory(abs, kind, overwrite, inputs);
                replaceDirectory(tmp, abs);
            } catch (IOException e) {
                Durable.deleteTree(tmp);
                throw Durable.withPath(e, abs);
            } catch (RuntimeException | Error e) {
                Durable.deleteTree(tmp);
                throw e;
            }
            return result;
        }
    }

    /**
     * Opens a directory vitfit updates in place (an embedding cache, a fine-tuning checkpoint): creates it with
     * its marker when missing, adopts an empty directory, or accepts one that is already a {@code kind}. A
     * directory from before markers existed is adopted when {@code legacy} recognises it.
     */
    public static void openInPlace(Path dir, OutputKind kind, Ownership legacy, List<Input> inputs)
            throws IOException {
        Path abs = absolute(dir);
        checkInPlace(abs, kind, legacy, inputs);
        Files.createDirectories(abs);
        if (OutputMarker.read(abs).isEmpty()) {
            OutputMarker.write(abs, kind);
        }
    }

    /** The checks of {@link #openInPlace} alone, for a command that must refuse before it changes anything. */
    public static void checkInPlace(Path dir, OutputKind kind, Ownership legacy, List<Input> inputs)
            throws IOException {
        Path abs = absolute(dir);
        checkNotOverlapping(abs, inputs);
        if (!Files.exists(abs)) {
            checkParent(abs);
            return;
        }
        if (!Files.isDirectory(abs)) {
            throw new OutputRefusedException(abs + " exists and is a file, not a directory; choose another output "
                    + "(vitfit keeps " + kind.withArticle() + " in a directory)");
        }
        Optional<OutputMarker> marker = OutputMarker.read(abs);
        if (marker.isPresent()) {
            if (marker.get().kind() != kind) {
                throw new OutputRefusedException(abs + " is a vitfit " + marker.get().kind().description()
                        + ", not " + kind.withArticle() + "; choose another output");
            }
            requireWritable(abs, abs, "updated");
            return;
        }
        if (isEmptyDirectory(abs) || (legacy != null && legacy.isOurs(abs))) {
            requireWritable(abs, abs, "updated");
            return;
        }
        throw notOurs(abs, kind);
    }

    /** True when {@code dir} carries a marker of {@code kind}: the check before deleting anything inside it. */
    public static boolean isOurs(Path dir, OutputKind kind) {
        return OutputMarker.read(absolute(dir)).map(m -> m.kind() == kind).orElse(false);
    }

    // ------------------------------------------------------------------------------------------ files

    /**
     * Writes the file {@code out} atomically. An existing file is replaced only with {@code overwrite} and only
     * when {@code ours} recognises it as a {@code kind} vitfit wrote (a zero-byte file holds nothing to lose).
     */
    public static <T> T writeFile(Path out, OutputKind kind, Ownership ours, boolean overwrite, List<Input> inputs,
                                  Writer<T> writer) throws IOException {
        Path abs = absolute(out);
        checkFile(abs, kind, ours, overwrite, inputs);
        Files.createDirectories(abs.getParent());
        deleteAbandoned(abs, TMP);
        Path tmp = Durable.temporarySibling(abs, TMP);
        try (Claim claim = Claim.of(tmp, abs)) {
            try {
                T result = writer.write(tmp);
                if (!Files.isRegularFile(tmp)) {
                    throw new IOException("internal error: nothing was written for " + abs);
                }
                Durable.fsync(tmp);
                checkFile(abs, kind, ours, overwrite, inputs);
                Durable.moveAtomically(tmp, abs, true);
                Durable.fsyncDirectory(abs.getParent());
                return result;
            } catch (IOException e) {
                Files.deleteIfExists(tmp);
                throw Durable.withPath(e, abs);
            } catch (RuntimeException | Error e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
        }
    }

    /** The checks of {@link #writeFile} alone, to refuse before a long job. */
    public static void checkFile(Path out, OutputKind kind, Ownership ours, boolean overwrite, List<Input> inputs)
            throws IOException {
        Path abs = absolute(out);
        checkNotOverlapping(abs, inputs);
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            checkParent(abs);
            return;
        }
        if (Files.isDirectory(abs)) {
            throw new OutputRefusedException(abs + " is a directory; vitfit writes " + kind.withArticle()
                    + " as a single file: name a file inside it, or another path");
        }
        if (!Files.isRegularFile(abs)) {
            throw new OutputRefusedException(abs + " exists and is not a regular file; choose another output");
        }
        if (Files.size(abs) == 0) {
            return;
        }
        boolean isOurs;
        try {
            isOurs = ours.isOurs(abs);
        } catch (IOException e) {
            isOurs = false;
        }
        if (!isOurs) {
            throw new OutputRefusedException(abs + " already exists and is not " + kind.withArticle()
                    + " written by vitfit; refusing to replace it. Choose another output, or remove the file "
                    + "yourself if you no longer need it.");
        }
        if (!overwrite) {
            throw new OutputRefusedException(abs + " already exists; pass --overwrite to replace it, or choose "
                    + "another output");
        }
        requireWritable(abs.getParent(), abs, "replaced");
    }

    // ------------------------------------------------------------------------------------------ shared checks

    /**
     * Refuses an output that is, contains, or lies inside an input: writing it could delete the input (or, inside
     * it, be read back as input by the next run).
     */
    public static void checkNotOverlapping(Path out, List<Input> inputs) throws OutputRefusedException {
        Path o = canonical(out);
        for (Input in : inputs) {
            if (in == null || in.path() == null) {
                continue;
            }
            Path i = canonical(in.path());
            if (o.equals(i)) {
                throw new OutputRefusedException("the output " + out + " is also the " + in.option() + " "
                        + in.path() + "; choose an output outside your inputs");
            }
            if (i.startsWith(o)) {
                throw new OutputRefusedException("the output " + out + " contains the " + in.option() + " "
                        + in.path() + "; writing it could delete your input. Choose an output outside your inputs");
            }
            if (o.startsWith(i)) {
                throw new OutputRefusedException("the output " + out + " lies inside the " + in.option() + " "
                        + in.path() + "; choose an output outside your inputs");
            }
        }
    }

    private static void checkParent(Path abs) throws OutputRefusedException {
        for (Path p = abs.getParent(); p != null; p = p.getParent()) {
            if (Files.exists(p)) {
                if (!Files.isDirectory(p)) {
                    throw new OutputRefusedException("cannot create " + abs + ": " + p + " is a file, not a directory");
                }
                requireWritable(p, abs, "created");
                return;
            }
        }
    }

    /**
     * An output is replaced by renames in its parent and the old copy is then deleted: found out only after the work,
     * a read-only folder failed the command after the new output was already in place, leaving the old copy behind.
     */
    private static void checkReplaceable(Path abs) throws OutputRefusedException {
        requireWritable(abs.getParent(), abs, "replaced");
        try (Stream<Path> tree = Files.walk(abs)) {
            for (Path d : tree.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).toList()) {
                requireWritable(d, abs, "replaced");
            }
        } catch (OutputRefusedException e) {
            throw e;
        } catch (IOException | UncheckedIOException e) {
            throw new OutputRefusedException(abs + " cannot be replaced: its contents cannot be listed ("
                    + e.getMessage() + "); choose another output");
        }
    }

    private static void requireWritable(Path dir, Path out, String what) throws OutputRefusedException {
        if (!Files.isWritable(dir)) {
            throw new OutputRefusedException(out + " cannot be " + what + ": " + dir + " is not writable (permission "
                    + "denied); make it writable, or choose another output");
        }
    }

    private static OutputRefusedException notOurs(Path abs, OutputKind kind) {
        return new OutputRefusedException(abs + " already exists and was not written by vitfit as "
                + kind.withArticle() + " (it holds " + listing(abs) + "); refusing to replace or write into it. "
                + "Choose a new output directory, or remove this one yourself if you no longer need it.");
    }

    /** A few entry names, so the user sees at once what would have been lost. */
    static String listing(Path dir) {
        List<String> names = new ArrayList<>();
        int total = 0;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path p : s) {
                total++;
                names.add(p.getFileName() + (Files.isDirectory(p) ? "/" : ""));
            }
        } catch (IOException e) {
            return "entries that could not be listed";
        }
        names.sort(null);
        String shown = String.join(", ", names.subList(0, Math.min(LISTED_ENTRIES, names.size())));
        return total > LISTED_ENTRIES ? shown + " and " + (total - LISTED_ENTRIES) + " more" : shown;
    }

    private static void replaceDirectory(Path tmp, Path abs) throws IOException {
        Path parent = abs.getParent();
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            Durable.moveAtomically(tmp, abs, false);
            Durable.fsyncDirectory(parent);
            return;
        }
        if (Files.isDirectory(abs, LinkOption.NOFOLLOW_LINKS) && isEmptyDirectory(abs)) {
            Files.delete(abs); // fails, and nothing is lost, if a file appeared in it meanwhile
            Durable.moveAtomically(tmp, abs, false);
            Durable.fsyncDirectory(parent);
            return;
        }
        Path old = Durable.temporarySibling(abs, OLD);
        Durable.moveAtomically(abs, old, false);
        try {
            Durable.moveAtomically(tmp, abs, false);
        } catch (IOException | RuntimeException e) {
            try {
                Durable.moveAtomically(old, abs, false);
            } catch (IOException restore) {
                e.addSuppressed(new IOException("the previous " + abs + " is left at " + old, restore));
            }
            throw e;
        }
        Durable.fsyncDirectory(parent);
        Durable.deleteTree(old);
    }

    /**
     * A crash between the two renames of a replace leaves the target missing and the old copy beside it; move
     * it back so the user's earlier output is not lost. Only copies carrying a marker are touched.
     */
    private static void recoverInterruptedReplace(Path abs) throws IOException {
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS) || abs.getParent() == null
                || !Files.isDirectory(abs.getParent())) {
            return;
        }
        for (Path p : siblings(abs, OLD)) {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) && OutputMarker.read(p).isPresent()) {
                Durable.moveAtomically(p, abs, false);
                Durable.fsyncDirectory(abs.getParent());
                return;
            }
        }
    }

    /**
     * The temporaries {@link Durable#temporarySibling} made for {@code abs} in {@code role}, found by name prefix (a
     * glob would read brackets and braces in the output's own name as patterns).
     */
    private static List<Path> siblings(Path abs, String role) throws IOException {
        String prefix = "." + abs.getFileName() + ".vitfit-" + role + "-";
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(abs.getParent(),
                p -> p.getFileName().toString().startsWith(prefix))) {
            s.forEach(found::add);
        }
        return found;
    }

    /**
     * Deletes the temporaries of writes to {@code abs} that died (kill -9, Ctrl-C, power loss) before they could
     * clean up: a temporary is proven abandoned when its {@link Claim} lock file can be locked. One without a lock
     * file is not provably ours and stays; one whose lock is held belongs to a write still running.
     */
    private static void deleteAbandoned(Path abs, String role) throws IOException {
        for (Path p : siblings(abs, role)) {
            String name = p.getFileName().toString();
            boolean lockFile = name.endsWith(Claim.SUFFIX);
            Path lock = lockFile ? p : Claim.lockFileOf(p);
            Path tmp = lockFile ? p.resolveSibling(name.substring(0, name.length() - Claim.SUFFIX.length())) : p;
            if (lockFile && Files.exists(tmp, LinkOption.NOFOLLOW_LINKS)) {
                continue; // handled with its temporary
            }
            if (!Files.isRegularFile(lock, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            try (FileChannel ch = FileChannel.open(lock, StandardOpenOption.WRITE)) {
                FileLock held;
                try {
                    held = ch.tryLock();
                } catch (OverlappingFileLockException e) {
                    continue; // a write in this JVM
                }
                if (held == null) {
                    continue; // a write in another process
                }
                Durable.deleteTree(tmp);
                Files.deleteIfExists(lock);
            } catch (IOException e) {
                // The lock cannot be taken here (a file system without locks): whose it is cannot be told, so it stays.
            }
        }
    }

    /**
     * Marks a temporary as in use for the time of one write: an exclusive lock on {@code TMP.lock}, taken before the
     * temporary exists and dropped (with the file) once it has been renamed into place or deleted. The operating
     * system releases the lock when the process dies, which is how {@link #deleteAbandoned} tells a dead write's
     * temporary from a running one's.
     */
    private static final class Claim implements AutoCloseable {
        static final String SUFFIX = ".lock";
        private final Path lockFile;
        private final FileChannel channel;

        private Claim(Path tmp) throws IOException {
            lockFile = lockFileOf(tmp);
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            try {
                channel.lock();
            } catch (IOException e) {
                // A file system without locks (some network mounts): the write goes ahead unclaimed, and since no
                // process can take a lock there either, nobody deletes its temporary as abandoned.
            } catch (RuntimeException e) {
                channel.close();
                Files.deleteIfExists(lockFile);
                throw e;
            }
        }

        /** A claim on {@code tmp}, or an error that names the output being written ({@code target}). */
        static Claim of(Path tmp, Path target) throws IOException {
            try {
                return new Claim(tmp);
            } catch (IOException e) {
                throw Durable.withPath(e, target);
            }
        }

        static Path lockFileOf(Path tmp) {
            return tmp.resolveSibling(tmp.getFileName() + SUFFIX);
        }

        @Override
        public void close() throws IOException {
            try {
                // Deleted while still locked, so no other process can lock it in between and think the write died.
                Files.deleteIfExists(lockFile);
            } finally {
                channel.close();
            }
        }
    }

    private static boolean isEmptyDirectory(Path dir) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }

    private static Path absolute(Path p) {
        return p.toAbsolutePath().normalize();
    }

    /**
     * The real path, following symbolic links, also for a path that does not exist yet (its nearest existing
     * ancestor is resolved), so {@code out} and a link to it compare equal.
     */
    static Path canonical(Path p) {
        Path abs = absolute(p);
        Path existing = abs;
        List<Path> rest = new ArrayList<>();
        while (existing != null && !Files.exists(existing)) {
            rest.add(0, existing.getFileName());
            existing = existing.getParent();
        }
        if (existing == null) {
            return abs;
        }
        Path real;
        try {
            real = existing.toRealPath();
        } catch (IOException e) {
            real = existing;
        }
        for (Path r : rest) {
            real = real.resolve(r);
        }
        return real;
    }
}
