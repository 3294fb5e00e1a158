package org.vitfit.runtime;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import org.vitfit.preprocess.PreprocessRecipe;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The contents of {@code vitfit-model.json}, written by {@code vitfit convert} beside {@code model.onnx}.
 * Everything downstream (extractor, cache headers, exported classifiers) identifies a model by it.
 *
 * @param format         always {@value #FORMAT}
 * @param formatVersion  bumped on incompatible changes
 * @param source         where the checkpoint came from (a path or {@code hub:<repo>@<revision>})
 * @param family         the checkpoint layout: {@code timm_vit}, {@code hf_vit}, {@code dinov2}, {@code clip_vision},
 *                       {@code timm_deit}, {@code hf_deit}, {@code timm_swin}, {@code hf_swin}
 * @param architecture   the architecture name the checkpoint gives (timm {@code architecture}, HF {@code architectures[0]})
 * @param imageHeight    input height the graph is built for
 * @param imageWidth     input width the graph is built for
 * @param patchSize      side of one square patch
 * @param hiddenSize     token width D (Swin: of the last stage)
 * @param numLayers      transformer blocks (Swin: of all stages)
 * @param numHeads       attention heads (Swin: of the last stage)
 * @param mlpDim         hidden width of each block's MLP (Swin: of the last stage)
 * @param numTokens      tokens per image of {@code last_hidden_state} (CLS, distillation, registers, patches; Swin:
 *                       the last stage's grid)
 * @param embeddingDim   width of the {@code embedding} output
 * @param embeddingPooling what {@code embedding} is: {@code cls_after_norm}, {@code clip_projection},
 *                       {@code cls_distillation_mean_after_norm} (distilled DeiT) or {@code mean_after_norm} (Swin)
 * @param outputs        ONNX output names, in graph order
 * @param labels         class names for {@code logits}, or null when the checkpoint has no head
 * @param weightsSha256  sha256 of the checkpoint's weight file(s), in shard order
 * @param onnxSha256     sha256 of {@code model.onnx}; the identity the embedding cache checks
 * @param precision      {@code fp32}, {@code fp16} or {@code int8} (inputs and outputs are float32 in all three)
 * @param toolVersion    vitfit version that wrote the model
 * @param preprocessing  the preprocessing recipe
 * @param quantization   how an int8 model was quantised (null for fp32 and fp16)
 * @param task           what {@code logits} are for: {@value #MULTILABEL} (independent sigmoid per label, a model
 *                       fine-tuned with {@code --multilabel}) or absent/{@value #MULTICLASS} (softmax over labels)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record ModelDescriptor(
        String format,
        int formatVersion,
        String source,
        String family,
        String architecture,
        int imageHeight,
        int imageWidth,
        int patchSize,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int mlpDim,
        int numTokens,
        int embeddingDim,
        String embeddingPooling,
        List<String> outputs,
        List<String> labels,
        String weightsSha256,
        String onnxSha256,
        String precision,
        String toolVersion,
        PreprocessRecipe preprocessing,
        Quantization quantization,
        String task) {

    /**
     * How an int8 model was made.
     *
     * @param mode        {@code dynamic} (activation scales computed at run time, per batch) or {@code static}
     *                    (scales measured on calibration images and fixed in the graph)
     * @param int8        the products that run in int8, e.g. {@code qkv, proj, fc1, fc2}
     * @param floatLayers layers that stay float in a static model, with the reason (e.g. {@code blocks.11.fc2}:
     *                    {@code last block})
     * @param smoothing   SmoothQuant migration strength used for the static model's activations
     * @param calibration the images the static scales were measured on
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Quantization(String mode, String int8, Map<String, String> floatLayers, Double smoothing,
                               Calibration calibration) {
    }

    /**
     * The calibration images of a static int8 model.
     *
     * @param source       the folder or manifest given to {@code --calibration}
     * @param images       images measured
     * @param skipped      images that could not be decoded
     * @param imagesSha256 sha256 over the sha256 of every measured image, in the order measured
     */
    public record Calibration(String source, int images, int skipped, String imagesSha256) {
    }

    public static final String FORMAT = "vitfit-model";
    public static final String FILE_NAME = "vitfit-model.json";
    public static final String ONNX_FILE_NAME = "model.onnx";
    public static final String MULTICLASS = "multiclass";
    public static final String MULTILABEL = "multilabel";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * A descriptor that is not int8 and has no task (what every writer before fine-tuned multi-label models wrote:
     * multi-class).
     */
    public ModelDescriptor(String format, int formatVersion, String source, String family, String architecture,
                           int imageHeight, int imageWidth, int patchSize, int hiddenSize, int numLayers, int numHeads,
                           int mlpDim, int numTokens, int embeddingDim, String embeddingPooling, List<String> outputs,
                           List<String> labels, String weightsSha256, String onnxSha256, String precision,
                           String toolVersion, PreprocessRecipe preprocessing) {
        this(format, formatVersion, source, family, architecture, imageHeight, imageWidth, patchSize, hiddenSize,
                numLayers, numHeads, mlpDim, numTokens, embeddingDim, embeddingPooling, outputs, labels, weightsSha256,
                onnxSha256, precision, toolVersion, preprocessing, null, null);
    }

    /** Reads {@code dir/vitfit-model.json}, with an error that says how to make one when it is missing. */
    public static ModelDescriptor read(Path dir) throws IOException {
        Path file = dir.resolve(FILE_NAME);
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null,
                    "not a converted vitfit model directory (no " + FILE_NAME + "); run 'vitfit convert' first");
        }
        ModelDescriptor d = JSON.readValue(file.toFile(), ModelDescriptor.class);
        if (!FORMAT.equals(d.format())) {
            throw new IOException(file + ": format is '" + d.format() + "', expected '" + FORMAT + "'");
        }
        if (d.task() != null && !MULTICLASS.equals(d.task()) && !MULTILABEL.equals(d.task())) {
            throw new IOException(file + ": task is '" + d.task() + "', expected '" + MULTICLASS + "' or '"
                    + MULTILABEL + "'");
        }
        return d;
    }

    public void write(Path file) throws IOException {
        JSON.writeValue(file.toFile(), this);
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public ModelDescriptor withOnnxSha256(String sha) {
        return new ModelDescriptor(format, formatVersion, source, family, architecture, imageHeight, imageWidth,
                patchSize, hiddenSize, numLayers, numHeads, mlpDim, numTokens, embeddingDim, embeddingPooling,
                outputs, labels, weightsSha256, sha, precision, toolVersion, preprocessing, quantization, task);
    }

    public ModelDescriptor withQuantization(Quantization q) {
        return new ModelDescriptor(format, formatVersion, source, family, architecture, imageHeight, imageWidth,
                patchSize, hiddenSize, numLayers, numHeads, mlpDim, numTokens, embeddingDim, embeddingPooling,
                outputs, labels, weightsSha256, onnxSha256, precision, toolVersion, preprocessing, q, task);
    }

    /** The same descriptor recording what its logits are for ({@link #MULTICLASS} or {@link #MULTILABEL}). */
    public ModelDescriptor withTask(String newTask) {
        return new ModelDescriptor(format, formatVersion, source, family, architecture, imageHeight, imageWidth,
                patchSize, hiddenSize, numLayers, numHeads, mlpDim, numTokens, embeddingDim, embeddingPooling,
                outputs, labels, weightsSha256, onnxSha256, precision, toolVersion, preprocessing, quantization,
                newTask);
    }

    /** Whether {@code logits} are independent per-label scores (sigmoid) rather than one softmax. */
    public boolean multiLabel() {
        return MULTILABEL.equals(task);
    }
}
