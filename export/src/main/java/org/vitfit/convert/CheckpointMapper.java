package org.vitfit.convert;

import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.runtime.Finite;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reads a checkpoint through a {@link FamilyTable} into {@link VitParameters}, checking every tensor's
 * shape against the architecture and that no tensor is left over (a leftover usually means config.json
 * describes another model).
 */
final class CheckpointMapper {

    private final Checkpoint checkpoint;
    private final FamilyTable table;
    private final String prefix;
    private final Set<String> used = new HashSet<>();

    CheckpointMapper(Checkpoint checkpoint, FamilyTable table) throws ConversionException {
        this.checkpoint = checkpoint;
        this.table = table;
        this.prefix = findPrefix(checkpoint, table);
    }

    private static String findPrefix(Checkpoint checkpoint, FamilyTable table) throws ConversionException {
        for (String p : table.prefixes()) {
            if (checkpoint.names().contains(p + table.patch() + ".weight")) {
                return p;
            }
        }
        throw new ConversionException("checkpoint " + checkpoint.files().get(0).getParent() + " has no tensor named "
                + table.prefixes().stream().map(p -> "'" + p + table.patch() + ".weight'").toList()
                + ": its config.json says " + table.family() + " but the weights are laid out differently");
    }

    /** Number of blocks the checkpoint holds, counted from its tensor names. */
    int countBlocks() {
        int n = 0;
        while (checkpoint.names().contains(prefix + String.format(table.block(), n) + table.norm1() + ".weight")) {
            n++;
        }
        return n;
    }

    boolean has(String relativeName) {
        return relativeName != null && checkpoint.names().contains(prefix + relativeName);
    }

    boolean hasOutside(String name) {
        return name != null && checkpoint.names().contains(name);
    }

    long[] shape(String relativeName) throws IOException {
        return checkpoint.shape(prefix + relativeName);
    }

    VitParameters map(VitSpec s) throws IOException {
        int d = s.hiddenSize();
        int c = s.channels();
        int p = s.patchSize();
        Tensor patchW = tensor(prefix + table.patch() + ".weight", d, c, p, p);
        Tensor patchB = table.patchHasBias() ? tensor(prefix + table.patch() + ".bias", d) : null;

        Tensor cls = tensor(prefix + table.classToken());
        if (cls.data().length != d) {
            throw shapeError(prefix + table.classToken(), cls.shape(), "[1, 1, " + d + "]");
        }
        cls = cls.reshape(1, 1, d);
        Tensor registers = null;
        if (s.numRegisterTokens() > 0) {
            registers = tensor(prefix + table.registerTokens(), 1, s.numRegisterTokens(), d);
        }
        Tensor positions = positions(s);

        VitParameters.Norm preNorm = table.preNorm() != null && has(table.preNorm() + ".weight")
                ? norm(prefix + table.preNorm(), d) : null;

        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < s.numLayers(); i++) {
            String b = prefix + String.format(table.block(), i);
            VitParameters.Linear qkv;
            if (table.qkv() != null) {
                qkv = linear(b + table.qkv(), d, 3 * d);
            } else {
                Tensor qw = tensor(b + table.q() + ".weight", d, d);
                Tensor kw = tensor(b + table.k() + ".weight", d, d);
                Tensor vw = tensor(b + table.v() + ".weight", d, d);
                Tensor qkvW = Tensor.concat0(qw, kw, vw).transpose2d();
                Tensor qkvB = checkpoint.names().contains(b + table.q() + ".bias")
                        ? Tensor.concat0(tensor(b + table.q() + ".bias", d), tensor(b + table.k() + ".bias", d),
                                tensor(b + table.v() + ".bias", d))
                        : null;
                qkv = new VitParameters.Linear(qkvW, qkvB);
            }
            Tensor ls1 = optional(b, table.layerScale1(), d);
            Tensor ls2 = optional(b, table.layerScale2(), d);
            blocks.add(new VitParameters.Block(
                    norm(b + table.norm1(), d), qkv, linear(b + table.proj(), d, d), ls1,
                    norm(b + table.norm2(), d), linear(b + table.fc1(), d, s.mlpDim()),
                    linear(b + table.fc2(), s.mlpDim(), d), ls2));
        }
        VitParameters.Norm finalNorm = norm(prefix + table.finalNorm(), d);

