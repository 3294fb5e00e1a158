package org.vitfit.finetune;

import org.vitfit.onnx.Device;
import org.vitfit.runtime.OptionBounds;

/**
 * Settings of one fine-tuning run. Defaults follow the usual ViT fine-tuning recipe: AdamW, backbone learning
 * rate 10x below the head's, warm-up then cosine, weight decay 0.05 on weight matrices, clipping at norm 1.
 *
 * @param warmupFraction share of all optimiser steps spent warming up
 * @param patience       epochs without a better validation loss before stopping; 0 never stops early
 * @param valFraction    share of the training rows held out for validation when the input has no val split
 * @param cropScaleMin   the random crop keeps between this share of the image area and all of it
 * @param trainBlocks    how many of the last transformer blocks train ({@link #ALL_BLOCKS}: every block and the
 *                       embedding; 0: the classifier alone); with LoRA, how many of the last blocks get adapters
 * @param lora           low-rank adapters instead of full weights, or null
 * @param threads        ONNX Runtime intra-op threads (0: its default, one per core)
 */
public record FinetuneOptions(int epochs, int batchSize, double lrBackbone, double lrHead, double weightDecay,
                              double warmupFraction, LrSchedule schedule, double maxGradNorm, long seed, int patience,
                              double valFraction, boolean augment, double cropScaleMin, boolean multiLabel,
                              int trainBlocks, LoraConfig lora, Device device, int threads, boolean overwrite) {

    /** {@link #trainBlocks} value for "every block". */
    public static final int ALL_BLOCKS = -1;

    public FinetuneOptions {
        require(epochs >= 1 && epochs <= 100_000, "--epochs must be between 1 and 100000, got " + epochs);
        OptionBounds.require("--batch-size", batchSize, 1, OptionBounds.MAX_BATCH_SIZE, "images per training step; "
                + "a batch this large would not fit in memory for any ViT");
        require(finite(lrBackbone) && lrBackbone >= 0, "--lr-backbone must be a finite number >= 0 (0 freezes the "
                + "backbone), got " + lrBackbone);
        require(finite(lrHead) && lrHead > 0, "--lr-head must be a finite number > 0, got " + lrHead);
        require(finite(weightDecay) && weightDecay >= 0, "--weight-decay must be a finite number >= 0, got "
                + weightDecay);
        require(warmupFraction >= 0 && warmupFraction < 1, "--warmup must be in [0, 1), got " + warmupFraction);
        require(maxGradNorm > 0, "--clip must be > 0 (0 on the command line disables clipping), got " + maxGradNorm);
        require(patience >= 0, "--patience must be >= 0, got " + patience);
        require(valFraction > 0 && valFraction < 1, "--val-fraction must be in (0, 1), got " + valFraction);
        require(cropScaleMin > 0 && cropScaleMin <= 1, "crop scale minimum must be in (0, 1], got " + cropScaleMin);
        require(trainBlocks >= ALL_BLOCKS, "--train-blocks must be >= 0, got " + trainBlocks);
        OptionBounds.require("--threads", threads, 0, OptionBounds.MAX_THREADS, "ONNX Runtime threads; 0 lets it "
                + "choose, one per core");
        if (lrBackbone == 0 && lora != null) {
            throw new IllegalArgumentException("--lr-backbone 0 would freeze the LoRA adapters too; give the adapters "
                    + "a learning rate (e.g. --lr-backbone 1e-3) or drop --lora-rank");
        }
        if (lrBackbone == 0 && trainBlocks > 0) {
            throw new IllegalArgumentException("--lr-backbone 0 freezes the backbone, but --train-blocks "
                    + trainBlocks + " asks to train blocks; drop one of the two");
        }
    }

    public static FinetuneOptions defaults() {
        return new FinetuneOptions(5, 32, 3e-5, 3e-4, 0.05, 0.1, LrSchedule.COSINE, 1.0, 42, 3, 0.1, true, 0.5,
                false, ALL_BLOCKS, null, Device.CPU, 0, false);
    }

    /**
     * How many of the model's {@code depth} blocks train: as asked, all by default, none with {@code --lr-backbone 0}
     * (a backbone that never moves is frozen, so it neither gets gradients nor enters the clipping norm).
     */
    public int trainBlocks(int depth) {
        if (lrBackbone == 0) {
            return 0;
        }
        return trainBlocks == ALL_BLOCKS ? depth : trainBlocks;
    }

    /** The settings a resumed run must share with the interrupted one (they shape the schedule and the data order). */
    String fingerprint() {
        return String.join(",", String.valueOf(epochs), String.valueOf(batchSize), String.valueOf(lrBackbone),
                String.valueOf(lrHead), String.valueOf(weightDecay), String.valueOf(warmupFraction), schedule.toString(),
                String.valueOf(maxGradNorm), String.valueOf(seed), String.valueOf(valFraction), String.valueOf(augment),
                String.valueOf(cropScaleMin), String.valueOf(multiLabel), String.valueOf(trainBlocks),
                lora == null ? "no-lora" : "lora:" + lora.rank() + ":" + lora.alpha() + ":" + lora.targetList());
    }

    private static boolean finite(double v) {
        return !Double.isNaN(v) && !Double.isInfinite(v);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
