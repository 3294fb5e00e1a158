package org.vitfit.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.RowMeta;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Small Parquet files of embeddings written directly with parquet-mr, with the footer identity of a made-up model:
 * rows with exactly the defects the import must catch, no Spark and no model needed.
 */
final class SyntheticParquet {

    static final int DIM = 4;
    static final String MODEL_SHA = "c".repeat(64);

    /** One row; null fields are written as nulls (or left out when the schema has no such column). */
    record R(String path, String sha256, Long size, List<String> labels, String split, float[] embedding,
             String error) {
        static R ok(String path, String... labels) {
            return new R(path, sha(path), (long) path.length(), List.of(labels), null, vector(path), null);
        }

        R withSha(String s) {
            return new R(path, s, size, labels, split, embedding, error);
        }

        R withEmbedding(float[] e) {
            return new R(path, sha256, size, labels, split, e, error);
        }

        R withLabels(List<String> l) {
            return new R(path, sha256, size, l, split, embedding, error);
        }
    }

    /** Which optional columns a file has. */
    record Columns(boolean sha256, boolean labels, boolean split) {
        static final Columns ALL = new Columns(true, true, true);
        static final Columns NO_LABELS = new Columns(true, false, true);
        static final Columns NO_SHA = new Columns(false, true, true);
    }

    private SyntheticParquet() {
    }

    static PreprocessRecipe recipe() {
        return new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255,
                List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5), false);
    }

    static CacheIdentity identity() {
        return new CacheIdentity(MODEL_SHA, "synthetic", recipe(), DIM, null);
    }

    static Map<String, String> footer() throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(ParquetMetadataKeys.FORMAT, ParquetMetadataKeys.FORMAT_VALUE);
        m.put(ParquetMetadataKeys.MODEL_SHA256, MODEL_SHA);
        m.put(ParquetMetadataKeys.MODEL_SOURCE, "synthetic");
        m.put(ParquetMetadataKeys.PREPROCESSING, new ObjectMapper().writeValueAsString(recipe()));
        m.put(ParquetMetadataKeys.DIMENSION, Integer.toString(DIM));
        return m;
    }

    static String sha(String name) {
        return Hashing.sha256(name.getBytes(StandardCharsets.UTF_8));
    }

    /** A deterministic vector per path. */
    static float[] vector(String name) {
        Random r = new Random(name.hashCode());
        float[] v = new float[DIM];
        for (int i = 0; i < DIM; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    static Path write(Path file, Columns c, List<R> rows) throws IOException {
        return write(file, c, rows, CompressionCodecName.SNAPPY);
    }

    static Path write(Path file, Columns c, List<R> rows, CompressionCodecName codec) throws IOException {
        MessageType schema = MessageTypeParser.parseMessageType("message spark_schema {\n"
                + "  optional binary path (STRING);\n"
                + (c.sha256() ? "  optional binary sha256 (STRING);\n" : "")
                + "  optional int64 size;\n"
                + (c.labels() ? "  optional group labels (LIST) { repeated group list { optional binary element (STRING); } }\n" : "")
                + (c.split() ? "  optional binary split (STRING);\n" : "")
                + "  optional group embedding (LIST) { repeated group list { optional float element; } }\n"
                + "  optional binary error (STRING);\n"
                + "}");
        SimpleGroupFactory groups = new SimpleGroupFactory(schema);
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(new LocalOutputFile(file)).withType(schema)
                .withExtraMetaData(footer()).withCompressionCodec(codec).build()) {
            for (R r : rows) {
                Group g = groups.newGroup();
                if (r.path() != null) {
                    g.append("path", r.path());
                }
                if (c.sha256() && r.sha256() != null) {
                    g.append("sha256", r.sha256());
                }
                if (r.size() != null) {
                    g.append("size", r.size());
                }
                if (c.labels() && r.labels() != null) {
                    Group l = g.addGroup("labels");
                    for (String s : r.labels()) {
                        l.addGroup("list").append("element", s);
                    }
                }
                if (c.split() && r.split() != null) {
                    g.append("split", r.split());
                }
                if (r.embedding() != null) {
                    Group e = g.addGroup("embedding");
                    for (float x : r.embedding()) {
                        e.addGroup("list").append("element", x);
                    }
                }
                if (r.error() != null) {
                    g.append("error", r.error());
                }
                w.write(g);
            }
        }
        return file;
    }

    /** A cache of the synthetic model holding {@code rows}, committed. */
    static void cache(Path dir, List<R> rows) throws IOException {
        try (CacheWriter w = CacheWriter.open(dir, identity())) {
            for (R r : rows) {
                w.append(new RowMeta(r.path(), r.sha256(), r.size(), r.labels(), r.split()), r.embedding(), 0);
            }
        }
    }
}
