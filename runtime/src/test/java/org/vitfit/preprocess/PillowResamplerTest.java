package org.vitfit.preprocess;

import org.junit.jupiter.api.Test;
import org.vitfit.preprocess.PillowResampler.Filter;
import org.vitfit.preprocess.PillowResampler.Variant;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Properties of the resampler that hold for Pillow and torch by construction. Bit-exactness against
 * the libraries themselves is {@link PreprocessorGoldenTest}'s job.
 */
class PillowResamplerTest {

    private static final int[][] SIZES = {
            {37, 23, 37, 23}, {500, 375, 330, 248}, {64, 96, 224, 336}, {320, 240, 224, 224},
            {17, 5, 3, 11}, {7, 7, 1, 1}, {1, 1, 5, 3}, {640, 480, 97, 300}
    };

    private static byte[] randomImage(int w, int h, long seed) {
        byte[] data = new byte[w * h * 3];
        new Random(seed).nextBytes(data);
        return data;
    }

    @Test
    void unchangedSizeIsACopy() {
        byte[] src = randomImage(37, 23, 1);
        for (Variant variant : Variant.values()) {
            for (Filter filter : Filter.values()) {
                if (filter == Filter.NEAREST && variant == Variant.TORCH) {
                    continue;
                }
                assertArrayEquals(src, PillowResampler.resize(src, 37, 23, 37, 23, filter, variant), filter + "/" + variant);
            }
        }
    }

    @Test
    void constantImageStaysConstant() {
        for (int value : new int[] {0, 1, 37, 128, 254, 255}) {
            for (int[] s : SIZES) {
                byte[] src = new byte[s[0] * s[1] * 3];
                Arrays.fill(src, (byte) value);
                for (Variant variant : Variant.values()) {
                    for (Filter filter : Filter.values()) {
                        if (filter == Filter.NEAREST && variant == Variant.TORCH) {
                            continue;
                        }
                        byte[] out = PillowResampler.resize(src, s[0], s[1], s[2], s[3], filter, variant);
                        for (byte b : out) {
                            assertEquals(value, b & 0xFF, "constant " + value + " " + Arrays.toString(s) + " " + filter + "/" + variant);
                        }
                    }
                }
            }
        }
    }

    @Test
    void windowEqualsTheSameRegionOfTheFullResize() {
        Random random = new Random(7);
        for (int[] s : SIZES) {
            byte[] src = randomImage(s[0], s[1], s[0] * 31L + s[1]);
            for (Variant variant : Variant.values()) {
                for (Filter filter : Filter.values()) {
                    if (filter == Filter.NEAREST && variant == Variant.TORCH) {
                        continue;
                    }
                    byte[] full = PillowResampler.resize(src, s[0], s[1], s[2], s[3], filter, variant);
                    for (int trial = 0; trial < 5; trial++) {
                        int x = random.nextInt(s[2]);
                        int y = random.nextInt(s[3]);
                        int w = 1 + random.nextInt(s[2] - x);
                        int h = 1 + random.nextInt(s[3] - y);
                        byte[] window = PillowResampler.resize(src, 0, s[0] * 3, s[0], s[1], s[2], s[3], filter, variant, x, y, w, h);
                        for (int row = 0; row < h; row++) {
                            byte[] expected = Arrays.copyOfRange(full, ((y + row) * s[2] + x) * 3, ((y + row) * s[2] + x + w) * 3);
                            byte[] actual = Arrays.copyOfRange(window, row * w * 3, (row + 1) * w * 3);
                            assertArrayEquals(expected, actual, Arrays.toString(s) + " " + filter + "/" + variant
                                    + " window " + w + "x" + h + "+" + x + "+" + y + " row " + row);
                        }
                    }
                }
            }
        }
    }

    @Test
    void sourceOffsetAndStrideAreHonoured() {
        int w = 50;
        int h = 40;
        byte[] src = randomImage(w, h, 3);
        int stride = w * 3 + 17;
        byte[] padded = new byte[11 + stride * h];
        for (int y = 0; y < h; y++) {
            System.arraycopy(src, y * w * 3, padded, 11 + y * stride, w * 3);
        }
        for (Filter filter : Filter.values()) {
            assertArrayEquals(PillowResampler.resize(src, w, h, 31, 29, filter, Variant.PILLOW),
                    PillowResampler.resize(padded, 11, stride, w, h, 31, 29, filter, Variant.PILLOW, 0, 0, 31, 29), filter.name());
        }
    }

    /** Two pixels into one: both kernels weigh them 1/2 each, and the fixed-point rounding is half up. */
    @Test
    void halvingTwoPixelsAveragesRoundingHalfUp() {
        int[][] cases = {{10, 13, 12}, {10, 12, 11}, {0, 1, 1}, {0, 0, 0}, {254, 255, 255}, {100, 201, 151}};
        for (int[] c : cases) {
            byte[] src = {(byte) c[0], (byte) c[0], (byte) c[0], (byte) c[1], (byte) c[1], (byte) c[1]};
            for (Variant variant : Variant.values()) {
                for (Filter filter : new Filter[] {Filter.BILINEAR, Filter.BICUBIC}) {
                    byte[] out = PillowResampler.resize(src, 2, 1, 1, 1, filter, variant);
                    assertEquals(c[2], out[0] & 0xFF, c[0] + "," + c[1] + " " + filter + "/" + variant);
                }
            }
        }
    }

