package org.vitfit.convert;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import org.vitfit.convert.quant.CalibrationRequest;
import org.vitfit.convert.quant.Quantizing;
import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitfitVersion;

import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.preprocess.Preprocessor;
import org.vitfit.runtime.Finite;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Converts a checkpoint directory (timm or Hugging Face layout, safetensors weights) into a vitfit model
 * directory: {@code model.onnx} + {@code vitfit-model.json} (+ the {@link SafeOutput} marker). The output appears
 * whole or not at all, and replaces only an earlier vitfit model directory.
 */
public final class Converter {

    /** Protobuf cannot serialise a message over 2 GiB; leave headroom for the graph itself. */
    private static final long MAX_MODEL_BYTES = 1_900_000_000L;

    private Converter() {
    }

    /**
     * How to convert.
     *
     * @param source             how the checkpoint is named in {@code vitfit-model.json} (a path, or
     *                           {@code hub:repo@rev}); null records the checkpoint directory
     * @param overwrite          replace an existing output directory that vitfit wrote as a converted model
     * @param preprocessorConfig a Hugging Face {@code preprocessor_config.json} to use instead of the one in
     *                           the checkpoint directory (for checkpoints saved without one); may be null
     * @param precision          fp32 (default), fp16 (for CUDA) or int8 (for CPU); see {@link Precision}
     * @param calibration        int8 only: calibrate static activation scales on these images; null = dynamic int8
     */
    public record Options(String source, boolean overwrite, Path preprocessorConfig, Precision precision,
                          CalibrationRequest calibration) {
        public Options {
            if (precision == null) {
                precision = Precision.FP32;
            }
        }

        public Options(String source, boolean overwrite, Path preprocessorConfig, Precision precision) {
            this(source, overwrite, preprocessorConfig, precision, null);
        }

        public Options(String source, boolean overwrite, Path preprocessorConfig) {
            this(source, overwrite, preprocessorConfig, Precision.FP32);
        }

        public static Options defaults() {
            return new Options(null, false, null);
        }
    }

    /** Converts {@code checkpointDir} into {@code outputDir} with default options. */
    public static ModelDescriptor convert(Path checkpointDir, Path outputDir) throws IOException {
        return convert(checkpointDir, outputDir, Options.defaults());
    }

    /**
     * Converts {@code checkpointDir} into the model directory {@code outputDir}. The output is checked before the
     * checkpoint is read: an existing directory is replaced only with {@code overwrite} and only when it is a model
     * directory vitfit wrote, and an output that is, contains or lies inside the checkpoint is refused
     * ({@link SafeOutput}).
     */
    public static ModelDescriptor convert(Path checkpointDir, Path outputDir, Options options) throws IOException {
        Quantizing.check(options.precision(), options.calibration());
        List<SafeOutput.Input> inputs = inputs(checkpointDir, options);
        SafeOutput.checkDirectory(outputDir, OutputKind.MODEL, options.overwrite(), inputs);
        return write(load(checkpointDir, options), outputDir, OutputKind.MODEL, options.overwrite(), inputs,
                options.precision(), options.calibration());
    }

    /** What a conversion reads, for the overlap check of its output: the checkpoint and any preprocessor config. */
    public static List<SafeOutput.Input> inputs(Path checkpointDir, Options options) {
        List<SafeOutput.Input> inputs = new ArrayList<>();
        inputs.add(SafeOutput.Input.of("checkpoint directory", checkpointDir));
        if (options.preprocessorConfig() != null) {
            inputs.add(SafeOutput.Input.of("--preprocessor-config", options.preprocessorConfig()));
        }
        if (options.calibration() != null && options.calibration().source() != null) {
            inputs.add(SafeOutput.Input.of("--calibration", Path.of(options.calibration().source())));
        }
        return List.copyOf(inputs);
    }

