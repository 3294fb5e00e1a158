package org.vitfit.convert;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks that what {@code config.json} says agrees with what the weights show, before a graph is built on it: width,
 * channels and patch size from the patch embedding, depth from the block tensor names, MLP width from the first
 * block, classes from the head. The head count cannot be read from weights; where it comes from a timm architecture
 * name, the name must also agree with the weights' width (a {@code vit_small} name over ViT-Tiny weights would
 * otherwise build 6 heads over 192 dims and compute wrong embeddings without any error). A contradiction is a
 * {@link ConversionException} naming the field, its value and what the weights say.
 */
final class ConfigAgreement {

    /** Width and heads of timm's named ViT sizes (the canonical model of each): what a name implies when model_args does not say. */
    private record TimmSize(String prefix, String name, int width, int heads) {
    }

    private static final TimmSize[] TIMM_SIZES = {
            new TimmSize("vit_tiny_", "ViT-Tiny", 192, 3), new TimmSize("vit_small_", "ViT-Small", 384, 6),
            new TimmSize("vit_medium_", "ViT-Medium", 512, 8), new TimmSize("vit_base_", "ViT-Base", 768, 12),
            new TimmSize("vit_large_", "ViT-Large", 1024, 16), new TimmSize("vit_huge_", "ViT-Huge", 1280, 16),
            new TimmSize("vit_giant_", "ViT-Giant", 1408, 16), new TimmSize("vit_gigantic_", "ViT-Gigantic", 1664, 16),
            new TimmSize("deit_tiny_", "DeiT-Tiny", 192, 3), new TimmSize("deit_small_", "DeiT-Small", 384, 6),
            new TimmSize("deit_base_", "DeiT-Base", 768, 12)};
    private static final Pattern TIMM_PATCH = Pattern.compile("_patch(\\d+)");

    private ConfigAgreement() {
    }

    /** The head count a timm architecture name implies (its size's), when config.json gives no model_args.num_heads. */
    static OptionalInt timmHeads(String architecture) {
        for (TimmSize size : TIMM_SIZES) {
            if (architecture.startsWith(size.prefix())) {
                return OptionalInt.of(size.heads());
            }
        }
        return OptionalInt.empty();
    }

