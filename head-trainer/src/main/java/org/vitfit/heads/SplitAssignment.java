package org.vitfit.heads;

/**
 * Which rows of an {@link EmbeddingSet} train the head, which steer early stopping and threshold tuning, and which
 * are held out for the reported metrics. Each array is sorted; the three are disjoint.
 *
 * @param origin how the split was made, e.g. {@code "split column"} or {@code "stratified, seed 1"}
 */
public record SplitAssignment(int[] train, int[] validation, int[] test, String origin) {
}
