package org.vitfit.convert;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import org.vitfit.convert.safetensors.Checkpoint;
import org.vitfit.preprocess.PreprocessRecipe;
import org.vitfit.runtime.Hashing;
import org.vitfit.runtime.ModelDescriptor;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Converts a checkpoint directory (timm or Hugging Face layout, safetensors weights) into a vitfit model
 * directory: {@code model.onnx} + {@code vitfit-model.json}. The output appears whole or not at all: it is
 * written to a temporary sibling directory and renamed into place.
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
     * @param overwrite          replace an existing output directory instead of refusing
     * @param preprocessorConfig a Hugging Face {@code preprocessor_config.json} to use instead of the one in
     *                           the checkpoint directory (for checkpoints saved without one); may be null
     * @param precision          fp32 (default), fp16 (for CUDA) or int8 (for CPU); see {@link Precision}
     */
    public record Options(String source, boolean overwrite, Path preprocessorConfig, Precision precision) {
        public Options {
            if (precision == null) {
                precision = Precision.FP32;
            }
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

    public static ModelDescriptor convert(Path checkpointDir, Path outputDir, Options options) throws IOException {
        Path out = outputDir.toAbsolutePath().normalize();
        if (Files.exists(out) && !options.overwrite()) {
            throw new FileAlreadyExistsException(out.toString(), null,
                    "output directory exists; choose another --output or pass --overwrite");
        }
        return write(load(checkpointDir, options), out, options.overwrite(), options.precision());
    }

    /**
     * A checkpoint read into the family-neutral layout, with what the model directory records about it.
     * Fine-tuning starts from this and writes its result back with {@link #write}.
     */
    public record Loaded(VitParameters parameters, PreprocessRecipe preprocessing, List<String> labels,
                         String weightsSha256, String source) {
    }

    /** Reads and checks a checkpoint directory without writing anything. */
    public static Loaded load(Path checkpointDir, Options options) throws IOException {
        if (!Files.isDirectory(checkpointDir)) {
            throw new ConversionException("checkpoint directory " + checkpointDir + " does not exist");
        }
        String source = options.source() != null ? options.source()
                : checkpointDir.toAbsolutePath().normalize().toString();
        ModelConfig config = ModelConfig.read(checkpointDir, options.preprocessorConfig());
        try (Checkpoint checkpoint = Checkpoint.open(checkpointDir)) {
            CheckpointMapper mapper = new CheckpointMapper(checkpoint, config.table());
            VitSpec spec = config.spec(mapper);
            checkGeometry(spec, checkpointDir);
            VitParameters params = mapper.map(spec);
            if (params.head() != null && config.labels() != null && config.labels().size() != params.head().outFeatures()) {
                throw new ConversionException(checkpointDir + ": " + config.labels().size() + " class names for a head of "
                        + params.head().outFeatures() + " outputs");
            }
            return new Loaded(params, config.preprocessing(), config.labels(), checkpoint.weightsSha256(), source);
        }
    }

    /** Builds the fp32 graph for {@code loaded} and writes the model directory {@code out} atomically. */
    public static ModelDescriptor write(Loaded loaded, Path out, boolean overwrite) throws IOException {
        return write(loaded, out, overwrite, Precision.FP32);
    }

    /** Builds the graph for {@code loaded} in {@code precision} and writes the model directory {@code out} atomically. */
    public static ModelDescriptor write(Loaded loaded, Path out, boolean overwrite, Precision precision)
            throws IOException {
        out = out.toAbsolutePath().normalize();
        if (Files.exists(out) && !overwrite) {
            throw new FileAlreadyExistsException(out.toString(), null,
                    "output directory exists; choose another output or allow overwriting");
        }
        VitParameters params = loaded.parameters();
        VitSpec spec = params.spec();
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("vitfit.family", spec.family());
        metadata.put("vitfit.architecture", spec.architecture());
        metadata.put("vitfit.source", loaded.source());
        metadata.put("vitfit.weights_sha256", loaded.weightsSha256());
        if (precision != Precision.FP32) {
            // Only then, so an fp32 conversion stays byte-identical (same sha256) to what earlier versions wrote.
            metadata.put("vitfit.precision", precision.label());
        }
        VitGraphBuilder.Built built = VitGraphBuilder.build(params, VitfitVersion.get(), metadata, precision);
        ModelDescriptor descriptor = new ModelDescriptor(ModelDescriptor.FORMAT, 1, loaded.source(), spec.family(),
                spec.architecture(), spec.imageHeight(), spec.imageWidth(), spec.patchSize(), spec.hiddenSize(),
                spec.numLayers(), spec.numHeads(), spec.mlpDim(), spec.numTokens(), built.embeddingDim(),
                spec.clipPooling() ? "clip_projection" : "cls_after_norm", built.outputs(),
                built.outputs().contains(VitGraphBuilder.LOGITS) ? loaded.labels() : null,
                loaded.weightsSha256(), null, precision.label(), VitfitVersion.get(), loaded.preprocessing());
        return writeAtomically(built.model(), descriptor, out);
    }

    private static void checkGeometry(VitSpec s, Path dir) throws ConversionException {
        if (s.imageHeight() % s.patchSize() != 0 || s.imageWidth() % s.patchSize() != 0) {
            throw new ConversionException(dir + ": input " + s.imageHeight() + "x" + s.imageWidth()
                    + " is not a multiple of the patch size " + s.patchSize());
        }
        if (s.hiddenSize() % s.numHeads() != 0) {
            throw new ConversionException(dir + ": hidden size " + s.hiddenSize() + " is not divisible by "
                    + s.numHeads() + " attention heads");
        }
    }

    private static ModelDescriptor writeAtomically(ModelProto model, ModelDescriptor descriptor, Path out)
            throws IOException {
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
        Path parent = out.getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + out.getFileName() + ".tmp-");
        try {
            Path onnx = tmp.resolve(ModelDescriptor.ONNX_FILE_NAME);
            try (OutputStream os = Files.newOutputStream(onnx)) {
                model.writeTo(os);
            }
            fsync(onnx);
            ModelDescriptor withSha = descriptor.withOnnxSha256(Hashing.sha256(onnx));
            Path json = tmp.resolve(ModelDescriptor.FILE_NAME);
            withSha.write(json);
            fsync(json);
            fsyncDirectory(tmp);
            replace(tmp, out);
            fsyncDirectory(parent);
            return withSha;
        } finally {
            deleteTree(tmp);
        }
    }

    /**
     * Renames {@code tmp} to {@code out}, moving an existing {@code out} aside first so there is never a mix; if the
     * second rename fails the old directory is moved back, so a failed overwrite keeps the previous model.
     */
    private static void replace(Path tmp, Path out) throws IOException {
        Path old = null;
        if (Files.exists(out)) {
            old = out.resolveSibling("." + out.getFileName() + ".old-" + System.nanoTime());
            Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
        }
        try {
            try {
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, out);
            }
        } catch (IOException | RuntimeException e) {
            if (old != null) {
                try {
                    Files.move(old, out, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException restore) {
                    e.addSuppressed(new IOException("the previous " + out + " is left at " + old, restore));
                }
            }
            throw e;
        }
        if (old != null) {
            deleteTree(old);
        }
    }

    private static void fsync(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    /** Makes new entries and renames in {@code dir} durable; skipped where a directory cannot be opened. */
    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // Some platforms cannot open a directory for fsync; the rename itself is still atomic.
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