    static void check(ModelConfig config, VitSpec spec, CheckpointMapper mapper, Path dir) throws IOException {
        FamilyTable t = config.table();
        if (t.swin() != null) {
            return; // SwinConfigReader reads Swin's stages from the tensors and checks the config against them
        }
        String patchName = t.patch() + ".weight";
        long[] patch = mapper.shape(patchName);
        if (patch.length != 4) {
            return; // the mapper reports the shape itself, naming the tensor
        }
        Agreement a = new Agreement(dir.resolve("config.json"));
        String patchShape = patchName + " has shape " + Arrays.toString(patch);
        long width = patch[0];
        long channels = patch[1];
        long patchSize = patch[2];
        int blocks = mapper.countBlocks();
        String depth = "the checkpoint holds " + blocks + " blocks (" + String.format(t.block(), 0) + " to "
                + String.format(t.block(), blocks - 1) + ")";
        String fc1 = String.format(t.block(), 0) + t.fc1() + ".weight";
        long[] fc1Shape = blocks > 0 && mapper.has(fc1) ? mapper.shape(fc1) : null;
        JsonNode c = config.config();

        if (t == FamilyTable.TIMM_VIT || t == FamilyTable.TIMM_DEIT) {
            JsonNode args = c.path("model_args");
            a.field("model_args.embed_dim", args.path("embed_dim"), width, "the weights are " + width + " wide ("
                    + patchShape + ")");
            a.field("num_features", c.path("num_features"), width, "the weights are " + width + " wide ("
                    + patchShape + ")");
            if (blocks > 0) {
                a.field("model_args.depth", args.path("depth"), blocks, depth);
            }
            a.field("model_args.patch_size", args.path("patch_size"), patchSize, patchShape);
            a.field("model_args.in_chans", args.path("in_chans"), channels, patchShape);
            if (args.path("mlp_ratio").isNumber() && fc1Shape != null) {
                double ratio = args.path("mlp_ratio").asDouble();
                a.check("model_args.mlp_ratio", ratio, (long) (width * ratio) == fc1Shape[0],
                        fc1 + " has shape " + Arrays.toString(fc1Shape) + " (an MLP " + fc1Shape[0] + " wide)");
            }
            if (c.path("num_classes").isIntegralNumber() && mapper.hasOutside(t.head() + ".weight")) {
                long[] head = mapper.shape(t.head() + ".weight");
                a.field("num_classes", c.path("num_classes"), head[0], t.head() + ".weight has shape "
                        + Arrays.toString(head));
            }
            checkTimmName(a, config.architecture(), args, width, patchSize, patchShape);
        } else {
            String prefix = "CLIPModel".equals(config.architecture()) ? "vision_config." : "";
            a.field(prefix + "hidden_size", c.path("hidden_size"), width, "the weights are " + width + " wide ("
                    + patchShape + ")");
            if (blocks > 0) { // with none at all, the mapper names the first missing tensor
                a.field(prefix + "num_hidden_layers", c.path("num_hidden_layers"), blocks, depth);
            }
            a.field(prefix + "patch_size", c.path("patch_size"), patchSize, patchShape);
            a.field(prefix + "num_channels", c.path("num_channels"), channels, patchShape);
            if (fc1Shape != null && spec.hiddenSize() == width) {
                String field = c.has("intermediate_size") ? "intermediate_size" : "mlp_ratio";
                a.check(prefix + field, c.has(field) ? c.get(field).asText() : "(default 4.0)",
                        spec.mlpDim() == fc1Shape[0], fc1 + " has shape " + Arrays.toString(fc1Shape)
                                + " (an MLP " + fc1Shape[0] + " wide)");
            }
        }
    }

    /** A timm name's size and patch count only where model_args does not override them. */
    private static void checkTimmName(Agreement a, String architecture, JsonNode args, long width, long patchSize,
                                      String patchShape) throws ConversionException {
        if (!args.has("embed_dim") && !args.has("num_heads")) {
            for (TimmSize size : TIMM_SIZES) {
                if (architecture.startsWith(size.prefix()) && size.width() != width) {
                    throw a.error("architecture '" + architecture + "' names a " + size.name() + ", "
                            + size.width() + " wide with " + size.heads() + " heads, but the weights are " + width
                            + " wide (" + patchShape + "); the name and the weights disagree. Fix 'architecture', "
                            + "or give model_args.embed_dim and model_args.num_heads");
                }
            }
        }
        Matcher m = TIMM_PATCH.matcher(architecture);
        if (!args.has("patch_size") && m.find() && Long.parseLong(m.group(1)) != patchSize) {
            throw a.error("architecture '" + architecture + "' names patch size " + m.group(1) + ", but "
                    + patchShape + "; the name and the weights disagree. Fix 'architecture' or give "
                    + "model_args.patch_size");
        }
    }

    /** Collects the file name for messages; every check throws on the first disagreement. */
    private record Agreement(Path configFile) {

        /** An integer config field, when present, must equal what the weights say. */
        void field(String name, JsonNode value, long fromWeights, String weightsSay) throws ConversionException {
            if (value.isMissingNode() || value.isNull()) {
                return;
            }
            check(name, value.asText(), value.isIntegralNumber() && value.asLong() == fromWeights, weightsSay);
        }

        void check(String name, Object value, boolean agrees, String weightsSay) throws ConversionException {
            if (!agrees) {
                throw error(name + " is " + value + " but " + weightsSay + "; the config and the weights do not "
                        + "belong together. Use the config.json that came with these weights, or fix " + name);
            }
        }

        ConversionException error(String message) {
            return new ConversionException(configFile + ": " + message);
        }
    }
}
