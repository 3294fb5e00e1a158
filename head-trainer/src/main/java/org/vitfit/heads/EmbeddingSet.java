package org.vitfit.heads;

import org.vitfit.cache.CacheRow;
import org.vitfit.cache.EmbeddingCache;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Embeddings held in memory for training and evaluation: one row-major float matrix plus, per row, its labels, its
 * split name (or null) and its image path. Built from an {@link EmbeddingCache} or directly (tests, other sources).
 * Construction rejects NaN and infinite components, naming the row, so nothing downstream has to.
 */
public final class EmbeddingSet implements LabelledRows {

    private final float[] data;
    private final int dimension;
    private final int size;
    private final List<List<String>> labels;
    private final List<String> splits;
    private final List<String> paths;
    private final String modelSha256;
    private final String source;

    /**
     * @param data        {@code [size][dimension]} row-major
     * @param labels      per row; empty lists for unlabelled rows
     * @param splits      per row {@code train}/{@code val}/{@code validation}/{@code test} or null; or null for none
     * @param paths       per row image path, or null to number the rows
     * @param modelSha256 sha256 of the backbone that produced the embeddings, or null when unknown
     * @param source      where the embeddings came from, for error messages and provenance
     */
    public EmbeddingSet(float[] data, int dimension, List<List<String>> labels, List<String> splits, List<String> paths,
                        String modelSha256, String source) {
        if (dimension < 1) {
            throw new IllegalArgumentException("embedding dimension must be >= 1, got " + dimension);
        }
        if (data.length % dimension != 0) {
            throw new IllegalArgumentException(data.length + " floats do not make whole rows of dimension " + dimension);
        }
        this.data = data;
        this.dimension = dimension;
        this.size = data.length / dimension;
        this.source = source == null ? "in-memory embeddings" : source;
        if (labels.size() != size) {
            throw new IllegalArgumentException(this.source + ": " + size + " vectors but " + labels.size() + " label lists");
        }
        if (splits != null && splits.size() != size) {
            throw new IllegalArgumentException(this.source + ": " + size + " vectors but " + splits.size() + " split entries");
        }
        if (paths != null && paths.size() != size) {
            throw new IllegalArgumentException(this.source + ": " + size + " vectors but " + paths.size() + " paths");
        }
        List<List<String>> copied = new ArrayList<>(size);
        for (List<String> l : labels) {
            copied.add(l == null ? List.of() : List.copyOf(l));
        }
        this.labels = List.copyOf(copied);
        this.splits = splits == null ? null : java.util.Collections.unmodifiableList(new ArrayList<>(splits));
        this.paths = paths == null ? null : List.copyOf(paths);
        this.modelSha256 = modelSha256;
        for (int i = 0; i < data.length; i++) {
            if (!Float.isFinite(data[i])) {
                int row = i / dimension;
                throw new IllegalArgumentException(this.source + ": embedding of " + describeRow(row) + " has "
                        + data[i] + " at component " + (i % dimension) + "; re-extract that image (the cache or the "
                        + "model produced a non-finite value)");
            }
        }
    }

    /** Reads every live row of the cache at {@code dir} into memory. */
    public static EmbeddingSet fromCache(Path dir) throws IOException {
        try (EmbeddingCache cache = EmbeddingCache.open(dir)) {
            return fromCache(cache);
        }
    }

    /** Reads every live row of {@code cache} into memory. */
    public static EmbeddingSet fromCache(EmbeddingCache cache) {
        List<CacheRow> rows = cache.rows();
        int d = cache.dimension();
        if ((long) rows.size() * d > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("cache " + cache.directory() + " holds " + rows.size() + " x " + d
                    + " floats, more than one Java array can hold; train on a subset");
        }
        float[] data = new float[rows.size() * d];
        List<List<String>> labels = new ArrayList<>(rows.size());
        List<String> splits = new ArrayList<>(rows.size());
        List<String> paths = new ArrayList<>(rows.size());
        boolean anySplit = false;
        for (int i = 0; i < rows.size(); i++) {
            CacheRow row = rows.get(i);
            cache.vector(row, data, i * d);
            labels.add(row.labels());
            splits.add(row.split());
            anySplit |= row.split() != null;
            paths.add(row.path());
        }
        return new EmbeddingSet(data, d, labels, anySplit ? splits : null, paths, cache.header().modelSha256(),
                "cache " + cache.directory());
    }

    @Override
    public int size() {
        return size;
    }

    public int dimension() {
        return dimension;
    }

    /** The backing matrix, {@code [size][dimension]}; callers must not modify it. */
    float[] data() {
        return data;
    }

    public float[] vector(int row) {
        return Arrays.copyOfRange(data, row * dimension, (row + 1) * dimension);
    }

    @Override
    public List<String> labels(int row) {
        return labels.get(row);
    }

    /** The split column entry of {@code row}, or null (also when the set has no split column). */
    @Override
    public String split(int row) {
        return splits == null ? null : splits.get(row);
    }

    @Override
    public boolean hasSplitColumn() {
        return splits != null;
    }

    public String path(int row) {
        return paths == null ? "#" + row : paths.get(row);
    }

    public String modelSha256() {
        return modelSha256;
    }

    @Override
    public String source() {
        return source;
    }

    /** "row 12 (cats/001.jpg)" for error messages. */
    @Override
    public String describeRow(int row) {
        return paths == null ? "row " + row : "row " + row + " (" + paths.get(row) + ")";
    }
}
