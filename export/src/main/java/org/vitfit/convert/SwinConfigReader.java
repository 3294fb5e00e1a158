package org.vitfit.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A Swin Transformer's architecture numbers: from transformers' {@code SwinConfig} fields, checked against the
 * tensors, or for timm (whose config.json rarely carries them) from the tensors alone. Swin V2, non-square windows
 * and pooling other than the average are refused with the field that asks for them.
 */
final class SwinConfigReader {

    /** PyTorch's LayerNorm default, which both libraries keep for the patch-embedding and patch-merging norms. */
    private static final double TORCH_LAYER_NORM_EPS = 1e-5;

    private SwinConfigReader() {
    }

    static VitSpec spec(FamilyTable table, String architecture, JsonNode config, PreprocessRecipe preprocessing,
                        CheckpointMapper mapper) throws IOException {
        VitSpec s = table == FamilyTable.TIMM_SWIN ? timm(mapper.table(), architecture, config, preprocessing, mapper)
                : huggingFace(mapper.table(), architecture, config, preprocessing, mapper);
        SwinGeometry.stages(s);
        return s;
    }

    private static VitSpec huggingFace(FamilyTable table, String architecture, JsonNode c, PreprocessRecipe pre,
                                       CheckpointMapper mapper) throws IOException {
        if (c.path("use_absolute_embeddings").asBoolean(false)) {
            throw new ConversionException("config.json: use_absolute_embeddings true (absolute position embeddings "
                    + "added to the patch tokens) is not supported for Swin yet; the Swin checkpoints on the Hub use "
                    + "relative position bias only");
        }
        // Missing fields take SwinConfig's defaults (swin-tiny), as transformers would.
        JsonNode window = c.has("window_size") ? c.get("window_size") : IntNode.valueOf(7);
        if (!window.isIntegralNumber() || !window.canConvertToInt()) {
            throw new ConversionException("config.json: window_size " + window + " is not one number; vitfit supports "
                    + "square windows, one side for every stage (non-square windows are not supported)");
        }
        int embed = c.path("embed_dim").asInt(96);
        List<Integer> depths = ints(c, "depths", List.of(2, 2, 6, 2));
        List<Integer> heads = ints(c, "num_heads", List.of(3, 6, 12, 24));
        if (depths.size() != heads.size()) {
            throw new ConversionException("config.json: depths " + depths + " and num_heads " + heads
                    + " describe a different number of stages");
        }
        double mlpRatio = c.path("mlp_ratio").asDouble(4.0);
        List<Integer> windows = new ArrayList<>();
        List<Integer> mlp = new ArrayList<>();
        for (int i = 0; i < depths.size(); i++) {
            windows.add(window.asInt());
            mlp.add((int) (mlpRatio * (embed << i)));  // transformers: int(config.mlp_ratio * dim)
        }
        checkBlocks(mapper, depths);
        VitSpec.Swin swin = new VitSpec.Swin(embed, depths, heads, windows, mlp, TORCH_LAYER_NORM_EPS);
        return spec(table, architecture, c.path("num_channels").asInt(3), pre, c.path("patch_size").asInt(4),
                swin, c.path("layer_norm_eps").asDouble(1e-5), ModelConfig.activation(c));
    }

