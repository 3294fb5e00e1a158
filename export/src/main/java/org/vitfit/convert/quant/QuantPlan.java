package org.vitfit.convert.quant;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Which linear layers of a calibrated int8 graph stay float, and why. Everything else in the blocks is int8: qkv,
 * proj, fc1, fc2. The attention products (q kT, probs v) run in float inside ONNX Runtime's QAttention: uint8 softmax
 * probabilities (steps of 1/255 where a uniform attention over 197 tokens is 1/197) took the worst embedding cosine
 * of the bundled ViT-Tiny to 0.970 on their own, and int8 scores saved less time than the fused kernel does.
 *
 * <p>fc2 stays float where per-tensor activation scales cannot work:
 * <ul>
 *   <li>where a few tokens' activations dwarf the rest ({@link Calibration#tokenOutliers()} above
 *       {@link #TOKEN_OUTLIER_LIMIT}): ViTs grow such "high-norm" tokens in their middle blocks, and one per-tensor
 *       scale then leaves every other token a handful of levels (the bundled ViT-Tiny's block 7: ratio 82, against
 *       2-7 elsewhere; its fc2 in int8 cost 0.004 of worst-case cosine alone);</li>
 *   <li>in the last block, whose fc2 output reaches the embedding with no later block to average its error out (it
 *       alone took the worst cosine to 0.975).</li>
 * </ul>
 *
 * @param floatLayers layer name to the reason it stays float
 */
public record QuantPlan(Map<String, String> floatLayers) {

    /** Largest token over the median token (fc2 input) above which fc2 stays float. */
    public static final double TOKEN_OUTLIER_LIMIT = 16;

    public QuantPlan {
        floatLayers = Collections.unmodifiableMap(new LinkedHashMap<>(floatLayers));
    }

    static QuantPlan of(Calibration c, int blocks) {
        Map<String, String> keep = new LinkedHashMap<>();
        for (int i = 0; i < blocks; i++) {
            String fc2 = "blocks." + i + ".fc2";
            Double ratio = c.tokenOutliers().get(fc2);
            if (i == blocks - 1) {
                keep.put(fc2, "last block");
            } else if (ratio != null && ratio > TOKEN_OUTLIER_LIMIT) {
                keep.put(fc2, String.format(java.util.Locale.ROOT, "token outliers %.0fx the median token", ratio));
            }
        }
        return new QuantPlan(keep);
    }

    public boolean quantised(String layer) {
        return !floatLayers.containsKey(layer);
    }
}
