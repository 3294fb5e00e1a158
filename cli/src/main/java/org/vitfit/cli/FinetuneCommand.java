package org.vitfit.cli;

import org.vitfit.finetune.FinetuneOptions;
import org.vitfit.finetune.Finetuner;
import org.vitfit.finetune.LrSchedule;
import org.vitfit.onnx.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "finetune",
        description = {
                "Fine-tune the whole ViT (backbone and a classifier) on labelled images, through ONNX Runtime.",
                "",
                "Trains every weight with AdamW, the backbone at a lower learning rate than the new classifier,",
                "with warm-up and a cosine (or one-cycle) schedule, gradient clipping, random resized crops and",
                "flips. Validates every epoch (the input's val split, else a seeded --val-fraction of train),",
                "keeps the epoch with the lowest validation loss and stops early after --patience epochs without",
                "one. A checkpoint is written every epoch to <output>.finetune-state/: re-running the same",
                "command after a crash resumes after the last finished epoch. The result is a converted model",
                "directory (embedding and logits outputs, class names) that extract, predict and export accept.",
                "",
                "Example:",
                "  vitfit finetune --model models/vit-tiny-patch16-224-augreg --input photos/ --output target/tuned",
        },
        mixinStandardHelpOptions = true)
final class FinetuneCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Checkpoint directory, or a converted model directory whose checkpoint is on disk.")
    Path model;

    @Option(names = {"-i", "--input"}, required = true, paramLabel = "PATH",
            description = "Image folder (one sub-folder per class) or CSV/JSONL manifest (path, labels, split).")
    Path input;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Model directory to create.")
    Path output;

    @Option(names = "--epochs", paramLabel = "N", defaultValue = "5", description = "Epochs (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "32", description = "Images per step (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr-backbone", paramLabel = "X", defaultValue = "3e-5", description = "Peak backbone learning rate (default ${DEFAULT-VALUE}).")
    double lrBackbone;

    @Option(names = "--lr-head", paramLabel = "X", defaultValue = "3e-4", description = "Peak classifier learning rate (default ${DEFAULT-VALUE}).")
    double lrHead;

    @Option(names = "--weight-decay", paramLabel = "X", defaultValue = "0.05",
            description = "AdamW decoupled weight decay on weight matrices (default ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--warmup", paramLabel = "FRACTION", defaultValue = "0.1", description = "Share of steps spent warming up (default ${DEFAULT-VALUE}).")
    double warmup;

    @Option(names = "--schedule", paramLabel = "NAME", defaultValue = "cosine", description = "cosine or one-cycle (default ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--clip", paramLabel = "NORM", defaultValue = "1.0",
            description = "Global gradient-norm clipping threshold; 0 disables (default ${DEFAULT-VALUE}).")
    double clip;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "Seed for splits, order and augmentation (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--patience", paramLabel = "N", defaultValue = "3",
            description = "Stop after this many epochs without a better validation loss; 0 never (default ${DEFAULT-VALUE}).")
    int patience;

    @Option(names = "--val-fraction", paramLabel = "FRACTION", defaultValue = "0.1",
            description = "Share of train held out for validation when the input has no val split (default ${DEFAULT-VALUE}).")
    double valFraction;

    @Option(names = "--no-augment", description = "Train on the plain preprocessed images (no crop, no flip).")
    boolean noAugment;

    @Option(names = "--multilabel", description = "Several labels per image: sigmoid binary cross-entropy.")
    boolean multiLabel;

    @Option(names = "--device", paramLabel = "cpu|cuda[:N]", defaultValue = "cpu", description = "Where to run; cuda needs the -Pgpu build (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "ONNX Runtime threads; 0 lets it choose.")
    int threads;

    @Option(names = "--overwrite", description = "Replace --output if it exists.")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        LrSchedule s = switch (schedule.toLowerCase(Locale.ROOT)) {
            case "cosine" -> LrSchedule.COSINE;
            case "one-cycle", "onecycle" -> LrSchedule.ONE_CYCLE;
            default -> throw new IllegalArgumentException("--schedule must be cosine or one-cycle, got " + schedule);
        };
        FinetuneOptions o = new FinetuneOptions(epochs, batchSize, lrBackbone, lrHead, weightDecay, warmup, s,
                clip == 0 ? Double.POSITIVE_INFINITY : clip, seed, patience, valFraction, !noAugment, 0.5, multiLabel,
                Device.parse(device), threads, overwrite);
        Finetuner.Result r = Finetuner.run(model, input, output, o, System.out);
        if (r.model() == null) {
            System.out.println("stopped before the last epoch; run the same command again to resume");
            return 1;
        }
        return 0;
    }
}
