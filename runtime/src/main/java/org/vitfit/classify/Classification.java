package org.vitfit.classify;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The classifier's answer for one image: every label's probability, the raw logits, and the labels it decides on.
 *
 * @param labels        label names, column order of the arrays
 * @param probabilities softmax (multi-class) or per-label sigmoid (multi-label) of {@code logits}
 * @param logits        the head's last layer before softmax/sigmoid
 * @param activeLabels  multi-class: the most probable label; multi-label: every label whose probability exceeds its
 *                      tuned threshold (possibly none), in label order
 */
public record Classification(List<String> labels, float[] probabilities, float[] logits, List<String> activeLabels) {

    /**
     * One label and its probability.
     *
     * @param index position in {@link #labels()}
     */
    public record ScoredLabel(int index, String label, float score) {
    }

    /** The {@code k} most probable labels, most probable first (ties keep label order). */
    public List<ScoredLabel> top(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be >= 1, got " + k);
        }
        List<ScoredLabel> all = new ArrayList<>(probabilities.length);
        for (int i = 0; i < probabilities.length; i++) {
            all.add(new ScoredLabel(i, labels.get(i), probabilities[i]));
        }
        all.sort(Comparator.comparingDouble(ScoredLabel::score).reversed());
        return List.copyOf(all.subList(0, Math.min(k, all.size())));
    }

    /** The most probable label. */
    public ScoredLabel best() {
        return top(1).get(0);
    }

    /** The probability of {@code label}. */
    public float probability(String label) {
        int i = labels.indexOf(label);
        if (i < 0) {
            throw new IllegalArgumentException("unknown label '" + label + "'; labels are " + labels);
        }
        return probabilities[i];
    }
}
