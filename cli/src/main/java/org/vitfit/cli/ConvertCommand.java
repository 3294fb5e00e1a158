package org.vitfit.cli;

import org.vitfit.convert.Converter;
import org.vitfit.convert.Precision;
import org.vitfit.convert.quant.CalibrationRequest;
import org.vitfit.convert.quant.Calibrator;
import org.vitfit.convert.quant.Quantizing;
import org.vitfit.extract.InputItem;
import org.vitfit.extract.InputScanner;
import org.vitfit.hub.HubClient;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;
import org.vitfit.runtime.ModelDescriptor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "convert",
        description = {
                "Convert a pretrained ViT checkpoint to an ONNX embedding model, in pure Java.",
                "",
                "Reads config.json + model.safetensors (or a sharded model.safetensors.index.json) in timm",
                "layout (vit_*, deit_*_distilled_*, swin_*) or Hugging Face layout (ViTModel,",
                "ViTForImageClassification, DeiTModel, DeiTForImageClassification[WithTeacher], SwinModel,",
                "SwinForImageClassification, Dinov2Model, CLIPVisionModel[WithProjection], CLIPModel) and writes",
                "<output>/model.onnx with input pixel_values [N,3,H,W] and outputs embedding [N,D],",
                "last_hidden_state [N,T,D] (and logits when the checkpoint has a head), plus",
                "<output>/vitfit-model.json with the preprocessing.",
                "",
                "Examples:",
                "  vitfit convert models/vit-tiny-patch16-224-augreg --output target/vit-tiny",
                "  vitfit convert --hub google/vit-base-patch16-224 --output models/vit-base",
                "  vitfit convert models/vit-tiny-patch16-224-augreg --precision int8 --output target/vit-tiny-int8",
                "  vitfit convert models/vit-tiny-patch16-224-augreg --precision int8 --calibration photos/ \\",
                "      --output target/vit-tiny-int8-static",
        },
        mixinStandardHelpOptions = true)
final class ConvertCommand implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "CHECKPOINT_DIR",
            description = "Local checkpoint directory (omit when using --hub).")
    Path checkpoint;

    @Option(names = "--hub", paramLabel = "REPO[@REVISION]",
            description = "Download the checkpoint from the Hugging Face Hub into the local HF cache first "
                    + "(honours HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE and HF_HUB_OFFLINE=1).")
    String hub;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Directory to create.")
    Path output;

    @Option(names = "--overwrite", description = "Replace --output if it is a model directory an earlier "
            + "'vitfit convert' wrote (anything else is refused).")
    boolean overwrite;

    @Option(names = "--preprocessor-config", paramLabel = "FILE",
            description = "preprocessor_config.json to use when the checkpoint directory has none (Hugging Face layouts).")
    Path preprocessorConfig;

    @Option(names = "--precision", paramLabel = "fp32|fp16|int8", defaultValue = "fp32",
            description = "Numeric precision of the model: fp32 (default, exact); int8 for CPU (weights quantised per "
                    + "output channel; with --calibration, activation scales measured on your images and nearly every "
                    + "product in int8, else activations quantised at run time and fc2 left float; timm and Hugging "
                    + "Face ViTs only); fp16 for the CUDA execution provider. Inputs and outputs stay float32.")
    String precision;

    @Option(names = "--calibration", paramLabel = "FOLDER|MANIFEST",
            description = "int8 only: images like the ones you will embed (a folder or .csv/.jsonl manifest, as for "
                    + "extract); static int8 measures its activation scales on up to --calibration-images of them.")
    Path calibration;

    @Option(names = "--calibration-images", paramLabel = "N", defaultValue = "" + Calibrator.DEFAULT_IMAGES,
            description = "How many calibration images to measure, spread evenly over the listing (default: ${DEFAULT-VALUE}).")
    int calibrationImages;

    @Option(names = "--offline", description = "Use only the local Hub cache (same as HF_HUB_OFFLINE=1).")
    boolean offline;

    @Override
    public Integer call() throws Exception {
        if ((checkpoint == null) == (hub == null)) {
            throw new IllegalArgumentException("give either a CHECKPOINT_DIR or --hub REPO[@REVISION], not both or neither");
        }
        Path dir = checkpoint;
        String source = null;
        if (hub != null) {
            HubClient.Builder b = HubClient.builder();
            if (offline) {
                b.offline(true);
            }
            HubClient client = b.build();
            // Refused before a download that may take long; the snapshot itself is checked again by convert.
            List<SafeOutput.Input> inputs = new ArrayList<>(List.of(SafeOutput.Input.of("Hub cache", client.cacheDir())));
            if (preprocessorConfig != null) {
                inputs.add(SafeOutput.Input.of("--preprocessor-config", preprocessorConfig));
            }
            SafeOutput.checkDirectory(output, OutputKind.MODEL, overwrite, inputs);
            dir = client.snapshot(hub);
            source = "hub:" + hub;
        }
        Precision p = Precision.parse(precision);
        CalibrationRequest request = null;
        if (calibration != null) {
            if (calibrationImages < Calibrator.MIN_IMAGES) {
                throw new IllegalArgumentException("--calibration-images " + calibrationImages + " is too few: give at least "
                        + Calibrator.MIN_IMAGES + " (default " + Calibrator.DEFAULT_IMAGES + ")");
            }
            Quantizing.check(p, new CalibrationRequest(calibration.toString(), List.of(), 0, null));
            List<Path> all = new ArrayList<>();
            for (InputItem item : InputScanner.scan(calibration, List.of(), List.of()).items()) {
                all.add(item.file());
            }
            List<Path> picked = Calibrator.sample(all, calibrationImages);
            System.err.printf("calibrating int8 on %d of the %d images in %s%n", picked.size(), all.size(), calibration);
            request = new CalibrationRequest(calibration.toAbsolutePath().normalize().toString(), picked, 0,
                    System.err::println);
        }
        ModelDescriptor d = Converter.convert(dir, output,
                new Converter.Options(source, overwrite, preprocessorConfig, p, request));
        System.out.printf("converted %s (%s, %s): %d layers, width %d, %d tokens, embedding dim %d, %s%n",
                d.architecture(), d.family(), d.source(), d.numLayers(), d.hiddenSize(), d.numTokens(), d.embeddingDim(),
                d.precision());
        if (d.quantization() != null) {
            ModelDescriptor.Quantization q = d.quantization();
            System.out.printf("int8 %s: %s%s%n", q.mode(), q.int8(), q.floatLayers() == null || q.floatLayers().isEmpty()
                    ? "" : "; float: " + q.floatLayers());
        }
        System.out.printf("outputs %s -> %s%n", d.outputs(), output.resolve(ModelDescriptor.ONNX_FILE_NAME));
        return 0;
    }
}