    /**
     * A checkpoint read into the family-neutral layout, with what the model directory records about it.
     * Fine-tuning starts from this and writes its result back with {@link #write}.
     */
    public record Loaded(VitParameters parameters, PreprocessRecipe preprocessing, List<String> labels,
                         String weightsSha256, String source) {

        /**
         * This checkpoint, or a refusal when the fine-tuning graph cannot express its forward pass: it knows the
         * plain ViT token stack, not Swin's windows and merges nor DeiT's distillation token.
         */
        public Loaded requireFineTunable() throws ConversionException {
            VitSpec s = parameters.spec();
            String instead = "; embed the images with 'vitfit extract' and train a head on them with 'vitfit train' "
                    + "instead";
            if (s.swin() != null) {
                throw new ConversionException("fine-tuning is not supported for Swin yet (" + source + ", "
                        + s.architecture() + "): the training graph has no windowed attention or patch merging"
                        + instead);
            }
            if (s.distillationToken()) {
                throw new ConversionException("fine-tuning is not supported for distilled DeiT yet (" + source + ", "
                        + s.architecture() + "): the training graph has no distillation token" + instead);
            }
            return this;
        }
    }

    /** Reads and checks a checkpoint directory without writing anything. */
    public static Loaded load(Path checkpointDir, Options options) throws IOException {
        if (!Files.isDirectory(checkpointDir)) {
            throw new ConversionException("checkpoint directory " + checkpointDir + " does not exist");
        }
        String source = options.source() != null ? options.source()
                : checkpointDir.toAbsolutePath().normalize().toString();
        ModelConfig config = ModelConfig.read(checkpointDir, options.preprocessorConfig());
        checkPreprocessing(config, checkpointDir, options);
        try (Checkpoint checkpoint = Checkpoint.open(checkpointDir)) {
            CheckpointMapper mapper = new CheckpointMapper(checkpoint, config.table().matching(checkpoint.names()));
            VitSpec spec = config.spec(mapper);
            ConfigAgreement.check(config, spec, mapper, checkpointDir);
            checkGeometry(spec, checkpointDir);
            VitParameters params = mapper.map(spec);
            if (params.head() != null && config.labels() != null && config.labels().size() != params.head().outFeatures()) {
                throw new ConversionException(checkpointDir + ": " + config.labels().size() + " class names for a head of "
                        + params.head().outFeatures() + " outputs");
            }
            return new Loaded(params, config.preprocessing(), config.labels(), checkpoint.weightsSha256(), source);
        }
    }

    /** Builds the fp32 graph for {@code loaded} and writes the model directory {@code out}; see {@link #write(Loaded, Path, OutputKind, boolean, List, Precision)}. */
    public static ModelDescriptor write(Loaded loaded, Path out, boolean overwrite) throws IOException {
        return write(loaded, out, overwrite, Precision.FP32);
    }

    /** Writes {@code loaded} as a converted model ({@link OutputKind#MODEL}) with no inputs to keep clear of. */
    public static ModelDescriptor write(Loaded loaded, Path out, boolean overwrite, Precision precision)
            throws IOException {
        return write(loaded, out, OutputKind.MODEL, overwrite, List.of(), precision);
    }

    /**
     * Builds the graph for {@code loaded} in {@code precision} and writes the model directory {@code out} through
     * {@link SafeOutput#writeDirectory}: complete or not at all, marked as a {@code kind} output, replacing only an
     * earlier vitfit output of the same kind when {@code overwrite}, and refused when it overlaps one of
     * {@code inputs}. Weights that are not all finite are refused before anything is written.
     */
    public static ModelDescriptor write(Loaded loaded, Path out, OutputKind kind, boolean overwrite,
                                        List<SafeOutput.Input> inputs, Precision precision) throws IOException {
        return write(loaded, out, kind, overwrite, inputs, precision, null);
    }

