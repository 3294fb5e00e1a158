package org.vitfit.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;
import org.vitfit.cache.CacheHeader;
import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.RowMeta;
import org.vitfit.io.Durable;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Finite;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Where Spark and the single-machine cache meet, without Spark: imports embeddings Parquet (as
 * {@link VitfitSpark#writeParquet} writes it, or as {@link #exportCache} does) into an embedding cache, and exports a
 * cache to one Parquet file with the same columns and footer metadata.
 *
 * <p>Import is held to the extractor's standard: the footers' model identity must match the cache's; a Spark output
 * directory must carry {@code _SUCCESS}; Parquet page checksums (and Hadoop's {@code .crc} files, where present) are
 * verified; every row must have a path, a sha256 and a finite vector of the footer's dimension; a path may appear
 * once. A file that breaks any of these commits nothing: the cache is left as it was, and a cache the import was
 * about to create is not left behind.
 */
public final class ParquetCacheBridge {

    /** Optional columns the importer understands besides {@code path}, {@code sha256}, {@code embedding}. */
    public static final String LABELS = "labels";
    public static final String LABEL = "label";
    public static final String SPLIT = "split";
    /** Spark's {@code binaryFile} size column, used for the cache's size when there is no {@code size} column. */
    static final String LENGTH = "length";
    /** Spark's marker of a committed job: without it a directory may hold the part files of a killed job. */
    static final String SUCCESS = "_SUCCESS";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final int EXAMPLES = 3;
    private static final MessageType EXPORT_SCHEMA = MessageTypeParser.parseMessageType("""
            message vitfit_embeddings {
              required binary path (STRING);
              required binary sha256 (STRING);
              required int64 size;
              required group labels (LIST) { repeated group list { required binary element (STRING); } }
              optional binary split (STRING);
              required group embedding (LIST) { repeated group list { required float element; } }
            }""");

    private ParquetCacheBridge() {
    }

    /**
     * How to turn Parquet rows into cache rows.
     *
     * @param stripPrefix      removed from every path (a {@code file:} URI or a plain absolute path), so paths are
     *                         relative to the image root like the extractor's; a path without it is refused
     * @param labelsFromFolder label each row by the first folder of its relative path (the extractor's ImageFolder
     *                         rule), for files without a {@code labels}/{@code label} column
     */
    public record ImportOptions(String stripPrefix, boolean labelsFromFolder) {
        public static ImportOptions defaults() {
            return new ImportOptions(null, false);
        }
    }

    /**
     * What an import did.
     *
     * @param added      rows for paths the cache did not hold
     * @param replaced   rows for paths the cache held with other bytes, labels or split (the old row is replaced)
     * @param unchanged  rows the cache already held exactly so; nothing was written for them
     * @param errorRows  rows the Spark job could not embed (no vector, an {@code error}): counted, not imported
     * @param labelsKept rows without labels in the file that kept the labels the cache already had for their path
     * @param files      Parquet files read
     * @param identity   the footers' {@code vitfit.*} entries
     * @param notes      what the cache writer had to repair when it opened the cache
     */
    public record ImportSummary(long added, long replaced, long unchanged, long errorRows, long labelsKept, int files,
                                Map<String, String> identity, List<String> notes) {
        /** Rows written to the cache. */
        public long imported() {
            return added + replaced;
        }
    }

    /**
     * The {@code vitfit.*} footer entries of a Parquet file or of a Spark output directory's part files; every part
     * must carry the same model identity.
     */
    public static Map<String, String> readIdentity(Path parquet) throws IOException {
        return readIdentity(parts(parquet));
    }

    private static Map<String, String> readIdentity(List<Path> parts) throws IOException {
        Map<String, String> identity = null;
        Path first = null;
        for (Path part : parts) {
            Map<String, String> mine = footerIdentity(part);
            for (String key : ParquetMetadataKeys.IDENTITY_KEYS) {
                if (mine.get(key) == null) {
                    throw new IOException(part + " has no '" + key + "' in its footer metadata: it was not written by "
                            + "VitfitSpark.writeParquet or 'vitfit parquet export', so the model behind its vectors "
                            + "is unknown");
                }
            }
            if (identity == null) {
                identity = mine;
                first = part;
            } else if (!identity.equals(mine)) {
                throw new IOException(part + " and " + first + " were written with different models or preprocessing ("
                        + mine.get(ParquetMetadataKeys.MODEL_SHA256) + " vs " + identity.get(ParquetMetadataKeys.MODEL_SHA256)
                        + "); import them into different caches");
            }
        }
        return identity;
    }

    private static Map<String, String> footerIdentity(Path part) throws IOException {
        Map<String, String> kv;
        try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(hadoop(part), new Configuration()))) {
            kv = r.getFooter().getFileMetaData().getKeyValueMetaData();
        } catch (IOException | RuntimeException e) {
            throw new IOException(part + " is not a readable Parquet file (" + e.getMessage() + ")", e);
        }
        Map<String, String> mine = new LinkedHashMap<>();
        mine.put(ParquetMetadataKeys.FORMAT, kv.get(ParquetMetadataKeys.FORMAT));
        for (String key : ParquetMetadataKeys.IDENTITY_KEYS) {
            mine.put(key, kv.get(key));
        }
        return mine;
    }

    /** True for a Parquet file of embeddings that vitfit wrote: the only kind {@code export --overwrite} replaces. */
    static boolean isOurs(Path file) {
        try {
            return ParquetMetadataKeys.FORMAT_VALUE.equals(footerIdentity(file).get(ParquetMetadataKeys.FORMAT));
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Adds the embedded rows of {@code parquet} to the cache in {@code cacheDir} (created when missing), all or
     * nothing; error rows are counted, not imported. A row for a path already in the cache replaces it; a row that
     * brings no labels (no labels column, or a null cell) keeps the labels and split the cache has for its path.
     *
     * @throws IOException naming every problem found (kind, count, first rows) when anything is refused; the cache
     *                     is then unchanged
     */
    public static ImportSummary importInto(Path parquet, Path cacheDir, ImportOptions options) throws IOException {
        List<Path> parts = parts(parquet);
        Map<String, String> id = readIdentity(parts);
        Path cache = cacheDir.toAbsolutePath().normalize();
        int dimension = Integer.parseInt(id.get(ParquetMetadataKeys.DIMENSION));
        PreprocessRecipe recipe = JSON.readValue(id.get(ParquetMetadataKeys.PREPROCESSING), PreprocessRecipe.class);
        CacheIdentity identity = new CacheIdentity(id.get(ParquetMetadataKeys.MODEL_SHA256),
                id.get(ParquetMetadataKeys.MODEL_SOURCE), recipe, dimension, null);
        boolean existed = Files.exists(cache);
        boolean wasEmpty = existed && Files.isDirectory(cache) && isEmpty(cache);
        // refuses (changing nothing) a directory that is not a cache, one overlapping the input, another model's cache
        CacheWriter writer = CacheWriter.open(cache, identity, List.of(SafeOutput.Input.of("--input", parquet)));
        boolean committed = false;
        try {
            Importer importer = new Importer(writer, options, dimension);
            for (Path part : parts) {
                importer.read(part);
            }
            if (!importer.problems.isEmpty()) {
                throw new IOException(parquet + ": nothing imported, " + (existed && !wasEmpty
                        ? "the cache is unchanged" : "no cache created") + ". " + importer.problems.describe());
            }
            if (importer.embedded == 0 && (!existed || wasEmpty)) {
                throw new IOException(parquet + " holds no embedded rows (" + importer.errorRows + " error rows, which "
                        + "are not imported); no cache created");
            }
            writer.commit();
            committed = true;
            return new ImportSummary(importer.added, importer.replaced, importer.unchanged, importer.errorRows,
                    importer.labelsKept, parts.size(), id, List.copyOf(writer.recoveryNotes()));
        } finally {
            if (committed) {
                writer.close();
            } else {
                writer.rollback();
                if (!existed) {
                    Durable.deleteTree(cache);
                } else if (wasEmpty) {
                    try (DirectoryStream<Path> created = Files.newDirectoryStream(cache)) {
                        for (Path p : created) {
                            Durable.deleteTree(p);
                        }
                    }
                }
            }
        }
    }

    /**
     * Writes every live row of the cache to the Parquet file {@code out} with the cache's identity in its footer:
     * through a temporary sibling, fsynced and renamed into place ({@link SafeOutput#writeFile}), so a failed export
     * leaves nothing under {@code out}. An existing file is replaced only with {@code overwrite}, and only when it is a
     * vitfit Parquet export.
     *
     * @return the number of rows written
     */
    public static long exportCache(Path cacheDir, Path out, boolean overwrite) throws IOException {
        List<SafeOutput.Input> inputs = List.of(SafeOutput.Input.of("--cache", cacheDir));
        SafeOutput.checkFile(out, OutputKind.PARQUET, ParquetCacheBridge::isOurs, overwrite, inputs);
        try (EmbeddingCache cache = EmbeddingCache.open(cacheDir)) {
            CacheHeader h = cache.header();
            Map<String, String> footer = new LinkedHashMap<>();
            footer.put(ParquetMetadataKeys.FORMAT, ParquetMetadataKeys.FORMAT_VALUE);
            footer.put(ParquetMetadataKeys.MODEL_SHA256, h.modelSha256());
            footer.put(ParquetMetadataKeys.MODEL_SOURCE, Objects.toString(h.modelSource(), ""));
            footer.put(ParquetMetadataKeys.PREPROCESSING, JSON.writeValueAsString(h.preprocessing()));
            footer.put(ParquetMetadataKeys.DIMENSION, Integer.toString(h.dimension()));
            return SafeOutput.writeFile(out, OutputKind.PARQUET, ParquetCacheBridge::isOurs, overwrite, inputs,
                    tmp -> writeRows(cache, tmp, footer));
        }
    }

    private static long writeRows(EmbeddingCache cache, Path file, Map<String, String> footer) throws IOException {
        SimpleGroupFactory groups = new SimpleGroupFactory(EXPORT_SCHEMA);
        int d = cache.dimension();
        float[] v = new float[d];
        long n = 0;
        try (ParquetWriter<Group> writer = ExampleParquetWriter.builder(new LocalOutputFile(file))
                .withType(EXPORT_SCHEMA).withExtraMetaData(footer).withPageWriteChecksumEnabled(true)
                .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
            for (CacheRow row : cache.rows()) {
                cache.vector(row, v, 0);
                Finite.require(v, cache.directory() + ": the vector of " + row.path(),
                        "re-extract the cache (delete the row's image from it or run 'vitfit extract' again)");
                Group g = groups.newGroup().append(VitfitSpark.PATH, row.path())
                        .append(VitfitSpark.SHA256, row.sha256()).append(VitfitSpark.SIZE, row.size());
                Group labels = g.addGroup(LABELS);
                for (String l : row.labels()) {
                    labels.addGroup("list").append("element", l);
                }
                if (row.split() != null) {
                    g.append(SPLIT, row.split());
                }
                Group e = g.addGroup(VitfitSpark.EMBEDDING);
                for (float x : v) {
                    e.addGroup("list").append("element", x);
                }
                writer.write(g);
                n++;
            }
        }
        return n;
    }

    /**
     * The Parquet files of {@code parquet}: the file itself, or the visible {@code .parquet} files of a Spark output
     * directory, which must hold {@code _SUCCESS}.
     */
    static List<Path> parts(Path parquet) throws IOException {
        if (Files.isRegularFile(parquet)) {
            return List.of(parquet);
        }
        if (!Files.isDirectory(parquet)) {
            throw new NoSuchFileException(parquet.toString(), null, "no Parquet file or directory there");
        }
        if (!Files.exists(parquet.resolve(SUCCESS))) {
            throw new IOException(parquet + " has no " + SUCCESS + " file: the Spark job that wrote it did not finish "
                    + "(a killed job leaves the part files of the tasks that committed, i.e. only some of the rows). "
                    + "Run the job again into a new directory and import that");
        }
        List<Path> parts = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(parquet, "*.parquet")) {
            for (Path p : s) {
                String name = p.getFileName().toString();
                if (Files.isRegularFile(p) && !name.startsWith("_") && !name.startsWith(".")) {
                    parts.add(p);
                }
            }
        }
        if (parts.isEmpty()) {
            throw new IOException(parquet + " holds no .parquet part files");
        }
        parts.sort(null);
        return parts;
    }

    private static org.apache.hadoop.fs.Path hadoop(Path p) {
        return new org.apache.hadoop.fs.Path(p.toAbsolutePath().toUri());
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            return !s.iterator().hasNext();
        }
    }

    /** The innermost message: parquet-mr wraps a failed page checksum in "Can not read value at 0 in block -1". */
    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    /** {@code file:///x} and {@code file:/x} (what Spark writes) name the same file; a plain {@code /x} too. */
    static String fileUri(String s) {
        if (s.startsWith("file:///")) {
            return "file:/" + s.substring("file:///".length());
        }
        return s.startsWith("/") ? "file:" + s : s;
    }

    /** Reads the rows of each part into the writer, collecting every problem instead of stopping at the first. */
    private static final class Importer {
        private final CacheWriter writer;
        private final ImportOptions options;
        private final int dimension;
        private final String prefix;
        private final float[] vector;
        private final Problems problems = new Problems();
        /** Where each path of this import was seen first, to report duplicates with both places. */
        private final Map<String, String> seen = new HashMap<>();
        long embedded;
        long added;
        long replaced;
        long unchanged;
        long errorRows;
        long labelsKept;

        Importer(CacheWriter writer, ImportOptions options, int dimension) {
            this.writer = writer;
            this.options = options;
            this.dimension = dimension;
            String p = options.stripPrefix();
            this.prefix = p == null ? null : fileUri(p.endsWith("/") ? p : p + "/");
            this.vector = new float[dimension];
        }

        void read(Path part) throws IOException {
            Configuration conf = new Configuration();
            try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), hadoop(part))
                    .withConf(conf).usePageChecksumVerification().build()) {
                Columns columns = null;
                long row = 0;
                while (true) {
                    Group g;
                    try {
                        g = reader.read();
                    } catch (IOException | RuntimeException e) {
                        throw new IOException(part + " is damaged: row " + (row + 1) + " cannot be read ("
                                + rootCause(e) + "). Nothing was imported; copy the file again from where the "
                                + "Spark job wrote it", e);
                    }
                    if (g == null) {
                        break;
                    }
                    row++;
                    if (columns == null) {
                        columns = Columns.of(part, g.getType(), options);
                    }
                    accept(part.getFileName() + " row " + row, g, columns);
                }
            }
        }

        private void accept(String where, Group g, Columns c) throws IOException {
            String raw = string(g, VitfitSpark.PATH);
            if (raw == null) {
                problems.add("no path", where);
                return;
            }
            boolean hasVector = g.getFieldRepetitionCount(VitfitSpark.EMBEDDING) > 0;
            if (!hasVector || (c.error && string(g, VitfitSpark.ERROR) != null)) {
                errorRows++;
                return;
            }
            String here = where + " (" + raw + ")";
            String path = raw;
            if (prefix != null) {
                String p = fileUri(raw);
                if (!p.startsWith(prefix)) {
                    problems.add("path does not start with --strip-prefix " + options.stripPrefix(), here);
                    return;
                }
                path = p.substring(prefix.length());
            }
            String before = seen.putIfAbsent(path, here);
            if (before != null) {
                problems.add("path appears more than once (a cache holds one row per path)", here + " and " + before);
                return;
            }
            String sha = string(g, VitfitSpark.SHA256);
            if (sha == null) {
                problems.add("no sha256 (the hash of the image bytes, which the cache needs to recognise unchanged "
                        + "and moved images; VitfitSpark.embed writes it)", here);
                return;
            }
            if (!SHA256.matcher(sha).matches()) {
                problems.add("sha256 is not 64 lower-case hex digits", here + ": '" + sha + "'");
                return;
            }
            Group list = g.getGroup(VitfitSpark.EMBEDDING, 0);
            int n = list.getFieldRepetitionCount(0);
            if (n != dimension) {
                problems.add("vector length is not the footer's dimension " + dimension,
                        here + ": " + n + " floats");
                return;
            }
            for (int i = 0; i < n; i++) {
                Group element = list.getGroup(0, i);
                if (element.getFieldRepetitionCount(0) == 0) {
                    problems.add("null component in the vector", here + ": component " + i);
                    return;
                }
                vector[i] = element.getFloat(0, 0);
            }
            int bad = Finite.firstNonFinite(vector);
            if (bad >= 0) {
                problems.add("NaN or infinite components in the vector (the job that computed them failed "
                        + "numerically; re-embed those images)", here + ": component " + bad + " is " + vector[bad]);
                return;
            }
            if (options.labelsFromFolder() && (path.startsWith("/") || path.contains(":"))) {
                problems.add("path is not relative to an image root, so --labels-from-folder cannot name its top "
                        + "folder (pass --strip-prefix with the root the images were read from)", here);
                return;
            }
            List<String> labels = labels(g, c, path);
            String split = c.split ? blankToNull(string(g, SPLIT)) : null;
            embedded++;
            if (!problems.isEmpty()) {
                return;   // the import is refused already: keep checking the rest, write nothing more
            }
            Optional<CacheRow> existing = writer.liveRow(path);
            if (labels == null) {
                labels = existing.map(CacheRow::labels).orElse(List.of());
                if (!labels.isEmpty()) {
                    labelsKept++;
                }
            }
            if (split == null) {
                split = existing.map(CacheRow::split).orElse(null);
            }
            if (existing.isPresent() && existing.get().sha256().equals(sha) && existing.get().labels().equals(labels)
                    && Objects.equals(existing.get().split(), split)) {
                unchanged++;
                return;
            }
            writer.append(new RowMeta(path, sha, size(g, c), labels, split), vector, 0);
            if (existing.isPresent()) {
                replaced++;
            } else {
                added++;
            }
        }

        /** The row's labels, or null when the file gives none for it (then the cache's stay). */
        private List<String> labels(Group g, Columns c, String path) {
            if (c.labels) {
                if (g.getFieldRepetitionCount(LABELS) == 0) {
                    return null;
                }
                Group list = g.getGroup(LABELS, 0);
                List<String> out = new ArrayList<>();
                for (int i = 0; i < list.getFieldRepetitionCount(0); i++) {
                    Group element = list.getGroup(0, i);
                    if (element.getFieldRepetitionCount(0) > 0) {
                        out.add(element.getString(0, 0));
                    }
                }
                return out;
            }
            if (c.label) {
                String single = blankToNull(string(g, LABEL));
                return single == null ? null : List.of(single);
            }
            if (options.labelsFromFolder()) {
                int slash = path.indexOf('/');
                return slash > 0 ? List.of(path.substring(0, slash)) : List.of();
            }
            return null;
        }

        private static long size(Group g, Columns c) {
            if (c.size && g.getFieldRepetitionCount(VitfitSpark.SIZE) > 0) {
                return g.getLong(VitfitSpark.SIZE, 0);
            }
            if (c.length && g.getFieldRepetitionCount(LENGTH) > 0) {
                return g.getLong(LENGTH, 0);
            }
            return -1;
        }

        private static String string(Group g, String field) {
            return g.getType().containsField(field) && g.getFieldRepetitionCount(field) > 0
                    ? g.getString(field, 0) : null;
        }

        private static String blankToNull(String s) {
            return s == null || s.isBlank() ? null : s;
        }
    }

    /** Which optional columns a part file has, after checking that every column vitfit reads has the right type. */
    private record Columns(boolean labels, boolean label, boolean split, boolean size, boolean length, boolean error) {

        static Columns of(Path part, GroupType t, ImportOptions options) throws IOException {
            requireString(part, t, VitfitSpark.PATH, true);
            requireString(part, t, VitfitSpark.SHA256, true);
            requireList(part, t, VitfitSpark.EMBEDDING, PrimitiveTypeName.FLOAT, true);
            boolean labels = requireList(part, t, LABELS, PrimitiveTypeName.BINARY, false);
            boolean label = requireString(part, t, LABEL, false);
            if (options.labelsFromFolder() && (labels || label)) {
                throw new IOException(part + " has a '" + (labels ? LABELS : LABEL) + "' column already; drop "
                        + "--labels-from-folder (the file's labels are imported)");
            }
            return new Columns(labels, label, requireString(part, t, SPLIT, false),
                    requireInt64(part, t, VitfitSpark.SIZE), requireInt64(part, t, LENGTH),
                    requireString(part, t, VitfitSpark.ERROR, false));
        }

        private static boolean requireString(Path part, GroupType t, String name, boolean required) throws IOException {
            if (!t.containsField(name)) {
                if (required) {
                    throw missing(part, t, name);
                }
                return false;
            }
            Type f = t.getType(name);
            if (!f.isPrimitive() || f.asPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.BINARY
                    || f.isRepetition(Type.Repetition.REPEATED)) {
                throw new IOException(part + ": column '" + name + "' is " + f + ", expected a string");
            }
            return true;
        }

        private static boolean requireInt64(Path part, GroupType t, String name) throws IOException {
            if (!t.containsField(name)) {
                return false;
            }
            Type f = t.getType(name);
            if (!f.isPrimitive() || f.asPrimitiveType().getPrimitiveTypeName() != PrimitiveTypeName.INT64) {
                throw new IOException(part + ": column '" + name + "' is " + f + ", expected a long");
            }
            return true;
        }

        /** A list in Parquet's standard three-level layout, as Spark writes it: {@code group (LIST) { repeated group list { element } }}. */
        private static boolean requireList(Path part, GroupType t, String name, PrimitiveTypeName element,
                                           boolean required) throws IOException {
            if (!t.containsField(name)) {
                if (required) {
                    throw missing(part, t, name);
                }
                return false;
            }
            Type f = t.getType(name);
            boolean ok = !f.isPrimitive() && f.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation
                    && f.asGroupType().getFieldCount() == 1
                    && !f.asGroupType().getType(0).isPrimitive()
                    && f.asGroupType().getType(0).isRepetition(Type.Repetition.REPEATED)
                    && f.asGroupType().getType(0).asGroupType().getFieldCount() == 1
                    && f.asGroupType().getType(0).asGroupType().getType(0).isPrimitive()
                    && f.asGroupType().getType(0).asGroupType().getType(0).asPrimitiveType().getPrimitiveTypeName() == element;
            if (!ok) {
                throw new IOException(part + ": column '" + name + "' is " + f + ", expected a list of "
                        + (element == PrimitiveTypeName.FLOAT ? "floats" : "strings")
                        + " in Parquet's standard list layout (what Spark writes)");
            }
            return true;
        }

        private static IOException missing(Path part, GroupType t, String name) {
            List<String> names = t.getFields().stream().map(Type::getName).toList();
            return new IOException(part + " has no '" + name + "' column (it has " + names + "); vitfit imports "
                    + "what VitfitSpark.writeParquet or 'vitfit parquet export' wrote");
        }
    }

    /** Problems by kind, each with a count and the first few places, for one message that says everything. */
    private static final class Problems {
        private final Map<String, List<String>> examples = new LinkedHashMap<>();
        private final Map<String, Long> counts = new HashMap<>();

        void add(String kind, String where) {
            counts.merge(kind, 1L, Long::sum);
            List<String> e = examples.computeIfAbsent(kind, k -> new ArrayList<>());
            if (e.size() < EXAMPLES) {
                e.add(where);
            }
        }

        boolean isEmpty() {
            return counts.isEmpty();
        }

        String describe() {
            List<String> out = new ArrayList<>();
            for (Map.Entry<String, List<String>> e : examples.entrySet()) {
                long n = counts.get(e.getKey());
                out.add(e.getKey() + " (" + n + (n == 1 ? " row" : " rows") + "): " + String.join("; ", e.getValue())
                        + (n > e.getValue().size() ? "; ..." : ""));
            }
            return String.join(". ", out);
        }
    }
}
