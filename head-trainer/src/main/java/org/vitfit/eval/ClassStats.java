package org.vitfit.eval;

/** Precision, recall, F1 and support of one class or label. */
public record ClassStats(String label, double precision, double recall, double f1, long support) {
}
