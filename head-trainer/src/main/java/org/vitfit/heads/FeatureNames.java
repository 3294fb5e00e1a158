package org.vitfit.heads;

import org.tribuo.Output;
import org.tribuo.impl.ArrayExample;

/**
 * Tribuo identifies features by name and orders them by name; embedding component {@code j} is named with zero
 * padding ({@code f0000}, {@code f0001}, ...) so that name order is component order, which keeps Tribuo's feature
 * ids, the MLP's input layout and the ONNX input columns the same.
 */
final class FeatureNames {

    private FeatureNames() {
    }

    static String[] of(int dimension) {
        int width = Math.max(4, Integer.toString(dimension - 1).length());
        String[] names = new String[dimension];
        for (int j = 0; j < dimension; j++) {
            names[j] = "f" + "0".repeat(width - Integer.toString(j).length()) + j;
        }
        return names;
    }

    /** A dense Tribuo example of {@code d} floats of {@code x} from {@code offset}. */
    static <T extends Output<T>> ArrayExample<T> example(T output, String[] names, float[] x, int offset, int d) {
        double[] values = new double[d];
        for (int j = 0; j < d; j++) {
            values[j] = x[offset + j];
        }
        return new ArrayExample<>(output, names, values);
    }
}
