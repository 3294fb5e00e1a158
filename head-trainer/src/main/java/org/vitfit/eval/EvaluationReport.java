package org.vitfit.eval;

/** Metrics of a head on one split; written to {@code metrics.json} and printed as a table. */
public sealed interface EvaluationReport permits ClassificationReport, MultiLabelReport {

    /** Which split (or cache) was evaluated. */
    String split();

    /** Number of examples evaluated. */
    int examples();

    /** One line: the headline metric, e.g. "accuracy 0.912". */
    String headline();

    /** A readable multi-line table. */
    String toTable();
}