    private static VitSpec timm(FamilyTable table, String architecture, JsonNode config, PreprocessRecipe pre,
                                CheckpointMapper mapper) throws IOException {
        JsonNode args = config.path("model_args");
        JsonNode window = args.get("window_size");
        if (window != null && window.isArray()) {
            // timm: two numbers are (height, width) for every stage, more are one per stage.
            List<JsonNode> sides = new ArrayList<>();
            window.forEach(sides::add);
            boolean pair = sides.size() == 2 && !sides.get(0).isArray();
            for (JsonNode side : pair ? List.of(window) : sides) {
                if (side.isArray() && (side.size() != 2 || side.get(0).asInt() != side.get(1).asInt())) {
                    throw new ConversionException("config.json: model_args.window_size " + window + " asks for "
                            + "non-square windows, which vitfit does not support");
                }
            }
        }
        if (args.path("always_partition").asBoolean(false)) {
            throw new ConversionException("config.json: model_args.always_partition true (windows and shifts kept "
                    + "even where a stage is smaller than a window) is not supported for Swin");
        }
        long[] patch = mapper.shape(table.patch() + ".weight");
        if (patch.length != 4 || patch[2] != patch[3]) {
            throw new ConversionException("tensor '" + table.patch() + ".weight' has shape "
                    + Arrays.toString(patch) + ": vitfit needs a square patch embedding [dim, channels, p, p]");
        }
        int embed = (int) patch[0];
        int stages = mapper.countStages();
        if (stages == 0) {
            throw new ConversionException("checkpoint has no tensor '" + String.format(table.block(), 0, 0)
                    + table.norm1() + ".weight': config.json says timm Swin but the weights are laid out differently");
        }
        List<Integer> depths = new ArrayList<>();
        List<Integer> heads = new ArrayList<>();
        List<Integer> windows = new ArrayList<>();
        List<Integer> mlp = new ArrayList<>();
        for (int i = 0; i < stages; i++) {
            depths.add(mapper.countBlocks(i));
            String block = String.format(table.block(), i, 0);
            // The table is sized by the window timm actually built, after shrinking it to small stages.
            long[] bias = mapper.shape(block + table.swin().relativeBiasTable());
            int side = (int) Math.round(Math.sqrt(bias[0]));
            if (bias.length != 2 || (long) side * side != bias[0] || side % 2 == 0) {
                throw new ConversionException("tensor '" + block + table.swin().relativeBiasTable() + "' has shape "
                        + Arrays.toString(bias) + ", not [(2w - 1)^2, heads]: its window is not square "
                        + "(model_args.window_size with two different sides), which vitfit does not support");
            }
            windows.add((side + 1) / 2);
            heads.add((int) bias[1]);
            mlp.add((int) mapper.shape(block + table.fc1() + ".weight")[0]);
        }
        VitSpec.Swin swin = new VitSpec.Swin(embed, depths, heads, windows, mlp, TORCH_LAYER_NORM_EPS);
        return spec(table, architecture, (int) patch[1], pre, (int) patch[2], swin, TORCH_LAYER_NORM_EPS,
                VitSpec.Activation.GELU);
    }

    private static VitSpec spec(FamilyTable table, String architecture, int channels, PreprocessRecipe pre,
                                int patchSize, VitSpec.Swin swin, double eps, VitSpec.Activation act) {
        int last = swin.stages() - 1;
        int blocks = swin.depths().stream().mapToInt(Integer::intValue).sum();
        return new VitSpec(table.family(), architecture, channels, pre.outputHeight(), pre.outputWidth(), patchSize,
                swin.dim(last), blocks, swin.heads().get(last), swin.mlpDims().get(last), eps, act, 0, false, false,
                false, false, swin);
    }

    /** The checkpoint must hold exactly the stages and blocks config.json describes. */
    private static void checkBlocks(CheckpointMapper mapper, List<Integer> depths) throws ConversionException {
        List<Integer> found = new ArrayList<>();
        for (int i = 0; i < mapper.countStages(); i++) {
            found.add(mapper.countBlocks(i));
        }
        if (!found.equals(depths)) {
            throw new ConversionException("config.json: depths " + depths + " but the checkpoint holds " + found
                    + " blocks per stage; the config and the weights do not belong together");
        }
    }

    private static List<Integer> ints(JsonNode c, String field, List<Integer> fallback) throws ConversionException {
        JsonNode v = c.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isArray() || v.isEmpty()) {
            throw new ConversionException("config.json: " + field + " must be a list of positive integers, got " + v);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isIntegralNumber() || e.asInt() <= 0) {
                throw new ConversionException("config.json: " + field + " must be positive integers, got " + v);
            }
            out.add(e.asInt());
        }
        return out;
    }
}
