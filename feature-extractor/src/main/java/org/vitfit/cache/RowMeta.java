package org.vitfit.cache;

import java.util.List;

/** What the writer needs to know about an image besides its vector: a {@link CacheRow} before it has a row. */
public record RowMeta(String path, String sha256, long size, List<String> labels, String split) {

    public RowMeta {
        labels = labels == null ? List.of() : List.copyOf(labels);
    }

    CacheRow atRow(long row) {
        return new CacheRow(row, path, sha256, size, labels, split);
    }
}
