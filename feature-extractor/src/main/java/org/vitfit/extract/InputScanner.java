package org.vitfit.extract;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.vitfit.io.Durable;

import java.io.IOException;
import java.io.UncheckedIOException;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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

    /** A JSONL line naming a field twice is refused: Jackson would otherwise keep the last copy without a word. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

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
        return scan(input, include, exclude, ManifestFormat.DEFAULT);
    }

    /**
     * Reads {@code input}; a manifest's columns are found as {@code format} says.
     *
     * @throws InputException also when {@code format} names columns but the input is a folder
     */
    public static InputSet scan(Path input, List<String> include, List<String> exclude, ManifestFormat format)
            throws IOException {
        Filter filter = new Filter(include, exclude);
        if (!Files.exists(input)) {
            throw new InputException("input " + input + " does not exist; give an image folder or a .csv / "
                    + ".jsonl manifest");
        }
        InputSet set;
        if (Files.isDirectory(input)) {
            if (!format.isDefault()) {
                throw new InputException("--path-column, --labels-column, --split-column, --label-separator and "
                        + "--label-columns describe a CSV or JSONL manifest, but " + input + " is a folder (its "
                        + "labels are its subfolder names); drop those options or give a manifest");
            }
            set = scanFolder(input, filter);
        } else {
            String name = input.getFileName().toString().toLowerCase(Locale.ROOT);
            if (name.endsWith(".csv")) {
                set = readCsv(input, filter, format);
            } else if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
                set = readJsonl(input, filter, format);
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
                // A link whose target is gone is visited with the link's own attributes, and a named pipe or device
                // named like an image is "other": both are listed all the same, so the run reports them (reasons
                // broken_link, unreadable) instead of dropping the image silently, as a manifest naming them would.
                if ((attrs.isRegularFile() || attrs.isSymbolicLink() || attrs.isOther()) && !name.startsWith(".")
                        && hasImageExtension(name)) {
                    found.add(relative(root, file));
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                if (e instanceof FileSystemLoopException) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                throw new InputException("cannot read " + file + " while listing " + root + ": "
                        + Durable.describe(e));
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

    private static InputSet readCsv(Path manifest, Filter filter, ManifestFormat format) throws IOException {
        String name = manifest.getFileName().toString();
        String text = readUtf8(manifest);
        Lines lines = new Lines(text);
        ManifestBuilder b = new ManifestBuilder(manifest, filter);
        try (CSVParser parser = CSVParser.parse(text, CSVFormat.RFC4180)) {
            Columns columns = null;
            for (CSVRecord r : parser) {
                int line = lines.lineAt(r.getCharacterPosition());
                List<String> fields = r.toList();
                if (fields.stream().allMatch(String::isBlank)) {
                    continue;
                }
                if (columns == null) {
                    columns = Columns.of(fields, format, name + " line " + line, "column");
                    continue;
                }
                String where = name + " line " + line;
                if (fields.size() != columns.count) {
                    throw new InputException(where + ": " + fields.size() + " fields, the header has "
                            + columns.count + " (quote fields that contain commas)");
                }
                String split = columns.split < 0 || fields.get(columns.split).isBlank() ? null
                        : fields.get(columns.split).strip();
                b.add(fields.get(columns.path), columns.labels(fields, format.labelSeparator() == null ? "|"
                        : format.labelSeparator(), where), split, where, line);
            }
            if (columns == null) {
                throw new InputException(name + ": empty; the first line must name the columns (path,labels,split)");
            }
        } catch (UncheckedIOException e) {
            throw csvError(name, e.getCause());
        }
        return new InputSet(InputSet.Kind.CSV_MANIFEST, b.root, b.items);
    }

    /** Commons CSV's parse errors, said with the file and line the way the rest of the manifest errors are. */
    private static InputException csvError(String name, IOException e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        Matcher line = Pattern.compile("(?:startline |line: )(\\d+)").matcher(m);
        String where = line.find() ? name + " line " + line.group(1) : name;
        if (m.contains("EOF reached before encapsulated token finished")) {
            return new InputException(where + ": quoted field is never closed");
        }
        if (m.contains("Invalid character between encapsulated token and delimiter")) {
            return new InputException(where + ": text after a closing quote; quote the whole field and double "
                    + "the quotes inside it (\"\")");
        }
        return new InputException(where + ": not valid CSV (" + m + ")");
    }

    /** Line numbers of character offsets, for messages about records that may span lines. */
    private static final class Lines {
        private final int[] starts;

        Lines(String text) {
            List<Integer> s = new ArrayList<>();
            s.add(0);
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c == '\n' || (c == '\r' && (i + 1 == text.length() || text.charAt(i + 1) != '\n'))) {
                    s.add(i + 1);
                }
            }
            starts = s.stream().mapToInt(Integer::intValue).toArray();
        }

        int lineAt(long offset) {
            int i = java.util.Arrays.binarySearch(starts, (int) offset);
            return (i >= 0 ? i : -i - 2) + 1;
        }
    }

    /**
     * Where path, labels and split are among a manifest's columns (CSV header) or fields (a JSONL object), found as
     * the {@link ManifestFormat} says.
     */
    private static final class Columns {
        final int count;
        final int path;
        final int labels;
        final int split;
        /** One-hot label columns and the label each stands for. */
        final List<Integer> oneHot = new ArrayList<>();
        final List<String> oneHotLabels = new ArrayList<>();
        final List<String> names;

        private Columns(List<String> names, int path, int labels, int split) {
            this.names = names;
            this.count = names.size();
            this.path = path;
            this.labels = labels;
            this.split = split;
        }

        static Columns of(List<String> header, ManifestFormat format, String where, String what)
                throws InputException {
            List<String> names = header.stream().map(String::strip).toList();
            int path = find(names, format.pathColumn(), "path", where, what, "--path-column");
            if (path < 0) {
                throw new InputException(where + ": no 'path' " + what + " (" + what + "s: " + String.join(", ", names)
                        + "); name the " + what + " holding the image paths with --path-column");
            }
            int labels = format.labelColumns().isEmpty()
                    ? find(names, format.labelsColumn(), "labels", where, what, "--labels-column") : -1;
            if (labels < 0 && format.labelsColumn() == null && format.labelColumns().isEmpty()) {
                labels = indexOf(names, "label");
            }
            int split = find(names, format.splitColumn(), "split", where, what, "--split-column");
            Columns c = new Columns(names, path, labels, split);
            for (String pattern : format.labelColumns()) {
                OneHot oneHot = new OneHot(pattern);
                int matched = 0;
                for (int i = 0; i < names.size(); i++) {
                    if (oneHot.matches(names.get(i)) && i != path && i != split && !c.oneHot.contains(i)) {
                        c.oneHot.add(i);
                        c.oneHotLabels.add(oneHot.label(names.get(i)));
                        matched++;
                    }
                }
                if (matched == 0) {
                    throw new InputException(where + ": no " + what + " " + oneHot + " (--label-columns); the "
                            + what + "s are: " + String.join(", ", names));
                }
            }
            List<Integer> used = new ArrayList<>(List.of(path, labels, split));
            used.addAll(c.oneHot);
            for (int i : used) {
                refuseCopies(names, i, where, what);
            }
            return c;
        }

        /** A column read by name must be the only one of that name: taking the first copy silently dropped the other. */
        private static void refuseCopies(List<String> names, int index, String where, String what)
                throws InputException {
            if (index < 0) {
                return;
            }
            List<String> positions = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).equalsIgnoreCase(names.get(index))) {
                    positions.add(String.valueOf(i + 1));
                }
            }
            if (positions.size() > 1) {
                throw new InputException(where + ": the " + what + " '" + names.get(index) + "' appears "
                        + positions.size() + " times (" + what + "s " + String.join(" and ", positions)
                        + "); rename or remove the copies so that it is clear which one holds the data");
            }
        }

        /** The index of {@code explicit} (which must exist), else of {@code fallback} when present, else -1. */
        private static int find(List<String> names, String explicit, String fallback, String where, String what,
                                String option) throws InputException {
            if (explicit == null) {
                return indexOf(names, fallback);
            }
            int i = indexOf(names, explicit);
            if (i < 0) {
                throw new InputException(where + ": no " + what + " '" + explicit + "' (" + option + "); the " + what
                        + "s are: " + String.join(", ", names));
            }
            return i;
        }

        private static int indexOf(List<String> names, String name) {
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).equalsIgnoreCase(name)) {
                    return i;
                }
            }
            return -1;
        }

        /** The labels of one CSV record. */
        List<String> labels(List<String> fields, String separator, String where) throws InputException {
            if (oneHot.isEmpty()) {
                return labels < 0 ? List.of() : LabelCells.parse(fields.get(labels), separator, where);
            }
            List<String> out = new ArrayList<>();
            for (int k = 0; k < oneHot.size(); k++) {
                if (oneHotValue(fields.get(oneHot.get(k)), names.get(oneHot.get(k)), where)) {
                    out.add(oneHotLabels.get(k));
                }
            }
            return out;
        }

        static boolean oneHotValue(String cell, String column, String where) throws InputException {
            switch (cell.strip().toLowerCase(Locale.ROOT)) {
                case "1", "1.0", "true", "yes", "y", "t" -> {
                    return true;
                }
                case "", "0", "0.0", "false", "no", "n", "f", "-1" -> {
                    return false;
                }
                default -> throw new InputException(where + ": one-hot label column '" + column + "' holds '"
                        + cell.strip() + "'; such a column holds 1 or 0 (also true/false, yes/no; empty means 0)");
            }
        }
    }

    /** One {@code --label-columns} entry: a column name, or a prefix ending in {@code *}. */
    private record OneHot(String stem, boolean prefix) {
        OneHot(String pattern) {
            this(pattern.endsWith("*") ? pattern.substring(0, pattern.length() - 1) : pattern, pattern.endsWith("*"));
        }

        boolean matches(String name) {
            return prefix ? name.length() > stem.length() && name.regionMatches(true, 0, stem, 0, stem.length())
                    : name.equalsIgnoreCase(stem);
        }

        /** The label a matching column stands for: its name, without the prefix. */
        String label(String name) {
            return prefix ? name.substring(stem.length()) : name;
        }

        @Override
        public String toString() {
            return prefix ? "starting with '" + stem + "'" : "'" + stem + "'";
        }
    }

    private static InputSet readJsonl(Path manifest, Filter filter, ManifestFormat format) throws IOException {
        String name = manifest.getFileName().toString();
        String[] lines = readUtf8(manifest).split("\r?\n", -1);
        ManifestBuilder b = new ManifestBuilder(manifest, filter);
        String pathField = format.pathColumn() == null ? "path" : format.pathColumn();
        String splitField = format.splitColumn() == null ? "split" : format.splitColumn();
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
            JsonNode path = field(n, pathField);
            if (path == null || !path.isTextual()) {
                throw new InputException(where + ": '" + pathField + "' must be a string"
                        + (path == null && format.pathColumn() == null ? " (name the field holding the image path "
                        + "with --path-column)" : ""));
            }
            List<String> labels = jsonLabels(n, format, where);
            JsonNode s = field(n, splitField);
            if (s != null && !s.isNull() && !s.isTextual()) {
                throw new InputException(where + ": '" + splitField + "' must be a string, got " + s);
            }
            if (s == null && format.splitColumn() != null) {
                throw new InputException(where + ": no field '" + splitField + "' (--split-column)");
            }
            b.add(path.asText(), labels, s == null || s.isNull() ? null : s.asText(), where, i + 1);
        }
        return new InputSet(InputSet.Kind.JSONL_MANIFEST, b.root, b.items);
    }

    private static List<String> jsonLabels(JsonNode n, ManifestFormat format, String where) throws InputException {
        if (!format.labelColumns().isEmpty()) {
            List<String> out = new ArrayList<>();
            List<String> fields = new ArrayList<>();
            n.fieldNames().forEachRemaining(fields::add);
            for (String pattern : format.labelColumns()) {
                OneHot oneHot = new OneHot(pattern);
                boolean any = false;
                for (String f : fields) {
                    if (!oneHot.matches(f)) {
                        continue;
                    }
                    any = true;
                    JsonNode v = n.get(f);
                    String text = v.isBoolean() ? (v.asBoolean() ? "1" : "0")
                            : v.isNull() ? "" : v.isValueNode() ? v.asText() : v.toString();
                    String label = oneHot.label(f);
                    if (Columns.oneHotValue(text, f, where) && !out.contains(label)) {
                        out.add(label);
                    }
                }
                if (!any && !oneHot.prefix()) {
                    throw new InputException(where + ": no field " + oneHot + " (--label-columns)");
                }
            }
            return out;
        }
        String field = format.labelsColumn() != null ? format.labelsColumn() : n.has("labels") ? "labels" : "label";
        JsonNode l = field(n, field);
        if (l == null && format.labelsColumn() != null) {
            throw new InputException(where + ": no field '" + field + "' (--labels-column)");
        }
        List<String> labels = new ArrayList<>();
        if (l != null && l.isTextual()) {
            labels.addAll(LabelCells.parse(l.asText(), format.labelSeparator(), where));
        } else if (l != null && l.isArray()) {
            for (JsonNode e : l) {
                if (!e.isTextual()) {
                    throw new InputException(where + ": labels must be strings, got " + e);
                }
                labels.add(e.asText());
            }
        } else if (l != null && !l.isNull()) {
            throw new InputException(where + ": '" + field + "' must be a string or an array of strings, got " + l);
        }
        return List.copyOf(new LinkedHashSet<>(labels));
    }

    /** A field of a JSONL object, its name matched case-insensitively like CSV columns. */
    private static JsonNode field(JsonNode n, String name) {
        JsonNode exact = n.get(name);
        if (exact != null) {
            return exact;
        }
        var it = n.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (e.getKey().equalsIgnoreCase(name)) {
                return e.getValue();
            }
        }
        return null;
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
