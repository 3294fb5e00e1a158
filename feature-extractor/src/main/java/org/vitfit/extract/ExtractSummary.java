package org.vitfit.extract;

import java.nio.file.Path;
import java.util.ArrayList;
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
 * @param deleted     rows marked deleted: pruned ones, and listed images whose bytes changed and no longer embed
 * @param pruned      of {@code deleted}, rows the listing does not name, deleted because {@code --prune} was given
 * @param prunedUnreadable of {@code deleted}, rows of listed images whose bytes could not be read, deleted because
 *                    {@code --prune} was given
 * @param keptOutside live rows the listing does not name, kept because {@code --prune} was not given
 * @param keptUnreadable live rows of listed images whose bytes could not be read this run (missing, unreadable,
 *                    broken link), kept because {@code --prune} was not given; counted in {@code failed} too
 * @param failed      images that could not be read, decoded or embedded (listed in the errors file)
 * @param cacheRows   live rows in the cache after the run
 * @param wallSeconds time from start to the final commit
 * @param device      where the model ran
 * @param errorsFile  the errors file (one JSON object per failed image)
 * @param recovery    what opening the cache repaired
 */
public record ExtractSummary(long listed, long processed, long embedded, long changed, long unchanged, long copied,
                             long deleted, long pruned, long prunedUnreadable, long keptOutside,
                             long keptUnreadable, long failed, long cacheRows,
                             double wallSeconds, String device, Path errorsFile, List<String> recovery) {

    public ExtractSummary {
        recovery = List.copyOf(recovery);
    }

    /** Images through the model per second of wall time. */
    public double imagesPerSecond() {
        return wallSeconds > 0 ? embedded / wallSeconds : 0;
    }

    /** Images looked at (hashed, compared, embedded or failed) per second of wall time. */
    public double checkedPerSecond() {
        return wallSeconds > 0 ? processed / wallSeconds : 0;
    }

    /** Human-readable lines for the end of a run. */
    public List<String> describe() {
        List<String> lines = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "embedded %d images (%d changed), skipped %d unchanged, copied %d, "
                + "deleted %d, failed %d", embedded, changed, unchanged, copied, deleted, failed)
                + (keptUnreadable > 0 ? " (" + keptUnreadable + " kept their cached rows: unreadable now)" : ""));
        if (keptOutside > 0) {
            lines.add(String.format(Locale.ROOT, "kept %d cached rows that this listing does not name (from another "
                    + "--input, --include or a removed file); pass --prune to delete them", keptOutside));
        }
        if (keptUnreadable > 0) {
            lines.add(String.format(Locale.ROOT, "kept %d cached rows of listed images that cannot be read now "
                    + "(missing, unreadable or a broken link; see %s): their vectors stay until the files can be read "
                    + "again; pass --prune to delete them", keptUnreadable, errorsFile));
        }
        if (pruned > 0) {
            lines.add(String.format(Locale.ROOT, "pruned %d cached rows that this listing does not name (--prune)",
                    pruned));
        }
        if (prunedUnreadable > 0) {
            lines.add(String.format(Locale.ROOT, "pruned %d cached rows of listed images that cannot be read now "
                    + "(--prune)", prunedUnreadable));
        }
        // A run that embedded nothing is not slow: say how fast it checked instead of "0.0 img/s".
        String rate = embedded > 0
                ? String.format(Locale.ROOT, "%.1f img/s on %s", imagesPerSecond(), device)
                : String.format(Locale.ROOT, "nothing to embed, checked %d images at %.1f img/s on %s", processed,
                checkedPerSecond(), device);
        lines.add(String.format(Locale.ROOT, "wall time %.1f s, %s; cache holds %d rows", wallSeconds, rate,
                cacheRows));
        lines.add(failed > 0 ? "failed images and reasons: " + errorsFile : "no failed images");
        return lines;
    }
}
