package org.vitfit.convert.quant;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@link Calibrator} measured on the user's images: for every quantised linear layer, the range of the
 * activation that enters it, per channel (the last axis); and for fc2's input how far its largest token stands out.
 * Keys are the layer names {@link org.vitfit.convert.LinearEmitter} documents ({@code blocks.3.fc2}).
 *
 * @param ranges          per key, the minimum and maximum seen
 * @param tokenOutliers   per fc2 layer: the largest |activation| of any token over the median of the tokens' largest
 *                        |activation| (about 3 in most ViT blocks; tens where a few "high-norm" tokens appear)
 * @param images          how many images were measured
 * @param skipped         images that could not be read or decoded (left out)
 * @param imagesSha256    sha256 over the sha256 hex of every measured image, in the order measured
 */
public record Calibration(Map<String, Range> ranges, Map<String, Double> tokenOutliers, int images, int skipped,
                          String imagesSha256) {

    public Calibration {
        ranges = Collections.unmodifiableMap(new TreeMap<>(ranges));
        tokenOutliers = Collections.unmodifiableMap(new TreeMap<>(tokenOutliers));
    }

    /** Minimum and maximum seen, per channel. */
    public record Range(float[] min, float[] max) {
        public int channels() {
            return min.length;
        }

        /** Largest |value| of channel {@code c}. */
        public float absMax(int c) {
            return Math.max(Math.abs(min[c]), Math.abs(max[c]));
        }
    }

    /** The range of {@code name}'s input, or null when it was not measured. */
    public Range range(String name) {
        return ranges.get(name);
    }
}