    /** Pillow's nearest samples at pixel centres: halving keeps odd columns, doubling repeats each one. */
    @Test
    void nearestSamplesPixelCentres() {
        byte[] ramp = new byte[8 * 3];
        for (int x = 0; x < 8; x++) {
            Arrays.fill(ramp, x * 3, x * 3 + 3, (byte) (10 * x));
        }
        byte[] half = PillowResampler.resize(ramp, 8, 1, 4, 1, Filter.NEAREST, Variant.PILLOW);
        assertArrayEquals(new int[] {10, 30, 50, 70}, firstChannel(half));
        byte[] twice = PillowResampler.resize(ramp, 8, 1, 16, 1, Filter.NEAREST, Variant.PILLOW);
        assertArrayEquals(new int[] {0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50, 60, 60, 70, 70}, firstChannel(twice));
    }

    /**
     * Independent floating-point model of antialiased separable resampling (weights = kernel scaled by the
     * downscale factor, normalised, each pass rounded to 8 bits): the fixed-point result may differ only by
     * the rounding of the weights, i.e. at most one step per pass.
     */
    @Test
    void agreesWithAFloatingPointModelOfTheConvolution() {
        for (int[] s : SIZES) {
            byte[] src = randomImage(s[0], s[1], 11L * s[0] + s[3]);
            for (Variant variant : Variant.values()) {
                for (Filter filter : new Filter[] {Filter.BILINEAR, Filter.BICUBIC}) {
                    byte[] actual = PillowResampler.resize(src, s[0], s[1], s[2], s[3], filter, variant);
                    int[] expected = floatModel(src, s[0], s[1], s[2], s[3], filter);
                    int tolerance = (s[0] != s[2] && s[1] != s[3]) ? 2 : 1;
                    for (int i = 0; i < expected.length; i++) {
                        int diff = Math.abs(expected[i] - (actual[i] & 0xFF));
                        assertTrue(diff <= tolerance, Arrays.toString(s) + " " + filter + "/" + variant + " byte " + i
                                + ": fixed point " + (actual[i] & 0xFF) + " vs float model " + expected[i]);
                    }
                }
            }
        }
    }

    @Test
    void rejectsWhatItCannotDo() {
        byte[] src = randomImage(4, 4, 5);
        assertThrows(IllegalArgumentException.class,
                () -> PillowResampler.resize(src, 4, 4, 2, 2, Filter.NEAREST, Variant.TORCH));
        assertThrows(IllegalArgumentException.class,
                () -> PillowResampler.resize(src, 0, 12, 4, 4, 8, 8, Filter.BICUBIC, Variant.PILLOW, 4, 4, 5, 1));
        assertThrows(IllegalArgumentException.class,
                () -> PillowResampler.resize(src, 0, 12, 5, 4, 8, 8, Filter.BICUBIC, Variant.PILLOW, 0, 0, 8, 8));
        assertThrows(IllegalArgumentException.class,
                () -> PillowResampler.resize(src, 4, 4, 0, 2, Filter.BILINEAR, Variant.PILLOW));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Filter.fromName("lanczos"));
        assertTrue(e.getMessage().contains("lanczos") && e.getMessage().contains("bicubic"), e.getMessage());
        assertEquals(Filter.BICUBIC, Filter.fromName("BICUBIC"));
    }

    private static int[] firstChannel(byte[] rgb) {
        int[] out = new int[rgb.length / 3];
        for (int i = 0; i < out.length; i++) {
            out[i] = rgb[i * 3] & 0xFF;
        }
        return out;
    }

    private static int[] floatModel(byte[] src, int w, int h, int ow, int oh, Filter filter) {
        int[] in = new int[src.length];
        for (int i = 0; i < src.length; i++) {
            in[i] = src[i] & 0xFF;
        }
        int[] horizontal = w == ow ? in : pass(in, w, h, ow, filter, true);
        return h == oh ? horizontal : pass(horizontal, ow, h, oh, filter, false);
    }

    /** One axis of the convolution in doubles with the textbook kernels (a = -0.5 for bicubic). */
    private static int[] pass(int[] in, int w, int h, int outSize, Filter filter, boolean horizontal) {
        int inSize = horizontal ? w : h;
        int ow = horizontal ? outSize : w;
        int oh = horizontal ? h : outSize;
        double scale = (double) inSize / outSize;
        double stretch = Math.max(scale, 1.0);
        double radius = (filter == Filter.BILINEAR ? 1.0 : 2.0) * stretch;
        int[] out = new int[ow * oh * 3];
        for (int o = 0; o < outSize; o++) {
            double center = (o + 0.5) * scale;
            int lo = Math.max(0, (int) Math.floor(center - radius));
            int hi = Math.min(inSize, (int) Math.ceil(center + radius));
            double[] weights = new double[hi - lo];
            double total = 0;
            for (int i = lo; i < hi; i++) {
                double t = Math.abs((i + 0.5 - center) / stretch);
                double k = filter == Filter.BILINEAR ? Math.max(0, 1 - t)
                        : t < 1 ? 1.5 * t * t * t - 2.5 * t * t + 1 : t < 2 ? -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2 : 0;
                weights[i - lo] = k;
                total += k;
            }
            for (int other = 0; other < (horizontal ? h : w); other++) {
                for (int c = 0; c < 3; c++) {
                    double sum = 0;
                    for (int i = lo; i < hi; i++) {
                        int idx = horizontal ? (other * w + i) * 3 + c : (i * w + other) * 3 + c;
                        sum += in[idx] * weights[i - lo] / total;
                    }
                    int v = (int) Math.floor(sum + 0.5);
                    int outIdx = horizontal ? (other * ow + o) * 3 + c : (o * ow + other) * 3 + c;
                    out[outIdx] = Math.max(0, Math.min(255, v));
                }
            }
        }
        return out;
    }
}
