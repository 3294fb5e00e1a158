package org.vitfit.finetune;

import org.vitfit.onnx.Device;

/**
 * Settings of one fine-tuning run. Defaults follow the usual ViT fine-tuning recipe: AdamW, backbone learning
 * rate 10x below the head's, warm-up then cosine, weight decay 0.05 on weight matrices, clipping at norm 1.
 *
 * @param warmupFraction share of all optimiser steps spent warming up
 * @param patience       epochs without a better validation loss before stopping; 0 never stops early
 * @param valFraction    share of the training rows held out for validation when the input has no val split
 * @param cropScaleMin   random resized crop keeps between this share of the image area and all of it
 * @param threads        ONNX Runtime intra-op threads (0: its default)
 */
public record FinetuneOptions(int epochs, int batchSize, double lrBackbone, double lrHead, double weightDecay,
                              double warmupFraction, LrSchedule schedule, double maxGradNorm, long seed, int patience,
                              double valFraction, boolean augment, double cropScaleMin, boolean multiLabel,
                              Device device, int threads, boolean overwrite) {

    public FinetuneOptions {
        require(epochs >= 1, "epochs must be at least 1");
        require(batchSize >= 1, "batch size must be at least 1");
        require(lrBackbone >= 0 && lrHead > 0, "learning rates must be positive (the backbone's may be 0 to freeze it)");
        require(weightDecay >= 0, "weight decay must be >= 0");
        require(warmupFraction >= 0 && warmupFraction < 1, "warm-up fraction must be in [0, 1)");
        require(maxGradNorm > 0, "max gradient norm must be > 0 (Infinity disables clipping)");
        require(patience >= 0, "patience must be >= 0");
        require(valFraction > 0 && valFraction < 1, "validation fraction must be in (0, 1)");
        require(cropScaleMin > 0 && cropScaleMin <= 1, "crop scale minimum must be in (0, 1]");
    }

    public static FinetuneOptions defaults() {
        return new FinetuneOptions(5, 32, 3e-5, 3e-4, 0.05, 0.1, LrSchedule.COSINE, 1.0, 42, 3, 0.1, true, 0.5,
                false, Device.CPU, 0, false);
    }

    /** The settings a resumed run must share with the interrupted one (they shape the schedule and the data order). */
    String fingerprint() {
        return String.join(",", String.valueOf(epochs), String.valueOf(batchSize), String.valueOf(lrBackbone), String.valueOf(lrHead),
                String.valueOf(weightDecay), String.valueOf(warmupFraction), schedule.toString(),
                String.valueOf(maxGradNorm), String.valueOf(seed), String.valueOf(valFraction), String.valueOf(augment),
                String.valueOf(cropScaleMin), String.valueOf(multiLabel));
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
