package org.vitfit.heads;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ThresholdsTest {

    @Test
    void globalThresholdMaximisesMicroF1() {
        // two labels, six examples; positives score 0.35..0.45, negatives 0.1..0.3, one negative at 0.42
        float[] scores = {
                0.40f, 0.10f,
                0.35f, 0.20f,
                0.30f, 0.45f,
                0.42f, 0.37f,
                0.12f, 0.28f,
                0.25f, 0.05f};
        boolean[] truth = {
                true, false,
                true, false,
                false, true,
                false, true,
                false, false,
                false, false};
        Thresholds t = Thresholds.tune(Thresholds.Mode.GLOBAL, scores, truth, 6, 2);
        // at t in [0.30, 0.35): tp 4, fp 1 (0.42) -> F1 = 8/9, the best reachable; the grid point nearest 0.5 is 0.34
        assertEquals(0.34f, t.values()[0], 1e-6);
        assertEquals(0.34f, t.values()[1], 1e-6);
    }

    @Test
    void perLabelThresholdsAreChosenIndependently() {
        // label 0 separates at 0.6 (positives 0.7, 0.8; negatives 0.5, 0.55), label 1 at 0.2 (pos 0.25, 0.3; neg 0.1, 0.15)
        float[] scores = {0.7f, 0.25f, 0.8f, 0.3f, 0.5f, 0.1f, 0.55f, 0.15f};
        boolean[] truth = {true, true, true, true, false, false, false, false};
        Thresholds t = Thresholds.tune(Thresholds.Mode.PER_LABEL, scores, truth, 4, 2);
        // every threshold in [0.55, 0.70) gives F1 = 1 for label 0; nearest 0.5 is 0.55. Label 1: [0.15, 0.25) -> 0.24
        assertEquals(0.55f, t.values()[0], 1e-6);
        assertEquals(0.24f, t.values()[1], 1e-6);
    }

    @Test
    void noValidationRowsOrFixedModeGiveHalf() {
        assertEquals(0.5f, Thresholds.tune(Thresholds.Mode.GLOBAL, new float[0], new boolean[0], 0, 3).values()[2]);
        Thresholds fixed = Thresholds.tune(Thresholds.Mode.FIXED, new float[] {0.9f}, new boolean[] {false}, 1, 1);
        assertEquals(Thresholds.Mode.FIXED, fixed.mode());
        assertEquals(0.5f, fixed.values()[0]);
    }
}
