package org.vitfit.heads;

import java.util.List;

/**
 * Rows known by their labels and split column: what {@link Splits} needs. An {@link EmbeddingSet} is one; fine-tuning
 * splits its images, which have no embeddings yet, through the same code.
 */
public interface LabelledRows {

    int size();

    List<String> labels(int row);

    /** The split column entry of {@code row}, or null (also when there is no split column). */
    String split(int row);

    boolean hasSplitColumn();

    /** Where the rows came from, for messages. */
    String source();

    /** "row 12 (cats/001.jpg)" for messages. */
    String describeRow(int row);
}
