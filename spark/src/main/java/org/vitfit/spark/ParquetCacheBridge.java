package org.vitfit.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.vitfit.cache.CacheHeader;
import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.RowMeta;
import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Where Spark and the single-machine cache meet, without Spark: imports embeddings Parquet (as
 * {@link VitfitSpark#writeParquet} writes it, or as {@link #exportCache} does) into an embedding cache, and exports a
 * cache to one Parquet file with the same columns and footer metadata. Model identity is checked on import exactly
 * as the extractor checks it: a cache made with another model or preprocessing is refused.
 */
public final class ParquetCacheBridge {

    /** Optional columns the importer understands besides {@code path}, {@code embedding}, {@code error}. */
    public static final String LABELS = "labels";
    public static final String LABEL = "label";
    public static final String SPLIT = "split";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final MessageType EXPORT_SCHEMA = MessageTypeParser.parseMessageType("""
            message vitfit_embeddings {
              required binary path (STRING);
              optional binary sha256 (STRING);
              optional int64 size;
              optional group labels (LIST) { repeated group list { optional binary element (STRING); } }
              optional binary split (STRING);
              optional group embedding (LIST) { repeated group list { required float element; } }
              optional binary error (STRING);
            }""");

    private ParquetCacheBridge() {
    }

    /** How to turn Parquet rows into cache rows. */
    public record ImportOptions(String stripPrefix, boolean labelsFromFolder) {
        public static ImportOptions defaults() {
            return new ImportOptions(null, false);
        }
    }

    /** What an import did. */
    public record ImportSummary(long imported, long errorRows, long files, Map<String, String> identity) {
    }

    /**
     * The {@code vitfit.*} footer entries of a Parquet file or directory of part files; every part must carry the
     * same model identity.
     */
    public static Map<String, String> readIdentity(Path parquet) throws IOException {
        Map<String, String> identity = null;
        Path first = null;
        for (Path part : parts(parquet)) {
            Map<String, String> kv;
            try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(hadoop(part), new Configuration()))) {
                kv = r.getFooter().getFileMetaData().getKeyValueMetaData();
            }
            Map<String, String> mine = new LinkedHashMap<>();
            mine.put(ParquetMetadataKeys.FORMAT, kv.get(ParquetMetadataKeys.FORMAT));
            for (String key : ParquetMetadataKeys.IDENTITY_KEYS) {
                String v = kv.get(key);
                if (v == null) {
                    throw new IOException(part + " has no '" + key + "' in its footer metadata: it was not written by "
                            + "VitfitSpark.writeParquet or 'vitfit parquet export', so the model behind its vectors "
                            + "is unknown");
                }
                mine.put(key, v);
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

    /**
     * Appends the embedded rows of {@code parquet} to the cache in {@code cacheDir} (created when missing) and
     * commits; error rows are counted, not imported. A row for a path already in the cache replaces it.
     */
    public static ImportSummary importInto(Path parquet, Path cacheDir, ImportOptions options) throws IOException {
        Map<String, String> id = readIdentity(parquet);
        int dimension = Integer.parseInt(id.get(ParquetMetadataKeys.DIMENSION));
        PreprocessRecipe recipe = JSON.readValue(id.get(ParquetMetadataKeys.PREPROCESSING), PreprocessRecipe.class);
        CacheIdentity identity = new CacheIdentity(id.get(ParquetMetadataKeys.MODEL_SHA256),
                id.get(ParquetMetadataKeys.MODEL_SOURCE), recipe, dimension, null);
        long imported = 0;
        long errors = 0;
        List<Path> parts = parts(parquet);
        try (CacheWriter writer = CacheWriter.open(cacheDir, identity)) {
            float[] vector = new float[dimension];
            for (Path part : parts) {
                try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), hadoop(part)).build()) {
                    Group g;
                    long rowInFile = 0;
                    while ((g = reader.read()) != null) {
                        rowInFile++;
                        GroupType type = g.getType();
                        if (!type.containsField(VitfitSpark.PATH) || !type.containsField(VitfitSpark.EMBEDDING)) {
                            throw new IOException(part + ": needs columns 'path' and 'embedding', has " + type.getFields());
                        }
                        if (g.getFieldRepetitionCount(VitfitSpark.EMBEDDING) == 0) {
                            errors++;
                            continue;
                        }
                        String path = cachePath(g.getString(VitfitSpark.PATH, 0), options.stripPrefix());
                        int n = readFloats(g.getGroup(VitfitSpark.EMBEDDING, 0), vector);
                        if (n != dimension) {
                            throw new IOException(part + " row " + rowInFile + " (" + path + "): " + n
                                    + " floats, the footer says dimension " + dimension);
                        }
                        RowMeta meta = new RowMeta(path, optionalString(g, VitfitSpark.SHA256),
                                optionalLong(g, VitfitSpark.SIZE), labels(g, path, options.labelsFromFolder()),
                                optionalString(g, SPLIT));
                        writer.append(meta, vector, 0);
                        imported++;
                    }
                }
            }
            writer.commit();
        }
        return new ImportSummary(imported, errors, parts.size(), id);
    }

    /** Writes every live row of the cache to one Parquet file, {@code out}, with the cache's identity in its footer. */
    public static long exportCache(Path cacheDir, Path out) throws IOException {
        if (Files.exists(out)) {
            throw new IOException(out + " already exists; choose a new file name or delete it first");
        }
        try (EmbeddingCache cache = EmbeddingCache.open(cacheDir)) {
            CacheHeader h = cache.header();
            Map<String, String> footer = new LinkedHashMap<>();
            footer.put(ParquetMetadataKeys.FORMAT, ParquetMetadataKeys.FORMAT_VALUE);
            footer.put(ParquetMetadataKeys.MODEL_SHA256, h.modelSha256());
            footer.put(ParquetMetadataKeys.MODEL_SOURCE, Objects.toString(h.modelSource(), ""));
            footer.put(ParquetMetadataKeys.PREPROCESSING, JSON.writeValueAsString(h.preprocessing()));
            footer.put(ParquetMetadataKeys.DIMENSION, Integer.toString(h.dimension()));
            Path tmp = out.resolveSibling("." + out.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            SimpleGroupFactory groups = new SimpleGroupFactory(EXPORT_SCHEMA);
            long n = 0;
            try (ParquetWriter<Group> writer = ExampleParquetWriter
                    .builder(HadoopOutputFile.fromPath(hadoop(tmp), new Configuration()))
                    .withType(EXPORT_SCHEMA).withExtraMetaData(footer)
                    .withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
                float[] v = new float[h.dimension()];
                for (CacheRow row : cache.rows()) {
                    Group g = groups.newGroup().append(VitfitSpark.PATH, row.path());
                    if (row.sha256() != null) {
                        g.append(VitfitSpark.SHA256, row.sha256());
                    }
                    g.append(VitfitSpark.SIZE, row.size());
                    Group labels = g.addGroup(LABELS);
                    for (String l : row.labels()) {
                        labels.addGroup("list").append("element", l);
                    }
                    if (row.split() != null) {
                        g.append(SPLIT, row.split());
                    }
                    cache.vector(row, v, 0);
                    Group e = g.addGroup(VitfitSpark.EMBEDDING);
                    for (float x : v) {
                        e.addGroup("list").append("element", x);
                    }
                    writer.write(g);
                    n++;
                }
            }
            // Hadoop's local file system leaves a .crc beside the file; it would go stale on rename
            Files.deleteIfExists(tmp.resolveSibling("." + tmp.getFileName() + ".crc"));
            Files.move(tmp, out, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return n;
        }
    }

    private static List<Path> parts(Path parquet) throws IOException {
        if (Files.isRegularFile(parquet)) {
            return List.of(parquet);
        }
        if (!Files.isDirectory(parquet)) {
            throw new java.nio.file.NoSuchFileException(parquet.toString(), null, "no Parquet file or directory there");
        }
        List<Path> parts = new ArrayList<>();
        FileSystem fs = FileSystem.getLocal(new Configuration());
        for (FileStatus s : fs.listStatus(hadoop(parquet))) {
            String name = s.getPath().getName();
            if (s.isFile() && name.endsWith(".parquet") && !name.startsWith("_") && !name.startsWith(".")) {
                parts.add(parquet.resolve(name));
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

    private static int readFloats(Group list, float[] dst) {
        int n = list.getFieldRepetitionCount(0);
        for (int i = 0; i < n && i < dst.length; i++) {
            Group element = list.getGroup(0, i);
            if (element.getFieldRepetitionCount(0) == 0) {
                throw new IllegalArgumentException("null element " + i + " in an embedding");
            }
            dst[i] = element.getFloat(0, 0);
        }
        return n;
    }

    private static String cachePath(String path, String stripPrefix) {
        if (stripPrefix == null) {
            return path;
        }
        String prefix = fileUri(stripPrefix.endsWith("/") ? stripPrefix : stripPrefix + "/");
        String p = fileUri(path);
        return p.startsWith(prefix) ? p.substring(prefix.length()) : path;
    }

    /** {@code file:///x} and {@code file:/x} (what Spark writes) name the same file. */
    private static String fileUri(String s) {
        return s.startsWith("file:///") ? "file:/" + s.substring("file:///".length()) : s;
    }

    private static List<String> labels(Group g, String path, boolean fromFolder) {
        GroupType t = g.getType();
        if (t.containsField(LABELS) && g.getFieldRepetitionCount(LABELS) > 0) {
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
        String single = optionalString(g, LABEL);
        if (single != null) {
            return List.of(single);
        }
        if (fromFolder) {
            String[] segments = path.split("/");
            if (segments.length >= 2) {
                return List.of(segments[segments.length - 2]);
            }
        }
        return List.of();
    }

    private static String optionalString(Group g, String field) {
        return g.getType().containsField(field) && g.getFieldRepetitionCount(field) > 0 ? g.getString(field, 0) : null;
    }

    private static long optionalLong(Group g, String field) {
        return g.getType().containsField(field) && g.getFieldRepetitionCount(field) > 0 ? g.getLong(field, 0) : 0;
    }
}
