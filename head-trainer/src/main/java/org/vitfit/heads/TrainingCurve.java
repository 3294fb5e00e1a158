package org.vitfit.heads;

import java.util.List;

/**
 * Per-epoch history of one training run, for the training-curve plot and {@code metrics.json}.
 *
 * @param trainLoss        mean training loss of each epoch
 * @param validationLoss   validation loss after each epoch (empty when the trainer had no validation split)
 * @param validationMetric validation accuracy (multi-class) or micro-F1 at 0.5 (multi-label) after each epoch, or empty
 * @param metricName       name of {@code validationMetric}
 * @param bestEpoch        1-based epoch whose parameters the head kept (the last one without early stopping)
 */
public record TrainingCurve(List<Double> trainLoss, List<Double> validationLoss, List<Double> validationMetric,
                            String metricName, int bestEpoch) {
    public TrainingCurve {
        trainLoss = List.copyOf(trainLoss);
        validationLoss = List.copyOf(validationLoss);
        validationMetric = List.copyOf(validationMetric);
    }
}
