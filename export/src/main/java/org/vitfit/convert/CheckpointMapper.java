package org.vitfit.convert;

import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.convert.safetensors.TensorInfo;
import org.vitfit.runtime.Finite;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
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

    /** The names this mapper reads the checkpoint with. */
    FamilyTable table() {
        return table;
    }

    /** Number of blocks the checkpoint holds, counted from its tensor names. */
    int countBlocks() {
        int n = 0;
        while (checkpoint.names().contains(prefix + String.format(table.block(), n) + table.norm1() + ".weight")) {
            n++;
        }
        return n;
    }

    /** Swin: number of stages, counted from the first block of each. */
    int countStages() {
        int n = 0;
        while (checkpoint.names().contains(prefix + String.format(table.block(), n, 0) + table.norm1() + ".weight")) {
            n++;
        }
        return n;
    }

    /** Swin: number of blocks in {@code stage}. */
    int countBlocks(int stage) {
        int n = 0;
        while (checkpoint.names().contains(prefix + String.format(table.block(), stage, n) + table.norm1() + ".weight")) {
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
        if (s.swin() != null) {
            return mapSwin(s);
        }
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
        Tensor distillation = null;
        if (s.distillationToken()) {
            distillation = tensor(prefix + table.distillationToken(), 1, 1, d);
        }
        Tensor registers = null;
        if (s.numRegisterTokens() > 0) {
            registers = tensor(prefix + table.registerTokens(), 1, s.numRegisterTokens(), d);
        }
        Tensor positions = positions(s);

        VitParameters.Norm preNorm = table.preNorm() != null && has(table.preNorm() + ".weight")
                ? norm(prefix + table.preNorm(), d) : null;

        List<VitParameters.Block> blocks = new ArrayList<>();
        for (int i = 0; i < s.numLayers(); i++) {
            blocks.add(block(prefix + String.format(table.block(), i), d, s.mlpDim()));
        }
        VitParameters.Norm finalNorm = norm(prefix + table.finalNorm(), d);

        VitParameters.Linear head = head(table.head(), s.headOnClsAndPatchMean() ? 2 * d : d);
        VitParameters.Linear distillationHead = head(table.distillationHead(), d);
        if (distillationHead != null && (head == null || head.outFeatures() != distillationHead.outFeatures())) {
            throw new ConversionException("checkpoint " + checkpoint.files().get(0).getParent() + " has a distillation "
                    + "head '" + table.distillationHead() + "' without a class-token head '" + table.head()
                    + "' of the same width; a distilled DeiT classifies with the average of both");
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
                head, pooler, projection, distillation, distillationHead, null);
    }

    /** A pre-norm transformer block of width {@code d}; q, k, v stored apart are fused into one qkv. */
    private VitParameters.Block block(String b, int d, int mlp) throws IOException {
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
        return new VitParameters.Block(
                norm(b + table.norm1(), d), qkv, linear(b + table.proj(), d, d), ls1,
                norm(b + table.norm2(), d), linear(b + table.fc1(), d, mlp),
                linear(b + table.fc2(), mlp, d), ls2);
    }

    /** A classifier beside the backbone reading {@code in} features, or null when the checkpoint has none. */
    private VitParameters.Linear head(String module, int in) throws IOException {
        if (module == null || !hasOutside(module + ".weight")) {
            return null;
        }
        long[] hs = checkpoint.shape(module + ".weight");
        if (hs.length != 2 || hs[1] != in) {
            throw shapeError(module + ".weight", hs, "[classes, " + in + "]");
        }
        return linear(module, in, (int) hs[0]);
    }

    private VitParameters mapSwin(VitSpec s) throws IOException {
        VitSpec.Swin sw = s.swin();
        FamilyTable.SwinNames names = table.swin();
        int c = s.channels();
        int p = s.patchSize();
        int e = sw.embedDim();
        Tensor patchW = tensor(prefix + table.patch() + ".weight", e, c, p, p);
        Tensor patchB = table.patchHasBias() ? tensor(prefix + table.patch() + ".bias", e) : null;
        VitParameters.Norm patchNorm = norm(prefix + names.patchNorm(), e);
        List<VitParameters.Block> blocks = new ArrayList<>();
        List<Tensor> bias = new ArrayList<>();
        List<VitParameters.Merge> merges = new ArrayList<>();
        for (int stage = 0; stage < sw.stages(); stage++) {
            int d = sw.dim(stage);
            if (stage > 0) {
                String m = prefix + String.format(names.merge(), names.mergeOpensStage() ? stage : stage - 1);
                int in = 4 * sw.dim(stage - 1);
                merges.add(new VitParameters.Merge(norm(m + names.mergeNorm(), in), linear(m + names.mergeReduction(), in, d)));
            }
            int w = sw.windows().get(stage);
            for (int j = 0; j < sw.depths().get(stage); j++) {
                String b = prefix + String.format(table.block(), stage, j);
                blocks.add(block(b, d, sw.mlpDims().get(stage)));
                bias.add(tensor(b + names.relativeBiasTable(), (long) (2 * w - 1) * (2 * w - 1), sw.heads().get(stage)));
                if (names.relativeIndex() != null && checkpoint.names().contains(b + names.relativeIndex())) {
                    checkRelativeIndex(b + names.relativeIndex(), w);
                }
            }
        }
        int d = s.hiddenSize();
        VitParameters.Norm finalNorm = norm(prefix + table.finalNorm(), d);
        VitParameters.Linear head = head(table.head(), d);
        checkAllUsed();
        return new VitParameters(s, patchW, patchB, null, null, null, null, blocks, finalNorm, head, null, null,
                null, null, new VitParameters.SwinParameters(patchNorm, merges, bias));
    }

    /**
     * transformers 4 saves each block's relative position index; it must be the one the graph builder computes
     * for a square window of side {@code w}, or the checkpoint was made for another window.
     */
    private void checkRelativeIndex(String name, int w) throws IOException {
        TensorInfo info = checkpoint.info(name);
        long t = (long) w * w;
        if (!info.dtype().equals("I64") || !Arrays.equals(info.shape(), new long[] {t, t})) {
            throw new ConversionException("tensor '" + name + "' in " + checkpoint.files().get(0).getParent()
                    + " is " + info.dtype() + " " + Arrays.toString(info.shape()) + " but a " + w + "x" + w
                    + " window needs an I64 [" + t + ", " + t + "] index; the config and the weights do not belong together");
        }
        LongBuffer stored = checkpoint.rawBytes(name).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        long[] expected = SwinGeometry.relativePositionIndex(w);
        for (int i = 0; i < expected.length; i++) {
            if (stored.get(i) != expected[i]) {
                throw new ConversionException("tensor '" + name + "' in " + checkpoint.files().get(0).getParent()
                        + " differs from the relative position index of a " + w + "x" + w + " window at entry " + i
                        + " (" + stored.get(i) + " instead of " + expected[i] + "); vitfit computes the index itself "
                        + "and cannot reproduce this one");
            }
        }
        used.add(name);
    }

    /** "224x224" for a square grid of {@code positions} patches, else what the count is. */
    private static String trainedAt(int positions, int patchSize) {
        int side = (int) Math.round(Math.sqrt(positions));
        return side * side == positions ? side * patchSize + "x" + side * patchSize
                : "which its " + positions + " patch positions do not tell (not a square grid)";
    }

    private Tensor positions(VitSpec s) throws IOException {
        String name = prefix + table.positions();
        Tensor pos = tensor(name);
        int d = s.hiddenSize();
        long total = pos.data().length / d;
        if (pos.data().length % d != 0) {
            throw shapeError(name, pos.shape(), "[1, tokens, " + d + "]");
        }
        int prefixTokens = s.posEmbedSkipsPrefix() ? 0 : s.numPrefixTokens();
        int wanted = prefixTokens + s.numPatches();
        int have = (int) total - prefixTokens;
        boolean square = s.gridHeight() == s.gridWidth();
        // transformers' DINOv2 resamples whenever the grid differs or the input is not square.
        boolean resample = "dinov2".equals(s.family()) ? (have != s.numPatches() || !square) : false;
        if (!resample) {
            if (total != wanted) {
                throw new ConversionException(name + " in " + checkpoint.files().get(0) + " holds " + total
                        + " positions but a " + s.imageHeight() + "x" + s.imageWidth() + " input with patch "
                        + s.patchSize() + " needs " + wanted + "; the input size comes from the preprocessing "
                        + "(timm: pretrained_cfg.input_size in config.json; Hugging Face: size / crop_size in "
                        + "preprocessor_config.json): set it to the size the checkpoint was trained at, "
                        + trainedAt(have, s.patchSize()));
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