        VitParameters.Linear head = null;
        if (hasOutside(table.head() + ".weight")) {
            long[] hs = checkpoint.shape(table.head() + ".weight");
            int in = s.headOnClsAndPatchMean() ? 2 * d : d;
            if (hs.length != 2 || hs[1] != in) {
                throw shapeError(table.head() + ".weight", hs, "[classes, " + in + "]");
            }
            head = linear(table.head(), in, (int) hs[0]);
        }
        VitParameters.Linear pooler = table.pooler() != null && has(table.pooler() + ".weight")
                ? linear(prefix + table.pooler(), d, d) : null;
        Tensor projection = null;
        if (hasOutside(table.projection())) {
            long[] ps = checkpoint.shape(table.projection());
            if (ps.length != 2 || ps[1] != d) {
                throw shapeError(table.projection(), ps, "[projection_dim, " + d + "]");
            }
            projection = tensor(table.projection()).transpose2d();
        }
        checkAllUsed();
        return new VitParameters(s, patchW, patchB, cls, registers, positions, preNorm, blocks, finalNorm,
                head, pooler, projection);
    }

    private Tensor positions(VitSpec s) throws IOException {
        String name = prefix + table.positions();
        Tensor pos = tensor(name);
        int d = s.hiddenSize();
        long total = pos.data().length / d;
        if (pos.data().length % d != 0) {
            throw shapeError(name, pos.shape(), "[1, tokens, " + d + "]");
        }
        int prefixTokens = s.posEmbedSkipsPrefix() ? 0 : 1 + s.numRegisterTokens();
        int wanted = prefixTokens + s.numPatches();
        int have = (int) total - prefixTokens;
        boolean square = s.gridHeight() == s.gridWidth();
        // transformers' DINOv2 resamples whenever the grid differs or the input is not square.
        boolean resample = "dinov2".equals(s.family()) ? (have != s.numPatches() || !square) : false;
        if (!resample) {
            if (total != wanted) {
                throw new ConversionException(name + " in " + checkpoint.files().get(0) + " holds " + total
                        + " positions but a " + s.imageHeight() + "x" + s.imageWidth() + " input with patch "
                        + s.patchSize() + " needs " + wanted + "; convert at the image size the checkpoint was "
                        + "trained at (--image-size " + (int) Math.round(Math.sqrt(have)) * s.patchSize() + ")");
            }
            return pos.reshape(1, wanted, d);
        }
        int side = (int) Math.round(Math.sqrt(have));
        if (side * side != have) {
            throw new ConversionException(name + ": " + have + " patch positions do not form a square grid");
        }
        float[] grid = Arrays.copyOfRange(pos.data(), prefixTokens * d, pos.data().length);
        float[] resized = PositionInterpolation.bicubic(grid, side, side, d, s.gridHeight(), s.gridWidth());
        float[] out = new float[wanted * d];
        System.arraycopy(pos.data(), 0, out, 0, prefixTokens * d);
        System.arraycopy(resized, 0, out, prefixTokens * d, resized.length);
        return new Tensor(out, new long[] {1, wanted, d});
    }

    /** A per-block tensor the family may or may not have (layer scale): null when the table or checkpoint lacks it. */
    private Tensor optional(String blockPrefix, String relativeName, int d) throws IOException {
        if (relativeName == null || !checkpoint.names().contains(blockPrefix + relativeName)) {
            return null;
        }
        return tensor(blockPrefix + relativeName, d);
    }

    private VitParameters.Norm norm(String module, int d) throws IOException {
        return new VitParameters.Norm(tensor(module + ".weight", d), tensor(module + ".bias", d));
    }

    /** Reads a PyTorch Linear [out, in] and returns it as [in, out] for MatMul. */
    private VitParameters.Linear linear(String module, int in, int out) throws IOException {
        Tensor w = tensor(module + ".weight", out, in).transpose2d();
        Tensor b = checkpoint.names().contains(module + ".bias") ? tensor(module + ".bias", out) : null;
        return new VitParameters.Linear(w, b);
    }

    private Tensor tensor(String name, long... expected) throws IOException {
        if (!checkpoint.names().contains(name)) {
            throw new ConversionException("checkpoint " + checkpoint.files().get(0).getParent()
                    + " is missing tensor '" + name + "' that a " + table.family()
                    + " model with this config.json needs; is the checkpoint complete and the config the right one?");
        }
        long[] shape = checkpoint.shape(name);
        if (expected.length > 0 && !Arrays.equals(shape, expected)) {
            throw shapeError(name, shape, Arrays.toString(expected));
        }
        used.add(name);
        float[] data = checkpoint.floats(name);
        int bad = Finite.firstNonFinite(data);
        if (bad >= 0) {
            throw new ConversionException("tensor '" + name + "' in " + checkpoint.files().get(0).getParent()
                    + " holds " + data[bad] + " at index " + bad + " of " + data.length + "; the checkpoint is damaged "
                    + "or its training diverged, and vitfit does not convert non-finite weights");
        }
        return new Tensor(data, shape);
    }

    private ConversionException shapeError(String name, long[] actual, String expected) {
        return new ConversionException("tensor '" + name + "' in " + checkpoint.files().get(0).getParent()
                + " has shape " + Arrays.toString(actual) + " but config.json implies " + expected
                + "; the config and the weights do not belong together");
    }

    private void checkAllUsed() throws ConversionException {
        Set<String> extra = new TreeSet<>();
        for (String name : checkpoint.names()) {
            if (used.contains(name)) {
                continue;
            }
            boolean ignorable = table.ignoredPrefixes().stream().anyMatch(p -> name.startsWith(p) || name.startsWith(prefix + p));
            if (!ignorable) {
                extra.add(name);
            }
        }
        if (!extra.isEmpty()) {
            List<String> shown = extra.stream().limit(8).toList();
            throw new ConversionException("checkpoint " + checkpoint.files().get(0).getParent() + " has "
                    + extra.size() + " tensor(s) a " + table.family() + " model with this config.json does not use, e.g. "
                    + shown + "; the config probably describes another architecture (fewer layers, no head?)");
        }
    }
}
