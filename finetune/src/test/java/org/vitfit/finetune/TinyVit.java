package org.vitfit.finetune;

import org.vitfit.convert.Tensor;
import org.vitfit.convert.VitParameters;
import org.vitfit.convert.VitSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Small random ViTs (8x8 images, 4x4 patches, width 8) for gradient and optimiser tests. */
final class TinyVit {

    static final int CLASSES = 3;

    private TinyVit() {
    }

    /** Every optional part switched by the arguments; values random but seeded. */
    static VitParameters create(VitSpec.Activation activation, boolean layerScale, int registers,
                                boolean posSkipsPrefix, boolean preNorm, boolean clip, boolean patchBias, long seed) {
        VitSpec s = new VitSpec("tiny", "test", 3, 8, 8, 4, 8, 2, 2, 16, 1e-6, activation, registers,
                posSkipsPrefix, clip, false);
        Random r = new Random(seed);
        int d = s.hiddenSize();
        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < s.numLayers(); i++) {
            blocks.add(new VitParameters.Block(norm(r, d), linear(r, d, 3 * d), linear(r, d, d),
                    layerScale ? rand(r, 0.5, d) : null, norm(r, d), linear(r, d, s.mlpDim()), linear(r, s.mlpDim(), d),
                    layerScale ? rand(r, 0.5, d) : null));
        }
        int positions = posSkipsPrefix ? s.numPatches() : s.numTokens();
        return new VitParameters(s, rand(r, 0.3, d, 3, 4, 4), patchBias ? rand(r, 0.1, d) : null,
                rand(r, 0.5, 1, 1, d), registers > 0 ? rand(r, 0.5, 1, registers, d) : null, rand(r, 0.5, 1, positions, d),
                preNorm ? norm(r, d) : null, blocks, norm(r, d), null, null, clip ? rand(r, 0.4, d, 6) : null);
    }

    /** A head on the embedding (width 8, or 6 after a CLIP projection). */
    static VitParameters.Linear head(VitParameters p, long seed) {
        Random r = new Random(seed);
        int in = p.projection() != null ? (int) p.projection().dim(1) : p.spec().hiddenSize();
        return linear(r, in, CLASSES);
    }

    static float[] pixels(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 3 * 8 * 8];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    private static VitParameters.Norm norm(Random r, int d) {
        Tensor w = rand(r, 0.2, d);
        for (int i = 0; i < d; i++) {
            w.data()[i] += 1f;
        }
        return new VitParameters.Norm(w, rand(r, 0.1, d));
    }

    private static VitParameters.Linear linear(Random r, int in, int out) {
        return new VitParameters.Linear(rand(r, 1 / Math.sqrt(in), in, out), rand(r, 0.1, out));
    }

    private static Tensor rand(Random r, double std, long... shape) {
        long n = 1;
        for (long v : shape) {
            n *= v;
        }
        float[] data = new float[(int) n];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (std * r.nextGaussian());
        }
        return new Tensor(data, shape);
    }
}
