package org.vitfit.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RocAucTest {

    /** 40 examples x 5 labels, scores rounded to 0.01 so there are many ties; generated with numpy seed 7. */
    private static final float[] SCORES = {0.41f, 0.33f, 0.31f, 0.40f, 0.29f, 0.02f, 0.70f, 0.48f, 0.43f, 0.03f, 0.17f, 0.46f, 0.36f, 0.31f, 0.40f, 0.16f, 0.43f, 0.40f, 0.06f, 0.38f, 0.74f, 0.40f, 0.29f, 0.62f, 0.60f, 0.05f, 0.33f, 0.32f, 0.41f, 0.40f, 0.16f, 0.66f, 0.73f, 0.75f, 0.08f, 0.31f, 0.33f, 0.41f, 0.28f, 0.77f, 0.49f, 0.13f, 0.23f, 0.33f, 0.05f, 0.19f, 0.37f, 0.33f, 0.42f, 0.19f, 0.19f, 0.27f, 0.41f, 0.12f, 0.16f, 0.53f, 0.04f, 0.38f, 0.29f, 0.15f, 0.04f, 0.38f, 0.07f, 0.37f, 0.07f, 0.34f, 0.45f, 0.43f, 0.15f, 0.72f, 0.31f, 0.09f, 0.22f, 0.44f, 0.49f, 0.36f, 0.05f, 0.36f, 0.39f, 0.71f, 0.64f, 0.19f, 0.03f, 0.56f, 0.38f, 0.10f, 0.13f, 0.27f, 0.37f, 0.75f, 0.36f, 0.09f, 0.40f, 0.32f, 0.36f, 0.50f, 0.77f, 0.42f, 0.69f, 0.50f, 0.32f, 0.09f, 0.38f, 0.38f, 0.36f, 0.22f, 0.19f, 0.21f, 0.02f, 0.42f, 0.27f, 0.19f, 0.57f, 0.36f, 0.49f, 0.42f, 0.46f, 0.49f, 0.07f, 0.38f, 0.80f, 0.07f, 0.36f, 0.41f, 0.46f, 0.36f, 0.35f, 0.49f, 0.36f, 0.09f, 0.29f, 0.22f, 0.38f, 0.40f, 0.46f, 0.11f, 0.38f, 0.03f, 0.24f, 0.02f, 0.16f, 0.16f, 0.36f, 0.23f, 0.03f, 0.50f, 0.74f, 0.46f, 0.12f, 0.20f, 0.41f, 0.06f, 0.02f, 0.25f, 0.06f, 0.09f, 0.43f, 0.24f, 0.39f, 0.63f, 0.43f, 0.26f, 0.14f, 0.56f, 0.31f, 0.27f, 0.20f, 0.40f, 0.44f, 0.09f, 0.07f, 0.06f, 0.49f, 0.77f, 0.42f, 0.48f, 0.10f, 0.25f, 0.25f, 0.76f, 0.02f, 0.16f, 0.30f, 0.03f, 0.12f, 0.53f, 0.74f, 0.68f, 0.71f, 0.68f, 0.65f, 0.42f, 0.64f, 0.37f, 0.45f, 0.08f, 0.68f, 0.08f, 0.46f, 0.30f};
    private static final int[] TRUTH = {0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0};

    @Test
    void microAucMatchesScikitLearn() {
        boolean[] truth = new boolean[TRUTH.length];
        for (int i = 0; i < truth.length; i++) {
            truth[i] = TRUTH[i] == 1;
        }
        // sklearn.metrics.roc_auc_score(Y, S, average="micro") = 0.9155931787510735 (scikit-learn 1.2.1)
        assertEquals(0.9155931787510735, RocAuc.micro(SCORES, truth), 1e-12);
    }

    @Test
    void singleLabelAucMatchesScikitLearn() {
        float[] s = new float[40];
        boolean[] t = new boolean[40];
        for (int i = 0; i < 40; i++) {
            s[i] = SCORES[i * 5 + 2];
            t[i] = TRUTH[i * 5 + 2] == 1;
        }
        // roc_auc_score(Y[:, 2], S[:, 2]) = 0.9014336917562724
        assertEquals(0.9014336917562724, RocAuc.binary(s, t), 1e-12);
    }

    @Test
    void handComputedCases() {
        // positives 0.8 and 0.4, negatives 0.6 and 0.2: pairs (0.8>0.6, 0.8>0.2, 0.4<0.6, 0.4>0.2) = 3/4
        assertEquals(0.75, RocAuc.binary(new float[] {0.8f, 0.6f, 0.4f, 0.2f}, new boolean[] {true, false, true, false}), 1e-12);
        // a tie between a positive and a negative counts one half
        assertEquals(0.5, RocAuc.binary(new float[] {0.5f, 0.5f}, new boolean[] {true, false}), 1e-12);
        assertTrue(Double.isNaN(RocAuc.binary(new float[] {0.1f, 0.9f}, new boolean[] {true, true})));
    }
}
