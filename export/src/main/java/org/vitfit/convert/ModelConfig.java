package org.vitfit.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a checkpoint directory's {@code config.json} (and {@code preprocessor_config.json}) say: the family,
 * the architecture numbers that are not visible in the weights, the preprocessing and the class names.
 */
record ModelConfig(FamilyTable table, String architecture, JsonNode config, PreprocessRecipe preprocessing,
                   List<String> labels) {

    private static final ObjectMapper JSON = new ObjectMapper();

    static ModelConfig read(Path dir, Path preprocessorOverride) throws IOException {
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new ConversionException(dir + " has no config.json: a checkpoint directory needs config.json "
                    + "and model.safetensors (as timm's push_to_hub or transformers' save_pretrained write them)");
        }
        JsonNode config;
        try {
            config = JSON.readTree(configFile.toFile());
        } catch (IOException e) {
            throw new ConversionException(configFile + " is not valid JSON: " + e.getMessage(), e);
        }
        if (config == null || !config.isObject()) {
            throw new ConversionException(configFile + " is not a JSON object");
        }
        if (config.hasNonNull("architecture")) {
            return timm(dir, configFile, config);
        }
        return huggingFace(dir, configFile, config, preprocessorOverride);
    }

    private static ModelConfig timm(Path dir, Path configFile, JsonNode config) throws IOException {
        String arch = config.get("architecture").asText();
        FamilyTable table;
        if (arch.startsWith("vit_")) {
            table = FamilyTable.TIMM_VIT;
        } else if (arch.startsWith("deit_") && arch.contains("_distilled_")) {
            table = FamilyTable.TIMM_DEIT;
        } else if (arch.startsWith("swinv2")) {
            throw new ConversionException(configFile + ": architecture '" + arch + "' is a Swin Transformer V2 "
                    + "(scaled cosine attention, continuous position bias), which vitfit does not convert yet; "
                    + "Swin V1 (swin_*) is supported");
        } else if (arch.startsWith("swin_")) {
            table = FamilyTable.TIMM_SWIN;
        } else {
            throw new ConversionException(configFile + ": timm architecture '" + arch + "' is not supported; vitfit "
                    + "converts timm vit_*, deit_*_distilled_* and swin_* models (and Hugging Face ViT, DeiT, Swin, "
                    + "DINOv2 and CLIP vision models)");
        }
        // model_args are what timm.create_model was called with; they win over the top-level copy.
        JsonNode poolNode = config.path("model_args").hasNonNull("global_pool")
                ? config.path("model_args").get("global_pool") : config.get("global_pool");
        String pool = poolNode == null || poolNode.isNull() ? (table == FamilyTable.TIMM_SWIN ? "avg" : "token")
                : poolNode.asText();
        if (table == FamilyTable.TIMM_SWIN && !pool.equals("avg")) {
            throw new ConversionException(configFile + ": global_pool '" + pool + "' is not supported for Swin; "
                    + "vitfit embeds a Swin model with the average over its last tokens (global_pool 'avg')");
        }
        if (table != FamilyTable.TIMM_SWIN && !pool.equals("token") && !pool.isEmpty()) {
            throw new ConversionException(configFile + ": global_pool '" + pool
                    + "' is not supported yet; vitfit embeds with the class token (global_pool 'token')");
        }
        JsonNode cfg = config.path("pretrained_cfg");
        if (cfg.isMissingNode()) {
            throw new ConversionException(configFile + " has no pretrained_cfg, so the preprocessing is unknown");
        }
        PreprocessRecipe recipe = PreprocessRecipe.fromTimm(cfg);
        List<String> labels = timmLabels(dir, config);
        return new ModelConfig(table, arch, config, recipe, labels);
    }

    private static ModelConfig huggingFace(Path dir, Path configFile, JsonNode config, Path preprocessorOverride)
            throws IOException {
        String modelType = config.path("model_type").asText("");
        JsonNode vision = config;
        FamilyTable table;
        switch (modelType) {
            case "vit" -> table = FamilyTable.HF_VIT;
            case "dinov2" -> table = FamilyTable.DINOV2;
            case "clip_vision_model" -> table = FamilyTable.CLIP_VISION;
            case "clip" -> {
                table = FamilyTable.CLIP_VISION;
                vision = config.path("vision_config");
            }
            case "deit" -> table = FamilyTable.HF_DEIT;
            case "swin" -> table = FamilyTable.HF_SWIN;
            case "swinv2" -> throw new ConversionException(configFile + ": model_type 'swinv2' (Swin Transformer V2: "
                    + "scaled cosine attention, continuous position bias) is not supported yet; vitfit converts Swin V1 "
                    + "(model_type 'swin')");
            default -> throw new ConversionException(configFile + ": model_type '" + modelType + "' is not supported; "
                    + "vitfit converts timm vit_*, deit_*_distilled_* and swin_* models and Hugging Face vit, deit, "
                    + "swin, dinov2, clip and clip_vision_model");
        }
        String arch = config.path("architectures").path(0).asText(modelType);
        if (arch.equals("DeiTForImageClassification")) {
            // Its one classifier reads the class token only (the distillation token is computed but unused).
            table = table.withSingleHead("classifier");
        }
        Path processorFile = preprocessorOverride != null ? preprocessorOverride : dir.resolve("preprocessor_config.json");
        if (!Files.isRegularFile(processorFile)) {
            throw new ConversionException(processorFile + " not found, so the preprocessing the model was trained "
                    + "with is unknown; copy it from the model's Hub repository or pass --preprocessor-config FILE");
        }
        PreprocessRecipe recipe;
        try {
            recipe = PreprocessRecipe.fromHfProcessor(JSON.readTree(processorFile.toFile()));
        } catch (IllegalArgumentException e) {
            throw new ConversionException(processorFile + ": " + e.getMessage(), e);
        }
        List<String> labels = null;
        JsonNode id2label = config.path("id2label");
        if (arch.contains("ForImageClassification") && id2label.isObject()) {
            Map<Integer, String> sorted = new TreeMap<>();
            id2label.fields().forEachRemaining(e -> sorted.put(Integer.parseInt(e.getKey()), e.getValue().asText()));
            labels = new ArrayList<>(sorted.values());
        }
        return new ModelConfig(table, arch, vision, recipe, labels);
    }

    /**
     * timm keeps class names in the config (label_names) or, for the bundled model, in a *classes.txt file; several
     * such files are refused rather than one picked.
     */
    private static List<String> timmLabels(Path dir, JsonNode config) throws IOException {
        JsonNode names = config.path("label_names");
        if (names.isArray()) {
            List<String> out = new ArrayList<>();
            names.forEach(n -> out.add(n.asText()));
            return out;
        }
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*classes*.txt")) {
            for (Path f : files) {
                if (Files.isRegularFile(f)) {
                    candidates.add(f);
                }
            }
        }
        if (candidates.isEmpty()) {
            return null;
        }
        if (candidates.size() > 1) {
            // Directory order differs between file systems: taking the first would name the classes by chance.
            List<String> found = candidates.stream().map(f -> f.getFileName().toString()).sorted().toList();
            throw new ConversionException(dir + " holds " + found.size() + " class-name files (" + String.join(", ",
                    found) + ") and config.json has no label_names, so which one names the head's classes is unknown; "
                    + "keep one of them in " + dir + " (move the others out), or list the names under label_names "
                    + "in config.json");
        }
        return Files.readAllLines(candidates.get(0), StandardCharsets.UTF_8).stream()
                .map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    /** Architecture numbers: from the config where it has them, from tensor shapes where they are unambiguous. */
    VitSpec spec(CheckpointMapper mapper) throws IOException {
        if (table.swin() != null) {
            return SwinConfigReader.spec(table, architecture, config, preprocessing, mapper);
        }
        JsonNode c = config;
        int imageH = preprocessing.outputHeight();
        int imageW = preprocessing.outputWidth();
        boolean distilled = table.distillationToken() != null;
        if (table == FamilyTable.TIMM_VIT || table == FamilyTable.TIMM_DEIT) {
            JsonNode args = c.path("model_args");
            long[] patch = mapper.shape(table.patch() + ".weight");
            int hidden = (int) patch[0];
            int channels = (int) patch[1];
            int patchSize = (int) patch[2];
            int layers = mapper.countBlocks();
            int mlp = (int) mapper.shape(String.format(table.block(), 0) + table.fc1() + ".weight")[0];
            int heads = args.path("num_heads").asInt(0);
            if (heads == 0) {
                // The name's width is checked against the weights' by ConfigAgreement.
                heads = ConfigAgreement.timmHeads(architecture)
                        .orElseThrow(() -> new ConversionException("config.json of " + architecture
                                + " gives no model_args.num_heads and the name does not imply it; add it to model_args"));
            }
            int registers = mapper.has(table.registerTokens()) ? (int) mapper.shape(table.registerTokens())[1] : 0;
            long positions = mapper.shape(table.positions())[1];
            boolean skipsPrefix = positions == (long) (imageH / patchSize) * (imageW / patchSize);
            VitSpec.Activation act = architecture.contains("quickgelu") ? VitSpec.Activation.QUICK_GELU
                    : VitSpec.Activation.GELU;
            return new VitSpec(table.family(), architecture, channels, imageH, imageW, patchSize, hidden, layers,
                    heads, mlp, 1e-6, act, registers, skipsPrefix, false, false, distilled, null);
        }
        int hidden = required(c, "hidden_size");
        int mlp = c.has("intermediate_size") ? c.get("intermediate_size").asInt()
                : (int) (hidden * c.path("mlp_ratio").asDouble(4.0));
        if (table == FamilyTable.DINOV2 && c.path("use_swiglu_ffn").asBoolean(false)) {
            throw new ConversionException("DINOv2 with use_swiglu_ffn (the giant model) is not supported yet");
        }
        boolean vitLike = table == FamilyTable.HF_VIT || table.family().equals(FamilyTable.HF_DEIT.family());
        double eps = c.path("layer_norm_eps").asDouble(vitLike ? 1e-12 : 1e-6);
        if (vitLike && mapper.has(table.pooler() + ".weight")) {
            String poolerAct = c.path("pooler_act").asText("tanh");
            if (!poolerAct.equals("tanh")) {
                throw new ConversionException("config.json: pooler_act '" + poolerAct + "' is not supported; "
                        + "vitfit writes the pooler with tanh (transformers' default)");
            }
        }
        VitSpec.Activation act = activation(c);
        return new VitSpec(table.family(), architecture, c.path("num_channels").asInt(3), imageH, imageW,
                required(c, "patch_size"), hidden, required(c, "num_hidden_layers"),
                required(c, "num_attention_heads"), mlp, eps, act, 0, false,
                table == FamilyTable.CLIP_VISION, table == FamilyTable.DINOV2, distilled, null);
    }

    static VitSpec.Activation activation(JsonNode c) throws ConversionException {
        try {
            return VitSpec.Activation.fromConfig(c.path("hidden_act").asText("gelu"));
        } catch (IllegalArgumentException e) {
            throw new ConversionException("config.json: " + e.getMessage(), e);
        }
    }

    static int required(JsonNode c, String field) throws ConversionException {
        if (!c.hasNonNull(field)) {
            throw new ConversionException("config.json has no '" + field + "'");
        }
        return c.get(field).asInt();
    }
}
