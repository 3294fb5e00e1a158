package org.vitfit.finetune;

/**
 * Learning-rate multiplier (of the peak rate) per optimiser step.
 * {@code COSINE}: linear warm-up from 0 over the warm-up steps, then cosine decay to 0 (timm, HF "cosine").
 * {@code ONE_CYCLE}: PyTorch OneCycleLR with cosine annealing: from 1/25 of the peak up to the peak over the
 * warm-up steps, then down to 1/25/1e4 of it.
 */
public enum LrSchedule {
    COSINE, ONE_CYCLE;

    public double factor(long step, long warmupSteps, long totalSteps) {
        if (totalSteps <= 0) {
            throw new IllegalArgumentException("a schedule needs at least one step");
        }
        long warm = Math.min(Math.max(warmupSteps, 0), totalSteps);
        switch (this) {
            case COSINE: {
                if (step < warm) {
                    return (step + 1) / (double) warm;
                }
                double progress = (step - warm) / (double) Math.max(1, totalSteps - warm);
                return 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, progress)));
            }
            case ONE_CYCLE: {
                double start = 1 / 25.0;
                double end = start / 1e4;
                if (step < warm) {
                    return anneal(start, 1.0, step / (double) Math.max(1, warm));
                }
                double progress = (step - warm) / (double) Math.max(1, totalSteps - warm - 1);
                return anneal(1.0, end, Math.min(1.0, progress));
            }
            default:
                throw new IllegalStateException(toString());
        }
    }

    private static double anneal(double from, double to, double pct) {
        return to + (from - to) / 2 * (1 + Math.cos(Math.PI * pct));
    }
}
