package org.vitfit.runtime;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Softmax over logits and the k most probable labels. */
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
        double[] p = softmax(logits);
        List<Entry> all = new ArrayList<>(p.length);
        for (int i = 0; i < p.length; i++) {
            all.add(new Entry(i, labels.get(i), p[i]));
        }
        all.sort(Comparator.comparingDouble(Entry::score).reversed());
        return List.copyOf(all.subList(0, Math.min(k, all.size())));
    }
}
