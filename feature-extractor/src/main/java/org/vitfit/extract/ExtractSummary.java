package org.vitfit.extract;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What one run did.
 *
 * @param listed      images the input names (after include/exclude)
 * @param processed   images looked at this run (after --limit)
 * @param embedded    images run through the model: new ones and ones whose content changed
 * @param changed     of {@code embedded}, images whose previous row was replaced because their bytes changed
 * @param unchanged   images skipped because the cache already holds them with the same content and labels
 * @param copied      images whose vector was copied from a row with identical content (relabelled, moved, duplicate)
 * @param deleted     rows marked deleted because their image left the input or can no longer be decoded
 * @param failed      images that could not be read or decoded (listed in the errors file)
 * @param cacheRows   live rows in the cache after the run
 * @param wallSeconds time from start to the final commit
 * @param device      where the model ran
 * @param errorsFile  the errors file (one JSON object per failed image)
 * @param recovery    what opening the cache repaired
 */
public record ExtractSummary(long listed, long processed, long embedded, long changed, long unchanged, long copied,
                             long deleted, long failed, long cacheRows, double wallSeconds, String device,
                             Path errorsFile, List<String> recovery) {

    public ExtractSummary {
        recovery = List.copyOf(recovery);
    }

    /** Images through the model per second of wall time. */
    public double imagesPerSecond() {
        return wallSeconds > 0 ? embedded / wallSeconds : 0;
    }

    /** Human-readable lines for the end of a run. */
    public List<String> describe() {
        return List.of(
                String.format(Locale.ROOT, "embedded %d images (%d changed), skipped %d unchanged, copied %d, "
                        + "deleted %d, failed %d", embedded, changed, unchanged, copied, deleted, failed),
                String.format(Locale.ROOT, "wall time %.1f s, %.1f img/s on %s; cache holds %d rows", wallSeconds,
                        imagesPerSecond(), device, cacheRows),
                failed > 0 ? "failed images and reasons: " + errorsFile : "no failed images");
    }
}
