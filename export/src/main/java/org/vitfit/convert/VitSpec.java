package org.vitfit.convert;

import java.util.List;

/**
 * The architecture numbers and structural switches of one ViT, read from a checkpoint's config and
 * checked against its tensors.
 *
 * @param posEmbedSkipsPrefix timm {@code no_embed_class}: position embeddings cover patches only
 * @param clipPooling         CLIP: {@code last_hidden_state} is the un-normed encoder output and the final
 *                            norm applies to the class token only (then the projection)
 * @param headOnClsAndPatchMean DINOv2 classifiers read [CLS, mean of patch tokens]
 * @param distillationToken   DeiT distilled: a second prefix token after the class token, with its own head
 * @param swin                the stage structure of a Swin Transformer, or null for a plain ViT; for Swin,
 *                            {@code hiddenSize}, {@code numHeads} and {@code mlpDim} are those of the last stage
 *                            (the width of {@code last_hidden_state}) and {@code numLayers} counts all blocks
 */
public record VitSpec(
        String family,
        String architecture,
        int channels,
        int imageHeight,
        int imageWidth,
        int patchSize,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int mlpDim,
        double layerNormEps,
        Activation activation,
        int numRegisterTokens,
        boolean posEmbedSkipsPrefix,
        boolean clipPooling,
        boolean headOnClsAndPatchMean,
        boolean distillationToken,
        Swin swin) {

    /** A plain ViT: no distillation token, no Swin stages. */
    public VitSpec(String family, String architecture, int channels, int imageHeight, int imageWidth, int patchSize,
                   int hiddenSize, int numLayers, int numHeads, int mlpDim, double layerNormEps, Activation activation,
                   int numRegisterTokens, boolean posEmbedSkipsPrefix, boolean clipPooling,
                   boolean headOnClsAndPatchMean) {
        this(family, architecture, channels, imageHeight, imageWidth, patchSize, hiddenSize, numLayers, numHeads,
                mlpDim, layerNormEps, activation, numRegisterTokens, posEmbedSkipsPrefix, clipPooling,
                headOnClsAndPatchMean, false, null);
    }

    /**
     * The stages of a Swin Transformer (V1): stage {@code i} has width {@code embedDim * 2^i}, works on a grid of
     * {@code (imageHeight / patchSize) / 2^i} tokens per side, and, from the second stage on, starts with a patch
     * merging (2x2 tokens to one, width doubled).
     *
     * @param embedDim     width of the first stage (the patch embedding)
     * @param depths       blocks per stage
     * @param heads        attention heads per stage
     * @param windows      attention window side per stage (square windows), as the checkpoint was trained
     * @param mlpDims      hidden width of the MLP per stage
     * @param patchNormEps epsilon of the patch-embedding and patch-merging norms (PyTorch's default 1e-5 in
     *                     both libraries, whatever the config's layer_norm_eps)
     */
    public record Swin(int embedDim, List<Integer> depths, List<Integer> heads, List<Integer> windows,
                       List<Integer> mlpDims, double patchNormEps) {

        public Swin {
            depths = List.copyOf(depths);
            heads = List.copyOf(heads);
            windows = List.copyOf(windows);
            mlpDims = List.copyOf(mlpDims);
        }

        public int stages() {
            return depths.size();
        }

        public int dim(int stage) {
            return embedDim << stage;
        }

        /** Index of the first block of {@code stage} among all blocks. */
        public int firstBlock(int stage) {
            int n = 0;
            for (int i = 0; i < stage; i++) {
                n += depths.get(i);
            }
            return n;
        }
    }

    /** The MLP non-linearities these families use. */
    public enum Activation {
        /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)): timm's nn.GELU and transformers' "gelu". */
        GELU,
        /** tanh approximation of GELU: transformers' "gelu_new" / "gelu_pytorch_tanh". */
        GELU_TANH,
        /** x sigmoid(1.702 x): OpenAI CLIP. */
        QUICK_GELU;

        public static Activation fromConfig(String name) {
            return switch (name) {
                case "gelu" -> GELU;
                case "gelu_new", "gelu_pytorch_tanh", "gelu_fast" -> GELU_TANH;
                case "quick_gelu" -> QUICK_GELU;
                default -> throw new IllegalArgumentException("unsupported hidden_act '" + name
                        + "': vitfit supports gelu, gelu_new, gelu_pytorch_tanh and quick_gelu");
            };
        }
    }

    public int gridHeight() {
        return imageHeight / patchSize;
    }

    public int gridWidth() {
        return imageWidth / patchSize;
    }

    public int numPatches() {
        return gridHeight() * gridWidth();
    }

    /** Tokens of {@code last_hidden_state}: prefix tokens and patches, or for Swin the last stage's grid. */
    public int numTokens() {
        if (swin != null) {
            int shrink = swin.stages() - 1;
            return (gridHeight() >> shrink) * (gridWidth() >> shrink);
        }
        return numPrefixTokens() + numPatches();
    }

    /** Class token, distillation token and register tokens: the tokens before the patches. */
    public int numPrefixTokens() {
        return 1 + (distillationToken ? 1 : 0) + numRegisterTokens;
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }
}
