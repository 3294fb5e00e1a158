package org.vitfit.finetune;

import java.awt.image.BufferedImage;
import java.util.Random;

/**
 * Training-time augmentation, applied to the decoded image before the model's own preprocessing: a random crop box
 * drawn exactly as torchvision's {@code RandomResizedCrop.get_params} draws it (area share uniform in
 * [scaleMin, 1], aspect ratio log-uniform in [3/4, 4/3], ten tries, then its fallback: the central crop with the
 * aspect ratio clamped to that range), and a horizontal flip with probability 1/2.
 *
 * <p>Unlike {@code RandomResizedCrop}, the box is not stretched to a square: the model's preprocessing (resize of the
 * shorter side, centre crop) turns it into the input, as it does every image at inference, so a crop keeps its
 * proportions.
 */
final class RandomCropFlip {

    private static final double RATIO_MIN = 3 / 4.0;
    private static final double RATIO_MAX = 4 / 3.0;

    private final double scaleMin;

    RandomCropFlip(double scaleMin) {
        this.scaleMin = scaleMin;
    }

    /** The crop box {x, y, width, height} for an image of {@code w} x {@code h}. */
    int[] box(int w, int h, Random r) {
        double area = (double) w * h;
        double logLo = Math.log(RATIO_MIN);
        double logHi = Math.log(RATIO_MAX);
        for (int attempt = 0; attempt < 10; attempt++) {
            double target = area * (scaleMin + (1 - scaleMin) * r.nextDouble());
            double ratio = Math.exp(logLo + (logHi - logLo) * r.nextDouble());
            // Python's round(): halves to even, which Math.rint does.
            int cw = (int) Math.rint(Math.sqrt(target * ratio));
            int ch = (int) Math.rint(Math.sqrt(target / ratio));
            if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
                int y = r.nextInt(h - ch + 1);
                int x = r.nextInt(w - cw + 1);
                return new int[] {x, y, cw, ch};
            }
        }
        double inRatio = (double) w / h;
        int cw = w;
        int ch = h;
        if (inRatio < RATIO_MIN) {
            ch = (int) Math.rint(w / RATIO_MIN);
        } else if (inRatio > RATIO_MAX) {
            cw = (int) Math.rint(h * RATIO_MAX);
        }
        return new int[] {(w - cw) / 2, (h - ch) / 2, cw, ch};
    }

    BufferedImage apply(BufferedImage img, Random r) {
        int[] b = box(img.getWidth(), img.getHeight(), r);
        boolean flip = r.nextBoolean();
        int cw = b[2];
        int ch = b[3];
        int[] rgb = img.getRGB(b[0], b[1], cw, ch, null, 0, cw);
        if (flip) {
            for (int y = 0; y < ch; y++) {
                for (int lo = y * cw, hi = lo + cw - 1; lo < hi; lo++, hi--) {
                    int t = rgb[lo];
                    rgb[lo] = rgb[hi];
                    rgb[hi] = t;
                }
            }
        }
        BufferedImage out = new BufferedImage(cw, ch, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, cw, ch, rgb, 0, cw);
        return out;
    }
}
