package org.vitfit.eval;

/**
 * Figures of one label of a multi-label head: decisions at its threshold (precision, recall, F1, support) and the
 * ranking quality of its raw scores (ROC-AUC, average precision; null when the evaluated rows hold no positive, or
 * for ROC-AUC no negative, of the label, so the figure is undefined).
 */
public record LabelStats(String label, double threshold, double precision, double recall, double f1, long support,
                         Double rocAuc, Double averagePrecision) {
}
