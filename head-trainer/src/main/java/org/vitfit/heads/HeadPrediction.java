package org.vitfit.heads;

import java.util.List;

/**
 * What a head says about one embedding.
 *
 * @param labels    the head's labels, in score order
 * @param scores    probability per label (softmax for multi-class, sigmoid per label for multi-label)
 * @param predicted the decision: the most probable class (multi-class), or every label above its threshold
 *                  (multi-label; possibly none), in label order
 */
public record HeadPrediction(List<String> labels, float[] scores, List<String> predicted) {

    /** The label with the highest score. */
    public String top() {
        int best = 0;
        for (int j = 1; j < scores.length; j++) {
            if (scores[j] > scores[best]) {
                best = j;
            }
        }
        return labels.get(best);
    }
}