    /**
     * As {@link #write(Loaded, Path, OutputKind, boolean, List, Precision)}; int8 with a {@code calibration} request
     * is static int8: the float model first runs over the calibration images ({@link Quantizing}).
     */
    public static ModelDescriptor write(Loaded loaded, Path out, OutputKind kind, boolean overwrite,
                                        List<SafeOutput.Input> inputs, Precision precision,
                                        CalibrationRequest calibration) throws IOException {
        Quantizing.check(precision, calibration);
        SafeOutput.checkDirectory(out, kind, overwrite, inputs);
        VitParameters params = loaded.parameters();
        requireFinite(params, loaded.source());
        VitSpec spec = params.spec();
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("vitfit.family", spec.family());
        metadata.put("vitfit.architecture", spec.architecture());
        metadata.put("vitfit.source", loaded.source());
        metadata.put("vitfit.weights_sha256", loaded.weightsSha256());
        if (precision != Precision.FP32) {
            // Only then, so an fp32 model's metadata stays what it has always been.
            metadata.put("vitfit.precision", precision.label());
        }
        Quantizing.Graph q = Quantizing.prepare(loaded, precision, calibration);
        if (q.mode() != null) {
            metadata.put("vitfit.quantization", q.mode());
        }
        VitGraphBuilder.Built built = VitGraphBuilder.build(q.parameters(), VitfitVersion.get(), metadata, precision,
                q.emitter());
        checkSize(built.model());
        ModelDescriptor descriptor = new ModelDescriptor(ModelDescriptor.FORMAT, 1, loaded.source(), spec.family(),
                spec.architecture(), spec.imageHeight(), spec.imageWidth(), spec.patchSize(), spec.hiddenSize(),
                spec.numLayers(), spec.numHeads(), spec.mlpDim(), spec.numTokens(), built.embeddingDim(),
                embeddingPooling(spec), built.outputs(),
                built.outputs().contains(VitGraphBuilder.LOGITS) ? loaded.labels() : null,
                loaded.weightsSha256(), null, precision.label(), VitfitVersion.get(), loaded.preprocessing(),
                q.descriptor(), null);
        return SafeOutput.writeDirectory(out, kind, overwrite, inputs, dir -> {
            Path onnx = dir.resolve(ModelDescriptor.ONNX_FILE_NAME);
            try (OutputStream os = Files.newOutputStream(onnx, StandardOpenOption.CREATE_NEW)) {
                built.model().writeTo(os);
            }
            ModelDescriptor withSha = descriptor.withOnnxSha256(Hashing.sha256(onnx));
            withSha.write(dir.resolve(ModelDescriptor.FILE_NAME));
            return withSha;
        });
    }

    /**
     * A recipe the preprocessor cannot run (std 0, a non-finite mean or std) is refused at conversion, naming the file
     * it came from, rather than at the first image of a later extract.
     */
    private static void checkPreprocessing(ModelConfig config, Path dir, Options options) throws ConversionException {
        try {
            new Preprocessor(config.preprocessing());
        } catch (IllegalArgumentException e) {
            boolean timm = config.table().family().startsWith("timm_");
            String from = timm ? dir.resolve("config.json") + " (pretrained_cfg)"
                    : (options.preprocessorConfig() != null ? options.preprocessorConfig()
                    : dir.resolve("preprocessor_config.json")).toString();
            throw new ConversionException(from + " gives a preprocessing that cannot be applied: "
                    + e.getMessage() + "; fix the mean/std (or size) there and convert again", e);
        }
    }

    /** What the {@code embedding} output is, as {@code vitfit-model.json} names it. */
    private static String embeddingPooling(VitSpec spec) {
        if (spec.swin() != null) {
            return "mean_after_norm";
        }
        if (spec.clipPooling()) {
            return "clip_projection";
        }
        return spec.distillationToken() ? "cls_distillation_mean_after_norm" : "cls_after_norm";
    }

