package org.vitfit.heads;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Small labelled embedding sets with known structure, so head tests do not need the extractor. */
final class Synthetic {

    private Synthetic() {
    }

    /** {@code perClass} Gaussian points around each of {@code classes} random centres, noise 1, centres ~N(0, spread). */
    static EmbeddingSet blobs(int classes, int perClass, int dim, double spread, long seed) {
        Random rng = new Random(seed);
        double[][] centres = new double[classes][dim];
        for (double[] c : centres) {
            for (int j = 0; j < dim; j++) {
                c[j] = rng.nextGaussian() * spread + 3;
            }
        }
        int n = classes * perClass;
        float[] data = new float[n * dim];
        List<List<String>> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int c = i % classes;
            for (int j = 0; j < dim; j++) {
                data[i * dim + j] = (float) (centres[c][j] + rng.nextGaussian());
            }
            labels.add(List.of("class" + c));
        }
        return new EmbeddingSet(data, dim, labels, null, null, "0123abcd", "synthetic blobs");
    }

    /**
     * Multi-label data: label j is present when the projection of x on a random direction u_j exceeds a per-label
     * offset, so labels are linearly decidable, overlap, and have different frequencies.
     */
    static EmbeddingSet multiLabel(int n, int labels, int dim, long seed) {
        Random rng = new Random(seed);
        double[][] dirs = new double[labels][dim];
        for (double[] u : dirs) {
            for (int j = 0; j < dim; j++) {
                u[j] = rng.nextGaussian() / Math.sqrt(dim);
            }
        }
        float[] data = new float[n * dim];
        List<List<String>> sets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < dim; j++) {
                data[i * dim + j] = (float) (rng.nextGaussian() * 2 + 1);
            }
            List<String> l = new ArrayList<>();
            for (int k = 0; k < labels; k++) {
                double p = 0;
                for (int j = 0; j < dim; j++) {
                    p += dirs[k][j] * (data[i * dim + j] - 1);
                }
                if (p > 0.3 * k - 0.5) {
                    l.add("label" + k);
                }
            }
            sets.add(l);
        }
        return new EmbeddingSet(data, dim, sets, null, null, "0123abcd", "synthetic multi-label");
    }
}
