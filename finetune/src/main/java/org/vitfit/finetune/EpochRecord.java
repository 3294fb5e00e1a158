package org.vitfit.finetune;

/**
 * One epoch's figures. Scores are accuracy (multi-class) or micro-F1 at probability 0.5 (multi-label), each over
 * the whole split; the training figures are those of the augmented images as the weights moved during the epoch.
 *
 * @param seconds      the whole epoch: training, validation and the checkpoint
 * @param trainSeconds the training steps alone (data preparation included)
 * @param lrBackbone   the backbone learning rate of the epoch's last step
 */
public record EpochRecord(int epoch, double trainLoss, double trainScore, double valLoss, double valScore,
                          double seconds, double trainSeconds, double lrBackbone) {
}