    private static void checkGeometry(VitSpec s, Path dir) throws ConversionException {
        if (s.imageHeight() % s.patchSize() != 0 || s.imageWidth() % s.patchSize() != 0) {
            throw new ConversionException(dir + ": input " + s.imageHeight() + "x" + s.imageWidth()
                    + " is not a multiple of the patch size " + s.patchSize());
        }
        int stages = s.swin() == null ? 1 : s.swin().stages();
        for (int i = 0; i < stages; i++) {
            int width = s.swin() == null ? s.hiddenSize() : s.swin().dim(i);
            int heads = s.swin() == null ? s.numHeads() : s.swin().heads().get(i);
            if (width % heads != 0) {
                throw new ConversionException(dir + ": hidden size " + width + " is not divisible by "
                        + heads + " attention heads");
            }
        }
    }

    private static void checkSize(ModelProto model) throws ConversionException {
        // Summed as long first: getSerializedSize() is an int and wraps negative past 2 GiB (ViT-H in fp32),
        // which would slip past the check and fail later inside protobuf with no useful message.
        long bytes = 0;
        for (TensorProto t : model.getGraph().getInitializerList()) {
            bytes += t.getRawData().size();
        }
        if (bytes <= MAX_MODEL_BYTES) {
            bytes = model.getSerializedSize();
        }
        if (bytes > MAX_MODEL_BYTES) {
            throw new ConversionException("the model needs " + bytes + " bytes, over ONNX's 2 GB single-file "
                    + "limit; models larger than ViT-L are not supported yet");
        }
    }

    /**
     * "Finite or refused": the mapper already names a checkpoint tensor holding NaN or infinity; this catches the
     * same in weights that did not come straight from a checkpoint (fine-tuning), before they are written.
     */
    private static void requireFinite(VitParameters p, String source) {
        String advice = "refusing to write a model with non-finite weights (from " + source + ")";
        Map<String, Tensor> named = new LinkedHashMap<>();
        named.put("patch_embed.weight", p.patchWeight());
        named.put("patch_embed.bias", p.patchBias());
        named.put("cls_token", p.classToken());
        named.put("register_tokens", p.registerTokens());
        named.put("position_embeddings", p.positions());
        putNorm(named, "pre_norm", p.preNorm());
        for (int i = 0; i < p.blocks().size(); i++) {
            VitParameters.Block b = p.blocks().get(i);
            String n = "blocks." + i + ".";
            putNorm(named, n + "norm1", b.norm1());
            putLinear(named, n + "qkv", b.qkv());
            putLinear(named, n + "proj", b.proj());
            named.put(n + "ls1", b.layerScale1());
            putNorm(named, n + "norm2", b.norm2());
            putLinear(named, n + "fc1", b.fc1());
            putLinear(named, n + "fc2", b.fc2());
            named.put(n + "ls2", b.layerScale2());
        }
        putNorm(named, "final_norm", p.finalNorm());
        putLinear(named, "head", p.head());
        putLinear(named, "pooler", p.pooler());
        named.put("projection", p.projection());
        named.put("distillation_token", p.distillationToken());
        putLinear(named, "head_distillation", p.distillationHead());
        if (p.swin() != null) {
            putNorm(named, "patch_norm", p.swin().patchNorm());
            for (int i = 0; i < p.swin().merges().size(); i++) {
                putNorm(named, "merges." + i + ".norm", p.swin().merges().get(i).norm());
                putLinear(named, "merges." + i + ".reduction", p.swin().merges().get(i).reduction());
            }
            for (int i = 0; i < p.swin().relativeBias().size(); i++) {
                named.put("blocks." + i + ".relative_position_bias_table", p.swin().relativeBias().get(i));
            }
        }
        named.forEach((name, t) -> {
            if (t != null) {
                Finite.require(t.data(), "weight tensor " + name, advice);
            }
        });
    }

    private static void putNorm(Map<String, Tensor> named, String name, VitParameters.Norm norm) {
        if (norm != null) {
            named.put(name + ".weight", norm.weight());
            named.put(name + ".bias", norm.bias());
        }
    }

    private static void putLinear(Map<String, Tensor> named, String name, VitParameters.Linear linear) {
        if (linear != null) {
            named.put(name + ".weight", linear.weight());
            named.put(name + ".bias", linear.bias());
        }
    }
}
