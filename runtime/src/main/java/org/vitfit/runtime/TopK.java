package org.vitfit.runtime;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Softmax (or, for multi-label logits, per-label sigmoid) over logits and the k highest-scoring labels. */
public final class TopK {

    private TopK() {
    }

    public record Entry(int index, String label, double score) {
    }

    public static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    public static List<Entry> ofSoftmax(float[] logits, List<String> labels, int k) {
        return top(softmax(logits), labels, k);
    }

    /** Independent probabilities of multi-label logits: 1 / (1 + e^-z) per label. */
    public static double[] sigmoid(float[] logits) {
        double[] p = new double[logits.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = 1 / (1 + Math.exp(-logits[i]));
        }
        return p;
    }

    public static List<Entry> ofSigmoid(float[] logits, List<String> labels, int k) {
        return top(sigmoid(logits), labels, k);
    }

    private static List<Entry> top(double[] p, List<String> labels, int k) {
        List<Entry> all = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            all.add(new Entry(i, labels.get(i), p[i]));
        }
        all.sort(Comparator.comparingDouble(Entry::score).reversed());
        return List.copyOf(all.subList(0, Math.min(k, all.size())));
    }
}
