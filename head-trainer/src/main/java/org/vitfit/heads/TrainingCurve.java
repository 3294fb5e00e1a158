package org.vitfit.heads;

import java.util.List;

/**
 * Per-step history of one training run, for the training-curve plot and {@code metrics.json}.
 *
 * @param trainLoss        mean training loss after each step
 * @param validationLoss   validation loss after each step (empty when the trainer had no validation split)
 * @param validationMetric validation accuracy (multi-class) or micro-F1 at 0.5 (multi-label) after each step, or empty
 * @param metricName       name of {@code validationMetric}
 * @param bestEpoch        1-based step whose parameters the head kept (the last one without early stopping)
 * @param unit             what one step is: {@code "epoch"} (SGD, MLP) or {@code "iteration"} (L-BFGS)
 */
public record TrainingCurve(List<Double> trainLoss, List<Double> validationLoss, List<Double> validationMetric,
                            String metricName, int bestEpoch, String unit) {
    public TrainingCurve {
        trainLoss = List.copyOf(trainLoss);
        validationLoss = List.copyOf(validationLoss);
        validationMetric = List.copyOf(validationMetric);
    }

    /** A curve counted in epochs. */
    public TrainingCurve(List<Double> trainLoss, List<Double> validationLoss, List<Double> validationMetric,
                         String metricName, int bestEpoch) {
        this(trainLoss, validationLoss, validationMetric, metricName, bestEpoch, "epoch");
    }
}
