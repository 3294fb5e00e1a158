package org.vitfit.convert;

import java.util.ArrayList;
import java.util.List;

/**
 * The window arithmetic of a Swin Transformer at one input size: each stage's token grid, its window, the cyclic
 * shift of its odd blocks, the relative position index and the shifted-window attention mask. Both transformers
 * and timm compute these from the configuration at run time; vitfit computes them once and writes them into the
 * graph as constants.
 */
final class SwinGeometry {

    /** Value both libraries add to the attention scores of token pairs from different regions of a shifted window. */
    static final float MASKED = -100f;

    private SwinGeometry() {
    }

    /**
     * One stage at this input size.
     *
     * @param height  token rows
     * @param width   token columns
     * @param window  window side
     * @param shift   cyclic shift of the odd blocks (half the window), 0 when the stage is a single window
     */
    record Stage(int height, int width, int window, int shift) {

        int windowsPerImage() {
            return (height / window) * (width / window);
        }

        int tokensPerWindow() {
            return window * window;
        }
    }

    /**
     * The stages of {@code s}, or a refusal where this input size would need what vitfit does not write: padding
     * to whole windows or to an even grid before a patch merging, or a window larger than the grid (transformers
     * and timm then disagree with each other). A stage whose grid is exactly one window does not shift, as in both
     * libraries.
     */
    static List<Stage> stages(VitSpec s) throws ConversionException {
        VitSpec.Swin sw = s.swin();
        List<Stage> out = new ArrayList<>();
        int h = s.gridHeight();
        int w = s.gridWidth();
        for (int i = 0; i < sw.stages(); i++) {
            if (i > 0) {
                if (h % 2 != 0 || w % 2 != 0) {
                    throw new ConversionException(s.architecture() + ": at input " + s.imageHeight() + "x"
                            + s.imageWidth() + " stage " + i + " ends with an odd " + h + "x" + w + " token grid, which "
                            + "the patch merging would have to pad; vitfit does not pad: convert at an image size whose "
                            + "grid halves evenly (the size the checkpoint was trained at, e.g. 224 for *_224 models)");
                }
                h /= 2;
                w /= 2;
            }
            int win = sw.windows().get(i);
            boolean single = h == win && w == win;
            if (!single && (Math.min(h, w) <= win || h % win != 0 || w % win != 0)) {
                throw new ConversionException(s.architecture() + ": window_size " + win + " does not tile the " + h
                        + "x" + w + " token grid of stage " + (i + 1) + " at input " + s.imageHeight() + "x"
                        + s.imageWidth() + "; vitfit does not pad windows or shrink them: convert at the image size "
                        + "the checkpoint was trained at (e.g. 224 for *_window7_224 models)");
            }
            out.add(new Stage(h, w, win, single ? 0 : win / 2));
        }
        return out;
    }

    /**
     * Index into the relative position bias table for every (query, key) pair of a {@code w}x{@code w} window,
     * row-major [w*w, w*w]: {@code (dy + w - 1) * (2w - 1) + (dx + w - 1)}.
     */
    static long[] relativePositionIndex(int w) {
        int t = w * w;
        long[] index = new long[t * t];
        for (int a = 0; a < t; a++) {
            for (int b = 0; b < t; b++) {
                int dy = a / w - b / w;
                int dx = a % w - b % w;
                index[a * t + b] = (long) (dy + w - 1) * (2 * w - 1) + (dx + w - 1);
            }
        }
        return index;
    }

    /**
     * The additive mask of a shifted stage, [windows, w*w, w*w] with windows in row-major order: after the cyclic
     * shift a window can hold tokens from up to four regions of the image that were not neighbours, and a pair from
     * different regions gets {@link #MASKED}. Regions along each axis: {@code [0, n - w)}, {@code [n - w, n - s)},
     * {@code [n - s, n)}.
     */
    static float[] shiftMask(Stage st) {
        int win = st.window();
        int t = st.tokensPerWindow();
        int cols = st.width() / win;
        float[] mask = new float[st.windowsPerImage() * t * t];
        int[] region = new int[t];
        for (int n = 0; n < st.windowsPerImage(); n++) {
            int top = (n / cols) * win;
            int left = (n % cols) * win;
            for (int k = 0; k < t; k++) {
                int y = top + k / win;
                int x = left + k % win;
                region[k] = 3 * region(y, st.height(), win, st.shift()) + region(x, st.width(), win, st.shift());
            }
            for (int a = 0; a < t; a++) {
                for (int b = 0; b < t; b++) {
                    mask[(n * t + a) * t + b] = region[a] == region[b] ? 0f : MASKED;
                }
            }
        }
        return mask;
    }

    private static int region(int i, int n, int window, int shift) {
        return i < n - window ? 0 : i < n - shift ? 1 : 2;
    }
}
