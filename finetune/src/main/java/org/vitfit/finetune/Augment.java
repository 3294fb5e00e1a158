package org.vitfit.finetune;

import java.awt.image.BufferedImage;
import java.util.Random;

/**
 * Training-time augmentation before the model's own preprocessing: torchvision's RandomResizedCrop box
 * sampling (area share in [scaleMin, 1], aspect ratio log-uniform in [3/4, 4/3], ten tries, then the whole
 * image) and a horizontal flip with probability 1/2.
 */
final class Augment {

    private Augment() {
    }

    static BufferedImage apply(BufferedImage img, Random r, double scaleMin) {
        int w = img.getWidth();
        int h = img.getHeight();
        int cx = 0;
        int cy = 0;
        int cw = w;
        int ch = h;
        double logLo = Math.log(3 / 4.0);
        double logHi = Math.log(4 / 3.0);
        for (int attempt = 0; attempt < 10; attempt++) {
            double area = w * h * (scaleMin + (1 - scaleMin) * r.nextDouble());
            double ratio = Math.exp(logLo + (logHi - logLo) * r.nextDouble());
            int tw = (int) Math.round(Math.sqrt(area * ratio));
            int th = (int) Math.round(Math.sqrt(area / ratio));
            if (tw > 0 && th > 0 && tw <= w && th <= h) {
                cx = r.nextInt(w - tw + 1);
                cy = r.nextInt(h - th + 1);
                cw = tw;
                ch = th;
                break;
            }
        }
        boolean flip = r.nextBoolean();
        BufferedImage out = new BufferedImage(cw, ch, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++) {
                int sx = flip ? cx + cw - 1 - x : cx + x;
                out.setRGB(x, y, img.getRGB(sx, cy + y));
            }
        }
        return out;
    }
}
