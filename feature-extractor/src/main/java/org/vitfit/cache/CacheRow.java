package org.vitfit.cache;

import java.util.List;

/**
 * One image in the cache.
 *
 * @param row    position of the vector in the vectors file (and of the line in the index); stable while a
 *               cache is open, renumbered when the cache is compacted
 * @param path   the image path relative to the input root ({@code /}-separated), or as the manifest wrote it
 * @param sha256 sha256 of the file's bytes when it was embedded
 * @param size   file size in bytes
 * @param labels labels from the folder name or manifest; empty for unlabelled images
 * @param split  {@code train}/{@code val}/... from the manifest, or null
 */
public record CacheRow(long row, String path, String sha256, long size, List<String> labels, String split) {

    public CacheRow {
        labels = labels == null ? List.of() : List.copyOf(labels);
    }
}
