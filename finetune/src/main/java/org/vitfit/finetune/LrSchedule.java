package org.vitfit.finetune;

/**
 * Learning-rate multiplier (of the peak rate) for optimiser step {@code step} (0-based) of {@code totalSteps}.
 * {@code COSINE}: linear warm-up, (step + 1) / warmupSteps, so the first step already moves, then half a cosine
 * from 1 down towards 0 over the remaining steps (Hugging Face's cosine schedule with warm-up, shifted by one).
 * {@code ONE_CYCLE}: PyTorch's OneCycleLR (cosine annealing, div_factor 25, final_div_factor 1e4, two phases)
 * with pct_start = warmupSteps / totalSteps.
 */
public enum LrSchedule {
    COSINE, ONE_CYCLE;

    public double factor(long step, long warmupSteps, long totalSteps) {
        if (totalSteps <= 0 || step < 0) {
            throw new IllegalArgumentException("step " + step + " of " + totalSteps + ": a schedule needs steps >= 0 of at least one");
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
                double initial = 1 / 25.0;
                double min = initial / 1e4;
                double phase1End = Math.max(1, warm) - 1.0;
                if (step <= phase1End && phase1End > 0) {
                    return anneal(initial, 1.0, step / phase1End);
                }
                double pct = (step - phase1End) / Math.max(1.0, totalSteps - 1 - phase1End);
                return anneal(1.0, min, Math.min(1.0, pct));
            }
            default:
                throw new IllegalStateException(toString());
        }
    }

    /** PyTorch's _annealing_cos: from {@code from} at pct 0 to {@code to} at pct 1 along half a cosine. */
    private static double anneal(double from, double to, double pct) {
        return to + (from - to) / 2 * (1 + Math.cos(Math.PI * pct));
    }
}
