package org.vitfit.cli;

import org.vitfit.finetune.FinetuneOptions;
import org.vitfit.finetune.Finetuner;
import org.vitfit.finetune.LoraConfig;
import org.vitfit.finetune.LrSchedule;
import org.vitfit.onnx.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "finetune",
        description = {
                "Fine-tune a ViT and a classifier on labelled images through ONNX Runtime.",
                "",
                "Trains with AdamW, the backbone at a lower learning rate than the new classifier, with warm-up and",
                "a cosine (or one-cycle) schedule, gradient clipping, random crops and flips. --train-blocks K",
                "trains only the last K blocks, the final norm and the classifier; the frozen layers get no",
                "gradient and, with --no-augment, run once per image into a cache. --lora-rank R trains low-rank",
                "adapters instead of the blocks' weights and merges them into the written model. Validates every",
                "epoch (a seeded --val-fraction of train; with a train/val split column, val is held out as test),",
                "keeps the epoch with the lowest validation loss and stops early after --patience epochs without",
                "one. A checkpoint is written every epoch to <output>.finetune-state/: re-running the same",
                "command after a crash resumes after the last finished epoch. The result is a converted model",
                "directory (embedding and logits outputs, class names) that extract, predict and export accept.",
                "",
                "Examples:",
                "  vitfit finetune --model models/vit-tiny-patch16-224-augreg --input photos/ --output target/tuned",
                "  vitfit finetune ... --train-blocks 2 --no-augment --lr-backbone 1e-4",
                "  vitfit finetune ... --lora-rank 8 --lora-alpha 16 --lr-backbone 1e-3",
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

    @Option(names = "--train-blocks", paramLabel = "K", description = "Train only the last K transformer blocks, "
            + "the final norm and the classifier (0: the classifier alone); default: every layer. With "
            + "--lora-rank: the last K blocks get adapters.")
    Integer trainBlocks;

    @Option(names = "--lora-rank", paramLabel = "R", description = "Train rank-R adapters (LoRA) on the blocks' "
            + "linear layers instead of their weights; --lr-backbone is the adapters' learning rate.")
    Integer loraRank;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA scaling numerator: updates are scaled by "
            + "A/R (default: R, i.e. 1).")
    Double loraAlpha;

    @Option(names = "--lora-targets", paramLabel = "LIST", description = "Linear layers that get adapters, of "
            + "qkv, proj, fc1, fc2 (default qkv).")
    String loraTargets;

    @Option(names = "--device", paramLabel = "cpu|cuda[:N]", defaultValue = "cpu", description = "Where to run; cuda needs the -Pgpu build (default ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "ONNX Runtime threads; 0 lets it choose.")
    int threads;

    @Option(names = "--overwrite", description = "Replace --output if it is an earlier vitfit fine-tuned model.")
    boolean overwrite;

    @Override
    public Integer call() throws Exception {
        LrSchedule s = switch (schedule.toLowerCase(Locale.ROOT)) {
            case "cosine" -> LrSchedule.COSINE;
            case "one-cycle", "onecycle" -> LrSchedule.ONE_CYCLE;
            default -> throw new IllegalArgumentException("--schedule must be cosine or one-cycle, got " + schedule);
        };
        if (loraRank == null && (loraAlpha != null || loraTargets != null)) {
            throw new IllegalArgumentException("--lora-alpha and --lora-targets need --lora-rank");
        }
        LoraConfig lora = loraRank == null ? null : new LoraConfig(loraRank, loraAlpha == null ? loraRank : loraAlpha,
                LoraConfig.parseTargets(loraTargets == null ? "qkv" : loraTargets));
        if (trainBlocks != null && trainBlocks < 0) {
            throw new IllegalArgumentException("--train-blocks must be >= 0, got " + trainBlocks);
        }
        FinetuneOptions o = new FinetuneOptions(epochs, batchSize, lrBackbone, lrHead, weightDecay, warmup, s,
                clip == 0 ? Double.POSITIVE_INFINITY : clip, seed, patience, valFraction, !noAugment, 0.5, multiLabel,
                trainBlocks == null ? FinetuneOptions.ALL_BLOCKS : trainBlocks, lora, Device.parse(device), threads,
                overwrite);
        Finetuner.Result r = Finetuner.run(model, input, output, o, System.out);
        if (r.model() == null) {
            System.out.println("stopped before the last epoch; run the same command again to resume");
            return 1;
        }
        return 0;
    }
}
