package org.vitfit.cli;

import org.vitfit.extract.InputItem;
import org.vitfit.extract.InputScanner;
import org.vitfit.io.SafeOutput;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * What {@code vitfit predict} classifies, in the order the user named it: image files; folders, searched recursively
 * by the extractor's own {@link InputScanner} (image extensions, hidden files skipped, sorted); {@code .csv} /
 * {@code .jsonl} manifests (read by the same scanner); globs the shell did not expand ({@code 'photos/**}{@code /*.jpg'});
 * and list files with one path per line. A file named twice is classified once.
 */
final class PredictInputs {

    /** The images, and the paths they came from (for the output-overlap check). */
    record Listing(List<InputItem> items, List<SafeOutput.Input> sources, int duplicates) {
    }

    private final List<InputItem> items = new ArrayList<>();
    private final List<SafeOutput.Input> sources = new ArrayList<>();
    private final Set<Path> seen = new HashSet<>();
    private int duplicates;

    private PredictInputs() {
    }

    /**
     * @param arguments the positional arguments: files, folders, manifests or globs
     * @param lists     list files ({@code -} for standard input)
     * @throws IOException for an input that cannot be listed (a folder without images, a glob matching nothing, an
     *                     unreadable list): the user's mistake, refused before any work. A named file that does not
     *                     exist is not refused here: it becomes an error entry ("missing") and the run goes on.
     */
    static Listing collect(List<String> arguments, List<String> lists) throws IOException {
        PredictInputs in = new PredictInputs();
        for (String a : arguments) {
            in.argument(a);
        }
        for (String l : lists) {
            in.list(l);
        }
        if (in.items.isEmpty()) {
            throw new IllegalArgumentException("nothing to classify: give image files, folders, globs or --list FILE");
        }
        return new Listing(List.copyOf(in.items), List.copyOf(in.sources), in.duplicates);
    }

    private void argument(String arg) throws IOException {
        Path p = path(arg, "argument");
        if (Files.isDirectory(p)) {
            sources.add(SafeOutput.Input.of("IMAGE folder", p));
            for (InputItem i : InputScanner.scan(p, List.of(), List.of()).items()) {
                add(i.file(), p.resolve(i.path()).toString(), arg);
            }
        } else if (Files.isRegularFile(p) && isManifest(p)) {
            sources.add(SafeOutput.Input.of("manifest", p));
            for (InputItem i : InputScanner.scan(p, List.of(), List.of()).items()) {
                add(i.file(), i.path(), i.origin());
            }
        } else if (!Files.exists(p) && isGlob(arg)) {
            glob(arg);
        } else {
            sources.add(SafeOutput.Input.of("IMAGE", p));
            add(p, arg, "the command line");
        }
    }

    private void list(String list) throws IOException {
        boolean stdin = list.equals("-");
        Path file = stdin ? null : path(list, "--list");
        // Relative paths in a list are relative to the list's folder (as in manifests); from stdin, to the
        // current directory.
        Path base = stdin ? Path.of("") : file.toAbsolutePath().getParent();
        if (!stdin) {
            if (!Files.isRegularFile(file)) {
                throw new IOException("--list " + list + " is not a file; give a text file with one image path per line");
            }
            sources.add(SafeOutput.Input.of("--list", file));
        }
        String name = stdin ? "standard input" : list;
        try (BufferedReader r = stdin ? new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))
                : Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int lineNo = 0;
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                String entry = line.strip();
                if (lineNo == 1 && entry.startsWith("\uFEFF")) {
                    entry = entry.substring(1);
                }
                if (entry.isEmpty() || entry.startsWith("#")) {
                    continue;
                }
                Path p = path(entry, name + " line " + lineNo);
                add(p.isAbsolute() ? p : base.resolve(p).normalize(), entry, name + " line " + lineNo);
            }
        } catch (MalformedInputException e) {
            throw new IOException(name + ": not UTF-8 text; save the list as UTF-8", e);
        }
    }

    /** A glob the shell left alone: the literal folders before the first wildcard, then a match on the rest. */
    private void glob(String pattern) throws IOException {
        String[] parts = pattern.split("/", -1);
        int firstWild = 0;
        while (firstWild < parts.length && !isGlob(parts[firstWild])) {
            firstWild++;
        }
        String literal = String.join("/", Arrays.copyOfRange(parts, 0, firstWild));
        if (literal.isEmpty() && pattern.startsWith("/")) {
            literal = "/";
        }
        String rest = String.join("/", Arrays.copyOfRange(parts, firstWild, parts.length));
        boolean relativeToHere = literal.isEmpty();
        Path root = relativeToHere ? Path.of(".") : path(literal, "glob '" + pattern + "'");
        PathMatcher matcher;
        try {
            PathMatcher whole = FileSystems.getDefault().getPathMatcher("glob:" + rest);
            // As in the shell (globstar), a leading **/ also matches zero folders: photos/**/*.jpg finds
            // photos/a.jpg too, which Java's glob alone would not.
            PathMatcher top = rest.startsWith("**/")
                    ? FileSystems.getDefault().getPathMatcher("glob:" + rest.substring(3)) : whole;
            matcher = p -> whole.matches(p) || top.matches(p);
        } catch (IllegalArgumentException e) {
            throw new IOException("glob '" + pattern + "' is invalid: " + e.getMessage());
        }
        if (!Files.isDirectory(root)) {
            throw new IOException("glob '" + pattern + "': " + root + " is not a folder");
        }
        sources.add(SafeOutput.Input.of("glob", root));
        List<Path> found = new ArrayList<>();
        Files.walkFileTree(root, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                // Like the shell: a wildcard does not reach into hidden folders.
                return !dir.equals(root) && dir.getFileName().toString().startsWith(".")
                        ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                Path rel = root.relativize(file);
                if (attrs.isRegularFile() && !file.getFileName().toString().startsWith(".") && matcher.matches(rel)) {
                    found.add(file);
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof FileSystemLoopException) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                throw new IOException("glob '" + pattern + "': cannot read " + file + ": " + e.getMessage(), e);
            }
        });
        if (found.isEmpty()) {
            throw new IOException("glob '" + pattern + "' matches no file");
        }
        found.sort(null);
        for (Path f : found) {
            Path shown = relativeToHere ? root.relativize(f) : f;
            add(f, shown.toString(), "glob '" + pattern + "'");
        }
    }

    private void add(Path file, String name, String origin) {
        if (seen.add(file.toAbsolutePath().normalize())) {
            items.add(new InputItem(file, name, List.of(), null, origin));
        } else {
            duplicates++;
        }
    }

    private static Path path(String text, String where) throws IOException {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            throw new IOException(where + ": '" + text + "' is not a valid path (" + e.getReason() + ")");
        }
    }

    private static boolean isManifest(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".csv") || n.endsWith(".jsonl") || n.endsWith(".ndjson");
    }

    private static boolean isGlob(String s) {
        return s.indexOf('*') >= 0 || s.indexOf('?') >= 0 || s.indexOf('[') >= 0 || s.indexOf('{') >= 0;
    }
}
