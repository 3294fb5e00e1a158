package org.vitfit.convert;

/**
 * The architecture numbers and structural switches of one ViT, read from a checkpoint's config and
 * checked against its tensors.
 *
 * @param posEmbedSkipsPrefix timm {@code no_embed_class}: position embeddings cover patches only
 * @param clipPooling         CLIP: {@code last_hidden_state} is the un-normed encoder output and the final
 *                            norm applies to the class token only (then the projection)
 * @param headOnClsAndPatchMean DINOv2 classifiers read [CLS, mean of patch tokens]
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
        boolean headOnClsAndPatchMean) {

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

    public int numTokens() {
        return 1 + numRegisterTokens + numPatches();
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }
}
