package org.vitfit.preprocess;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Everything needed to turn a decoded image into the model's {@code pixel_values}, stored in
 * {@code vitfit-model.json}. It mirrors what timm's eval transform and the Hugging Face image
 * processors do: resize (antialiased resampling of 8-bit RGB), center crop, rescale, normalise.
 * {@link Preprocessor} executes it.
 *
 * @param resizeMode       {@code shortest_edge} (scale so the shorter side is {@code resizeShortestEdge},
 *                         the longer side truncated like torchvision and transformers do), {@code fixed}
 *                         (resize to exactly {@code resizeHeight x resizeWidth}) or {@code none}
 * @param resizeShortestEdge target of the shorter side for {@code shortest_edge}
 * @param resizeHeight     target height for {@code fixed}
 * @param resizeWidth      target width for {@code fixed}
 * @param interpolation    {@code bicubic}, {@code bilinear} or {@code nearest} ({@code pil} backend only),
 *                         antialiased when downscaling
 * @param cropHeight       center-crop height, or 0 for no crop
 * @param cropWidth        center-crop width, or 0 for no crop
 * @param cropRounding     where an odd margin puts the extra pixel, as offset of the crop in the resized
 *                         image: {@code round} (torchvision's CenterCrop: {@code round((h - ch) / 2)} half
 *                         to even, or {@code -((ch - h) // 2)} when padding), {@code floor} (transformers'
 *                         numpy center_crop: {@code (h - ch) // 2}) or {@code trunc} (transformers'
 *                         torchvision backend: {@code int((h - ch) / 2)})
 * @param rescaleFactor    multiplies the 8-bit values (normally 1/255)
 * @param mean             per-channel mean subtracted after rescaling (RGB order); all 0 together with
 *                         std all 1 means no normalisation
 * @param std              per-channel standard deviation divided by after subtracting the mean
 * @param applyExifOrientation rotate/flip images by their EXIF orientation tag before anything else;
 *                         timm and transformers do not, so converted models default to {@code false}
 *                         to reproduce their numbers
 * @param backend          whose arithmetic to reproduce: {@code pil} (default when absent; timm, and
 *                         transformers' PIL backend: Pillow resize, then {@code (v * rescale - mean) / std}
 *                         in float32) or {@code torchvision} (transformers 5's default image processors:
 *                         torch's uint8 resize, then the fused {@code (v - mean / rescale) / (std / rescale)}
 *                         in float32)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record PreprocessRecipe(
        String resizeMode,
        int resizeShortestEdge,
        int resizeHeight,
        int resizeWidth,
        String interpolation,
        int cropHeight,
        int cropWidth,
        String cropRounding,
        double rescaleFactor,
        List<Double> mean,
        List<Double> std,
        boolean applyExifOrientation,
        String backend) {

    public static final String RESIZE_SHORTEST_EDGE = "shortest_edge";
    public static final String RESIZE_FIXED = "fixed";
    public static final String RESIZE_NONE = "none";
    public static final String CROP_ROUND = "round";
    public static final String CROP_FLOOR = "floor";
    public static final String CROP_TRUNC = "trunc";
    public static final String BACKEND_PIL = "pil";
    public static final String BACKEND_TORCHVISION = "torchvision";

    /** A recipe with the {@code pil} backend, the form written before the backend existed. */
    public PreprocessRecipe(String resizeMode, int resizeShortestEdge, int resizeHeight, int resizeWidth,
                            String interpolation, int cropHeight, int cropWidth, String cropRounding,
                            double rescaleFactor, List<Double> mean, List<Double> std, boolean applyExifOrientation) {
        this(resizeMode, resizeShortestEdge, resizeHeight, resizeWidth, interpolation, cropHeight, cropWidth,
                cropRounding, rescaleFactor, mean, std, applyExifOrientation, null);
    }

    /** The backend, {@code pil} when the recipe names none. */
    public String effectiveBackend() {
        return backend == null ? BACKEND_PIL : backend;
    }

    static final List<Double> IMAGENET_DEFAULT_MEAN = List.of(0.485, 0.456, 0.406);
    static final List<Double> IMAGENET_DEFAULT_STD = List.of(0.229, 0.224, 0.225);
    static final List<Double> IMAGENET_STANDARD_MEAN = List.of(0.5, 0.5, 0.5);
    static final List<Double> IMAGENET_STANDARD_STD = List.of(0.5, 0.5, 0.5);
    static final List<Double> OPENAI_CLIP_MEAN = List.of(0.48145466, 0.4578275, 0.40821073);
    static final List<Double> OPENAI_CLIP_STD = List.of(0.26862954, 0.26130258, 0.27577711);

    /**
     * The eval transform timm builds from a model's {@code pretrained_cfg} (the object of that name in a
     * timm {@code config.json}), with timm's defaults for missing keys (bicubic, crop_pct 0.875,
     * crop_mode center, ImageNet mean/std):
     * <ul>
     *   <li>{@code center}: Resize(shorter side = floor(img_size / crop_pct)), CenterCrop(img_size);</li>
     *   <li>{@code squash}: Resize to floor(size / crop_pct) on both sides, CenterCrop(img_size);</li>
     * </ul>
     * then ToTensor (/255) and Normalize. CenterCrop is torchvision's, offset {@code round((h - ch) / 2)}.
     *
     * @throws IllegalArgumentException for what this port does not reproduce exactly: crop_mode
     *         {@code border}, a non-square input with crop_mode {@code center}, crop_border_pixels,
     *         interpolations other than nearest/bilinear/bicubic
     */
    public static PreprocessRecipe fromTimm(JsonNode pretrainedCfg) {
        if (pretrainedCfg == null || !pretrainedCfg.isObject()) {
            throw new IllegalArgumentException("timm pretrained_cfg must be a JSON object, got " + pretrainedCfg);
        }
        JsonNode inputSize = pretrainedCfg.path("input_size");
        if (!inputSize.isArray() || inputSize.size() != 3 || !inputSize.get(1).canConvertToInt()
                || !inputSize.get(2).canConvertToInt()) {
            throw new IllegalArgumentException("timm pretrained_cfg.input_size must be [channels, height, width], got " + inputSize);
        }
        if (inputSize.get(0).asInt() != 3) {
            throw new IllegalArgumentException("timm pretrained_cfg.input_size has " + inputSize.get(0).asInt()
                    + " channels; vitfit feeds RGB images (3 channels)");
        }
        int height = inputSize.get(1).asInt();
        int width = inputSize.get(2).asInt();
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("timm pretrained_cfg.input_size must be positive, got " + inputSize);
        }
        String interpolation = textOr(pretrainedCfg, "interpolation", "bicubic");
        PillowResampler.Filter.fromName(interpolation);
        double cropPct = pretrainedCfg.hasNonNull("crop_pct") ? pretrainedCfg.get("crop_pct").asDouble() : 0.875;
        if (!(cropPct > 0) || !Double.isFinite(cropPct)) {
            throw new IllegalArgumentException("timm pretrained_cfg.crop_pct must be a positive number, got " + cropPct);
        }
        String cropMode = textOr(pretrainedCfg, "crop_mode", "center");
        if (pretrainedCfg.path("crop_border_pixels").asInt(0) != 0) {
            throw new IllegalArgumentException("timm pretrained_cfg.crop_border_pixels (TrimBorder) is not supported");
        }
        List<Double> mean = doubles(pretrainedCfg, "mean", IMAGENET_DEFAULT_MEAN, "timm pretrained_cfg");
        List<Double> std = doubles(pretrainedCfg, "std", IMAGENET_DEFAULT_STD, "timm pretrained_cfg");
        // math.floor(img_size / crop_pct): the same IEEE division in Java and Python.
        int scaleHeight = (int) Math.floor(height / cropPct);
        int scaleWidth = (int) Math.floor(width / cropPct);
        String mode = interpolation.toLowerCase(Locale.ROOT);
        switch (cropMode) {
            case "center":
                if (scaleHeight != scaleWidth) {
                    throw new IllegalArgumentException("timm crop_mode 'center' with a non-square input_size " + inputSize
                            + " uses timm's ResizeKeepRatio, which vitfit does not reproduce");
                }
                return new PreprocessRecipe(RESIZE_SHORTEST_EDGE, scaleHeight, 0, 0, mode, height, width, CROP_ROUND,
                        1.0 / 255, mean, std, false, BACKEND_PIL);
            case "squash":
                return new PreprocessRecipe(RESIZE_FIXED, 0, scaleHeight, scaleWidth, mode, height, width, CROP_ROUND,
                        1.0 / 255, mean, std, false, BACKEND_PIL);
            case "border":
                throw new IllegalArgumentException("timm crop_mode 'border' (resize the longest edge, pad with the mean colour)"
                        + " is not supported; use crop_mode 'center' or 'squash'");
            default:
                throw new IllegalArgumentException("timm crop_mode '" + cropMode + "' is unknown; timm knows center, squash, border");
        }
    }

    /** Image processor types whose preprocessing vitfit reproduces, and transformers' defaults for each. */
    private enum HfProcessor {
        VIT(true, 224, 2, false, IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD),
        CLIP(false, 224, 3, true, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
        BIT(false, 224, 3, true, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD),
        /** DeiT: resize to a 256x256 square (not the shortest edge), then center crop 224. */
        DEIT(true, 256, 3, true, IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD);

        /** get_size_dict(default_to_square): whether a bare int size means height = width (else shortest edge). */
        final boolean sizeIntIsSquare;
        /** The side (or shortest edge) of the class's default {@code size}. */
        final int defaultSize;
        final int defaultResample;
        /** Whether the processor has a center crop step at all, and its default do_center_crop. */
        final boolean centerCrop;
        final List<Double> defaultMean;
        final List<Double> defaultStd;

        HfProcessor(boolean sizeIntIsSquare, int defaultSize, int defaultResample, boolean centerCrop,
                    List<Double> defaultMean, List<Double> defaultStd) {
            this.sizeIntIsSquare = sizeIntIsSquare;
            this.defaultSize = defaultSize;
            this.defaultResample = defaultResample;
            this.centerCrop = centerCrop;
            this.defaultMean = defaultMean;
            this.defaultStd = defaultStd;
        }

        static HfProcessor of(String type) {
            String base = type.endsWith("Fast") ? type.substring(0, type.length() - 4) : type;
            switch (base) {
                case "ViTImageProcessor":
                case "ViTFeatureExtractor":
                    return VIT;
                case "CLIPImageProcessor":
                case "CLIPFeatureExtractor":
                    return CLIP;
                case "BitImageProcessor":
                    return BIT;
                case "DeiTImageProcessor":
                case "DeiTFeatureExtractor":
                    return DEIT;
                default:
                    throw new IllegalArgumentException("Hugging Face image processor '" + type + "' is not supported;"
                            + " vitfit reproduces ViTImageProcessor, ViTFeatureExtractor (also used by Swin),"
                            + " CLIPImageProcessor, CLIPFeatureExtractor, BitImageProcessor (DINOv2),"
                            + " DeiTImageProcessor and DeiTFeatureExtractor");
            }
        }
    }

    /**
     * What a Hugging Face image processor does with transformers 5's default (torchvision) backend;
     * see {@link #fromHfProcessor(JsonNode, String)}.
     */
    public static PreprocessRecipe fromHfProcessor(JsonNode config) {
        return fromHfProcessor(config, BACKEND_TORCHVISION);
    }

    /**
     * What a Hugging Face image processor does, from its {@code preprocessor_config.json}, with the
     * processor class's defaults for missing keys (the class comes from {@code image_processor_type}, or
     * {@code feature_extractor_type} in older configs): resize ({@code size} either
     * {@code {height, width}} or {@code {shortest_edge}}, or a bare int read the way the class reads it: a square
     * for ViT (and so Swin) and DeiT, the shortest edge for CLIP and BiT),
     * center crop, rescale, normalize.
     *
     * @param backend {@code pil} for the PIL/numpy processors (transformers 4's default, "slow"; crop offset
     *                {@code (h - ch) // 2}) or {@code torchvision} (transformers 5's default; crop offset
     *                {@code int((h - ch) / 2)}, fused rescale and normalise)
     * @throws IllegalArgumentException for unsupported processor classes, resample filters other than
     *         0 (nearest, pil backend only), 2 (bilinear), 3 (bicubic), or sizes with {@code longest_edge}
     */
    public static PreprocessRecipe fromHfProcessor(JsonNode config, String backend) {
        if (!BACKEND_PIL.equals(backend) && !BACKEND_TORCHVISION.equals(backend)) {
            throw new IllegalArgumentException("backend must be '" + BACKEND_PIL + "' or '" + BACKEND_TORCHVISION
                    + "', got '" + backend + "'");
        }
        if (config == null || !config.isObject()) {
            throw new IllegalArgumentException("preprocessor_config.json must hold a JSON object, got " + config);
        }
        String type = textOr(config, "image_processor_type", textOr(config, "feature_extractor_type", null));
        if (type == null) {
            throw new IllegalArgumentException("preprocessor_config.json names no image_processor_type or"
                    + " feature_extractor_type, so its defaults are unknown; add the processor class name");
        }
        HfProcessor kind = HfProcessor.of(type);
        String where = "preprocessor_config.json (" + type + ")";

        boolean doResize = config.path("do_resize").asBoolean(true);
        String resizeMode = RESIZE_NONE;
        int shortestEdge = 0;
        int resizeHeight = 0;
        int resizeWidth = 0;
        String interpolation = pilResample(config.path("resample").asInt(kind.defaultResample), where);
        if (BACKEND_TORCHVISION.equals(backend) && "nearest".equals(interpolation)) {
            throw new IllegalArgumentException(where + ": resample 0 (NEAREST) is reproduced for the pil backend only");
        }
        if (doResize) {
            JsonNode size = config.get("size");
            if (size == null || size.isNull()) {
                size = kind.sizeIntIsSquare ? sizeDict(kind.defaultSize, kind.defaultSize) : shortestEdgeDict(kind.defaultSize);
            } else if (size.canConvertToInt() && size.isNumber()) {
                size = kind.sizeIntIsSquare ? sizeDict(size.asInt(), size.asInt()) : shortestEdgeDict(size.asInt());
            }
            if (size.has("longest_edge")) {
                throw new IllegalArgumentException(where + ": size.longest_edge is not supported, got size " + size);
            }
            if (size.has("shortest_edge")) {
                resizeMode = RESIZE_SHORTEST_EDGE;
                shortestEdge = positive(size.get("shortest_edge"), where + " size.shortest_edge");
            } else if (size.has("height") && size.has("width")) {
                resizeMode = RESIZE_FIXED;
                resizeHeight = positive(size.get("height"), where + " size.height");
                resizeWidth = positive(size.get("width"), where + " size.width");
            } else {
                throw new IllegalArgumentException(where + ": size must hold shortest_edge or height and width, got " + size);
            }
        }

        int cropHeight = 0;
        int cropWidth = 0;
        if (kind.centerCrop && config.path("do_center_crop").asBoolean(true)) {
            JsonNode crop = config.get("crop_size");
            if (crop == null || crop.isNull()) {
                crop = sizeDict(224, 224);
            } else if (crop.isNumber()) {
                crop = sizeDict(crop.asInt(), crop.asInt());
            }
            if (!crop.has("height") || !crop.has("width")) {
                throw new IllegalArgumentException(where + ": crop_size must hold height and width, got " + crop);
            }
            cropHeight = positive(crop.get("height"), where + " crop_size.height");
            cropWidth = positive(crop.get("width"), where + " crop_size.width");
        }

        double rescale = 1.0;
        if (config.path("do_rescale").asBoolean(true)) {
            rescale = config.hasNonNull("rescale_factor") ? config.get("rescale_factor").asDouble() : 1.0 / 255;
        }
        List<Double> mean = List.of(0.0, 0.0, 0.0);
        List<Double> std = List.of(1.0, 1.0, 1.0);
        if (config.path("do_normalize").asBoolean(true)) {
            mean = doubles(config, "image_mean", kind.defaultMean, where);
            std = doubles(config, "image_std", kind.defaultStd, where);
        }
        return new PreprocessRecipe(resizeMode, shortestEdge, resizeHeight, resizeWidth, interpolation,
                cropHeight, cropWidth, BACKEND_PIL.equals(backend) ? CROP_FLOOR : CROP_TRUNC,
                rescale, mean, std, false, backend);
    }

    /** The same recipe with EXIF orientation applied (or not) before preprocessing. */
    public PreprocessRecipe withApplyExifOrientation(boolean apply) {
        return new PreprocessRecipe(resizeMode, resizeShortestEdge, resizeHeight, resizeWidth, interpolation,
                cropHeight, cropWidth, cropRounding, rescaleFactor, mean, std, apply, backend);
    }

    private static String pilResample(int resample, String where) {
        switch (resample) {
            case 0: return "nearest";
            case 2: return "bilinear";
            case 3: return "bicubic";
            case 1: case 4: case 5:
                throw new IllegalArgumentException(where + ": resample " + resample + " ("
                        + (resample == 1 ? "LANCZOS" : resample == 4 ? "BOX" : "HAMMING")
                        + ") is not supported; vitfit reproduces 0 (NEAREST), 2 (BILINEAR) and 3 (BICUBIC)");
            default:
                throw new IllegalArgumentException(where + ": resample " + resample + " is not a PIL resampling filter");
        }
    }

    private static JsonNode sizeDict(int height, int width) {
        return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode()
                .put("height", height).put("width", width);
    }

    private static JsonNode shortestEdgeDict(int edge) {
        return com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode().put("shortest_edge", edge);
    }

    private static int positive(JsonNode value, String what) {
        if (value == null || !value.canConvertToInt() || value.asInt() <= 0) {
            throw new IllegalArgumentException(what + " must be a positive integer, got " + value);
        }
        return value.asInt();
    }

    private static String textOr(JsonNode node, String field, String fallback) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? fallback : v.asText();
    }

    /** A 3-value list, a single number meaning the same for all channels, or the default when absent. */
    private static List<Double> doubles(JsonNode node, String field, List<Double> fallback, String where) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (v.isNumber()) {
            return List.of(v.asDouble(), v.asDouble(), v.asDouble());
        }
        if (!v.isArray() || v.size() != 3) {
            throw new IllegalArgumentException(where + ": " + field + " must be 3 numbers (R, G, B), got " + v);
        }
        List<Double> out = new ArrayList<>(3);
        for (JsonNode e : v) {
            if (!e.isNumber()) {
                throw new IllegalArgumentException(where + ": " + field + " must be 3 numbers (R, G, B), got " + v);
            }
            out.add(e.asDouble());
        }
        return List.copyOf(out);
    }

    /** Height of the tensor the model receives. */
    public int outputHeight() {
        return cropHeight > 0 ? cropHeight : resizeHeight;
    }

    /** Width of the tensor the model receives. */
    public int outputWidth() {
        return cropWidth > 0 ? cropWidth : resizeWidth;
    }
}
