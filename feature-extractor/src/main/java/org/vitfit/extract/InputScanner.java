package org.vitfit.extract;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileSystems;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Lists the images an input names: an ImageFolder tree (one subfolder per class), a plain folder of unlabelled
 * images, or a CSV / JSONL manifest with {@code path}, {@code labels} and optional {@code split}.
 */
public final class InputScanner {

    /**
     * Extensions picked up when scanning folders. Some have no decoder (HEIC, AVIF, JPEG XL...) on purpose: such
     * files are reported as unsupported instead of being silently skipped.
     */
    public static final Set<String> IMAGE_EXTENSIONS = Set.of("jpg", "jpeg", "jpe", "jfif", "png", "gif", "bmp",
            "dib", "webp", "tif", "tiff", "pbm", "pgm", "ppm", "pnm", "ico", "heic", "heif", "avif", "jxl", "jp2",
            "j2k", "psd", "tga", "svg");

    private static final ObjectMapper JSON = new ObjectMapper();

    private InputScanner() {
    }

    /**
     * Reads {@code input}.
     *
     * @param include globs an image must match one of (all when empty); a glob without {@code /} is matched
     *                against the file name, otherwise against the whole relative path
     * @param exclude globs an image must match none of
     * @throws InputException when the input is missing, holds no images, or a manifest line cannot be read
     */
    public static InputSet scan(Path input, List<String> include, List<String> exclude) throws IOException {
        Filter filter = new Filter(include, exclude);
        if (!Files.exists(input)) {
            throw new InputException("input " + input + " does not exist; give an image folder or a .csv / "
                    + ".jsonl manifest");
        }
        InputSet set;
        if (Files.isDirectory(input)) {
            set = scanFolder(input, filter);
        } else {
            String name = input.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".csv")) {
                set = readCsv(input, filter);
            } else if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
                set = readJsonl(input, filter);
            } else {
                throw new InputException("input " + input + " is a file but not a manifest; give an image folder, "
                        + "a .csv or a .jsonl manifest");
            }
        }
        if (set.items().isEmpty()) {
            throw new InputException("no images in " + input + (filter.isEmpty() ? ""
                    : " match --include " + include + " / --exclude " + exclude)
                    + (set.kind() == InputSet.Kind.CSV_MANIFEST || set.kind() == InputSet.Kind.JSONL_MANIFEST ? ""
                    : " (looked for files ending in ." + String.join(", .", new java.util.TreeSet<>(IMAGE_EXTENSIONS))
                    + ")"));
        }
        return set;
    }

    static boolean hasImageExtension(String fileName) {
        int dot = fileName.lastIndexOf('.');
        return dot > 0 && IMAGE_EXTENSIONS.contains(fileName.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    private static InputSet scanFolder(Path root, Filter filter) throws IOException {
        List<String> found = new ArrayList<>();
        // Links are followed: datasets managed by DVC, git-annex or plain `ln -s` are made of them.
        Files.walkFileTree(root, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                // Hidden folders (.git, .thumbnails, macOS ._ resource forks) are never part of a dataset.
                return !dir.equals(root) && dir.getFileName().toString().startsWith(".")
                        ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                String name = file.getFileName().toString();
                if (attrs.isRegularFile() && !name.startsWith(".") && hasImageExtension(name)) {
                    found.add(relative(root, file));
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof FileSystemLoopException) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                throw new InputException("cannot read " + file + " while listing " + root + ": " + e.getMessage());
            }
        });
        found.sort(Comparator.naturalOrder());
        boolean imagesAtTop = found.stream().anyMatch(p -> p.indexOf('/') < 0);
        InputSet.Kind kind = !imagesAtTop && !found.isEmpty() ? InputSet.Kind.IMAGE_FOLDER : InputSet.Kind.PLAIN_FOLDER;
        List<InputItem> items = new ArrayList<>();
        for (String rel : found) {
            if (!filter.accepts(rel)) {
                continue;
            }
            List<String> labels = kind == InputSet.Kind.IMAGE_FOLDER ? List.of(rel.substring(0, rel.indexOf('/')))
                    : List.of();
            items.add(new InputItem(root.resolve(rel), rel, labels, null, root.toString()));
        }
        return new InputSet(kind, root, items);
    }

    private static String relative(Path root, Path file) {
        StringBuilder sb = new StringBuilder();
        for (Path part : root.relativize(file)) {
            if (sb.length() > 0) {
                sb.append('/');
            }
            sb.append(part);
        }
        return sb.toString();
    }

    private static InputSet readCsv(Path manifest, Filter filter) throws IOException {
        String name = manifest.getFileName().toString();
        List<CsvRecord> records = parseCsv(readUtf8(manifest), name);
        if (records.isEmpty()) {
            throw new InputException(name + ": empty; the first line must name the columns (path,labels,split)");
        }
        List<String> header = records.get(0).fields().stream().map(h -> h.trim().toLowerCase(Locale.ROOT)).toList();
        int pathCol = header.indexOf("path");
        int labelsCol = header.contains("labels") ? header.indexOf("labels") : header.indexOf("label");
        int splitCol = header.indexOf("split");
        if (pathCol < 0) {
            throw new InputException(name + " line " + records.get(0).line() + ": no 'path' column (columns: "
                    + String.join(", ", header) + "); the header must name path and optionally labels and split");
        }
        ManifestBuilder b = new ManifestBuilder(manifest, filter);
        for (CsvRecord r : records.subList(1, records.size())) {
            if (r.fields().size() == 1 && r.fields().get(0).isBlank()) {
                continue;
            }
            String where = name + " line " + r.line();
            if (r.fields().size() != header.size()) {
                throw new InputException(where + ": " + r.fields().size() + " fields, the header has "
                        + header.size() + " (quote fields that contain commas)");
            }
            List<String> labels = labelsCol < 0 ? List.of() : splitLabels(r.fields().get(labelsCol));
            String split = splitCol < 0 || r.fields().get(splitCol).isBlank() ? null : r.fields().get(splitCol).trim();
            b.add(r.fields().get(pathCol), labels, split, where, r.line());
        }
        return new InputSet(InputSet.Kind.CSV_MANIFEST, b.root, b.items);
    }

    /** Labels in one CSV field: {@code |}-separated, trimmed, empty ones and repeats dropped. */
    static List<String> splitLabels(String field) {
        LinkedHashSet<String> labels = new LinkedHashSet<>();
        for (String l : field.split("\\|")) {
            if (!l.isBlank()) {
                labels.add(l.trim());
            }
        }
        return List.copyOf(labels);
    }

    private static InputSet readJsonl(Path manifest, Filter filter) throws IOException {
        String name = manifest.getFileName().toString();
        String[] lines = readUtf8(manifest).split("\r?\n", -1);
        ManifestBuilder b = new ManifestBuilder(manifest, filter);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isBlank()) {
                continue;
            }
            String where = name + " line " + (i + 1);
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new InputException(where + ": not valid JSON (" + e.getOriginalMessage() + ")");
            }
            if (!n.isObject()) {
                throw new InputException(where + ": expected a JSON object like {\"path\": \"a.jpg\", \"labels\": "
                        + "[\"cat\"], \"split\": \"train\"}");
            }
            if (!n.path("path").isTextual()) {
                throw new InputException(where + ": 'path' must be a string");
            }
            JsonNode l = n.has("labels") ? n.get("labels") : n.get("label");
            List<String> labels = new ArrayList<>();
            if (l != null && l.isTextual()) {
                labels.add(l.asText());
            } else if (l != null && l.isArray()) {
                for (JsonNode e : l) {
                    if (!e.isTextual()) {
                        throw new InputException(where + ": labels must be strings, got " + e);
                    }
                    labels.add(e.asText());
                }
            } else if (l != null && !l.isNull()) {
                throw new InputException(where + ": 'labels' must be a string or an array of strings, got " + l);
            }
            JsonNode s = n.get("split");
            if (s != null && !s.isNull() && !s.isTextual()) {
                throw new InputException(where + ": 'split' must be a string, got " + s);
            }
            b.add(n.get("path").asText(), List.copyOf(new LinkedHashSet<>(labels)),
                    s == null || s.isNull() ? null : s.asText(), where, i + 1);
        }
        return new InputSet(InputSet.Kind.JSONL_MANIFEST, b.root, b.items);
    }

    private static String readUtf8(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        try {
            String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            return text.startsWith("\uFEFF") ? text.substring(1) : text;
        } catch (CharacterCodingException e) {
            int line = 1;
            for (int i = 0; i < bytes.length && bytes[i] >= 0; i++) {
                if (bytes[i] == '\n') {
                    line++;
                }
            }
            throw new InputException(file.getFileName() + " line " + line + ": not UTF-8 text; save the manifest as "
                    + "UTF-8");
        }
    }

    /** Resolves manifest paths against the manifest's folder and refuses duplicates. */
    private static final class ManifestBuilder {
        final Path root;
        final Filter filter;
        final List<InputItem> items = new ArrayList<>();
        final Map<String, Integer> firstLine = new HashMap<>();

        ManifestBuilder(Path manifest, Filter filter) {
            this.root = manifest.toAbsolutePath().getParent();
            this.filter = filter;
        }

        void add(String rawPath, List<String> labels, String split, String where, int line) throws InputException {
            String path = rawPath.trim();
            if (path.isEmpty()) {
                throw new InputException(where + ": empty path");
            }
            Path file;
            try {
                Path p = Path.of(path);
                file = p.isAbsolute() ? p : root.resolve(p).normalize();
            } catch (InvalidPathException e) {
                throw new InputException(where + ": '" + path + "' is not a valid path (" + e.getReason() + ")");
            }
            Integer earlier = firstLine.putIfAbsent(path, line);
            if (earlier != null) {
                throw new InputException(where + ": '" + path + "' is already listed on line " + earlier
                        + "; each image may appear once (give it several labels instead)");
            }
            if (filter.accepts(path)) {
                items.add(new InputItem(file, path, labels, split, where));
            }
        }
    }

    private record CsvRecord(int line, List<String> fields) {
    }

    /** RFC 4180: comma-separated, fields optionally in double quotes, {@code ""} for a quote inside quotes. */
    private static List<CsvRecord> parseCsv(String text, String name) throws InputException {
        List<CsvRecord> records = new ArrayList<>();
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        int line = 1;
        int recordLine = 1;
        boolean quoted = false;
        boolean fieldWasQuoted = false;
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"') {
                    if (i + 1 < n && text.charAt(i + 1) == '"') {
                        field.append('"');
                        i++;
                    } else {
                        quoted = false;
                    }
                } else {
                    if (c == '\n') {
                        line++;
                    }
                    field.append(c);
                }
            } else if (c == '"') {
                if (field.length() > 0 || fieldWasQuoted) {
                    throw new InputException(name + " line " + line + ": a quote inside an unquoted field; "
                            + "quote the whole field and double the inner quote (\"\")");
                }
                quoted = true;
                fieldWasQuoted = true;
            } else if (c == ',') {
                fields.add(field.toString());
                field.setLength(0);
                fieldWasQuoted = false;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n') {
                    i++;
                }
                fields.add(field.toString());
                records.add(new CsvRecord(recordLine, List.copyOf(fields)));
                fields.clear();
                field.setLength(0);
                fieldWasQuoted = false;
                line++;
                recordLine = line;
            } else {
                if (fieldWasQuoted) {
                    throw new InputException(name + " line " + line + ": text after a closing quote");
                }
                field.append(c);
            }
        }
        if (quoted) {
            throw new InputException(name + " line " + recordLine + ": quoted field is never closed");
        }
        if (field.length() > 0 || !fields.isEmpty() || fieldWasQuoted) {
            fields.add(field.toString());
            records.add(new CsvRecord(recordLine, List.copyOf(fields)));
        }
        return records;
    }

    /** Include/exclude globs; one without {@code /} is about file names, wherever the file sits. */
    private static final class Filter {
        private record Glob(PathMatcher matcher, boolean wholePath) {
            boolean matches(Path full) {
                return matcher.matches(wholePath ? full : full.getFileName());
            }
        }

        private final List<Glob> include;
        private final List<Glob> exclude;

        Filter(List<String> include, List<String> exclude) throws InputException {
            this.include = globs(include);
            this.exclude = globs(exclude);
        }

        boolean isEmpty() {
            return include.isEmpty() && exclude.isEmpty();
        }

        boolean accepts(String path) {
            Path full = Path.of(path);
            return (include.isEmpty() || include.stream().anyMatch(g -> g.matches(full)))
                    && exclude.stream().noneMatch(g -> g.matches(full));
        }

        private static List<Glob> globs(List<String> patterns) throws InputException {
            List<Glob> out = new ArrayList<>();
            for (String g : patterns == null ? List.<String>of() : patterns) {
                try {
                    out.add(new Glob(FileSystems.getDefault().getPathMatcher("glob:" + g), g.contains("/")));
                } catch (IllegalArgumentException e) {
                    throw new InputException("glob '" + g + "' is invalid: " + e.getMessage());
                }
            }
            return out;
        }
    }
}
