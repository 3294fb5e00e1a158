package org.vitfit.finetune;

import org.vitfit.cache.CacheIdentity;
import org.vitfit.cache.CacheRow;
import org.vitfit.cache.CacheWriter;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.cache.RowMeta;
import org.vitfit.cache.VectorDtype;
import org.vitfit.preprocess.PreprocessRecipe;

import ai.onnxruntime.OrtException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the frozen prefix computes for each image, computed once and kept on disk, so that when nothing is
 * augmented the epochs after the first run only the trainable part. It is an embedding cache (the extractor's
 * format, writer and reader: append-only files, a CRC-32C per row checked on open, a header committed atomically,
 * a writer lock), whose "embedding" is the prefix output ([T, D] tokens, or the embedding itself when only the
 * classifier trains) and whose identity ties it to the checkpoint's weights, the block where the prefix stops, the
 * vitfit version and the preprocessing recipe. Rows are keyed by image path and content sha256: an interrupted fill
 * resumes where it stopped, and a replaced image is recomputed.
 */
final class PrefixCache implements AutoCloseable {

    private final EmbeddingCache cache;
    /** The cache row of each image of the data set, null where not needed. */
    private final CacheRow[] rowOf;
    private final int dimension;

    private PrefixCache(EmbeddingCache cache, CacheRow[] rowOf) {
        this.cache = cache;
        this.rowOf = rowOf;
        this.dimension = cache.dimension();
    }

    /**
     * Opens the cache in {@code dir}, computing the rows {@code needed} (indices into {@code data}) it lacks with
     * {@code prefix} on un-augmented images from {@code pixels}, {@code batch} at a time.
     */
    static PrefixCache fill(Path dir, LabelledImages data, int[] needed, FrozenPrefix prefix, PixelBatches pixels,
                            PreprocessRecipe recipe, int batch, PrintStream log) throws IOException, OrtException {
        CacheIdentity identity = new CacheIdentity(prefix.identity(), "vitfit finetune frozen prefix", recipe,
                prefix.floatsPerRow(), VectorDtype.F32);
        try (CacheWriter writer = CacheWriter.open(dir, identity)) {
            List<Integer> missing = new ArrayList<>();
            for (int r : needed) {
                LabelledImages.Image img = data.image(r);
                if (writer.liveRow(img.path()).filter(c -> c.sha256().equals(img.sha256())).isEmpty()) {
                    missing.add(r);
                }
            }
            if (!missing.isEmpty()) {
                long t0 = System.nanoTime();
                log.printf(Locale.ROOT, "computing the frozen layers once for %d images (%.1f MB on disk in %s)%n",
                        missing.size(), missing.size() * (double) prefix.floatsPerRow() * Float.BYTES / 1e6, dir);
                FloatBuffer in = TrainingSession.direct(batch * pixels.floatsPerImage());
                float[] out = new float[batch * prefix.floatsPerRow()];
                for (int from = 0; from < missing.size(); from += batch) {
                    int n = Math.min(batch, missing.size() - from);
                    int[] rows = missing.subList(from, from + n).stream().mapToInt(Integer::intValue).toArray();
                    FloatBuffer view = TrainingSession.view(in, n * pixels.floatsPerImage());
                    pixels.fill(rows, view, 0, 0);
                    try (FrozenPrefix.Output o = prefix.run(view, pixels.shape(n))) {
                        o.tensor().getFloatBuffer().get(out, 0, n * prefix.floatsPerRow());
                    }
                    for (int i = 0; i < n; i++) {
                        LabelledImages.Image img = data.image(rows[i]);
                        writer.append(new RowMeta(img.path(), img.sha256(), img.size(), List.of(), null), out,
                                i * prefix.floatsPerRow());
                    }
                    writer.commit();
                }
                log.printf(Locale.ROOT, "frozen layers computed in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            }
        }
        EmbeddingCache cache = EmbeddingCache.open(dir);
        CacheRow[] rowOf = new CacheRow[data.size()];
        for (int r : needed) {
            LabelledImages.Image img = data.image(r);
            CacheRow row = cache.row(img.path()).filter(c -> c.sha256().equals(img.sha256())).orElseThrow(
                    () -> new IOException(dir + " lacks the frozen-layer output of " + img.path()
                            + " right after computing it; delete the directory and re-run"));
            rowOf[r] = row;
        }
        return new PrefixCache(cache, rowOf);
    }

    /** Copies the cached outputs of {@code rows} into {@code dst} (row-major, one image after the other). */
    void read(int[] rows, float[] dst) {
        for (int i = 0; i < rows.length; i++) {
            CacheRow at = rowOf[rows[i]];
            if (at == null) {
                throw new IllegalStateException("image row " + rows[i] + " was not cached");
            }
            cache.vector(at, dst, i * dimension);
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
