package org.vitfit.preprocess;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Bit-exact Java port of Pillow's {@code Image.resize(size, resample)} (with {@code box=None},
 * {@code reducing_gap=None}) for 8-bit images with 3 interleaved channels, and of PyTorch's antialiased
 * {@code interpolate} on uint8 tensors, which torchvision's {@code resize} (and so transformers 5's
 * default image processors) use and which is itself a port of Pillow-SIMD.
 *
 * <p>Reference models are trained and evaluated on images resized by these libraries, whose fixed-point
 * convolutions differ from Java2D's scaling by several 8-bit steps; porting them is what makes our
 * {@code pixel_values} equal to timm's and transformers' for the same decoded pixels.
 *
 * <ul>
 *   <li>{@link Filter#BILINEAR} and {@link Filter#BICUBIC} follow {@code src/libImaging/Resample.c}:
 *       separable convolution whose support grows with the downscale factor (antialiasing), weights
 *       normalised in double precision then rounded to fixed point, horizontal pass first (only over the
 *       source rows the vertical pass reads), each pass clipped to 0..255, and a pass skipped when its
 *       axis keeps its size. {@link Variant#PILLOW} uses {@value #PRECISION_BITS} fraction bits;
 *       {@link Variant#TORCH} ({@code UpSampleKernel.cpp}, {@code _compute_index_ranges_int16_weights})
 *       rounds the weights to int16 with as many fraction bits as the largest weight allows and
 *       evaluates the outer bicubic lobe with a differently ordered (so differently rounded) polynomial.</li>
 *   <li>{@link Filter#NEAREST} follows {@code ImagingScaleAffine} in {@code Geometry.c}, which Pillow
 *       uses instead of the convolution: source coordinates accumulated step by step in double. Torch's
 *       nearest modes are not reproduced.</li>
 *   <li>An unchanged size is a plain copy, as both libraries do.</li>
 * </ul>
 *
 * <p>Callers may ask for a window of the resized image only (the part a center crop keeps): every
 * output pixel depends only on its own coefficients, so the window is identical to the same region of
 * the full result while costing proportionally less.
 *
 * <p>Channel order is irrelevant (each channel is filtered independently), so BGR data stays BGR.
 * Thread-safe; coefficient tables are cached per (input size, output size, filter).
 */
public final class PillowResampler {

    /** Pillow's resampling filters that vitfit reproduces exactly. */
    public enum Filter {
        NEAREST(0.0),
        BILINEAR(1.0),
        BICUBIC(2.0);

        final double support;

        Filter(double support) {
            this.support = support;
        }

        /**
         * Parses a recipe's {@code interpolation} name ({@code nearest}, {@code bilinear}, {@code bicubic}).
         *
         * @throws IllegalArgumentException for any other name, saying which are supported
         */
        public static Filter fromName(String name) {
            if (name != null) {
                switch (name.toLowerCase(java.util.Locale.ROOT)) {
                    case "nearest": return NEAREST;
                    case "bilinear": return BILINEAR;
                    case "bicubic": return BICUBIC;
                    default: break;
                }
            }
            throw new IllegalArgumentException("interpolation '" + name
                    + "' is not supported; use nearest, bilinear or bicubic (Pillow's filters that vitfit reproduces exactly)");
        }

        // Same expressions, in the same evaluation order, as Resample.c and UpSampleKernel.cpp so the
        // doubles round identically.
        double weight(double x, Variant variant) {
            switch (this) {
                case BILINEAR:
                    if (x < 0.0) {
                        x = -x;
                    }
                    return x < 1.0 ? 1.0 - x : 0.0;
                case BICUBIC: {
                    final double a = -0.5;
                    if (x < 0.0) {
                        x = -x;
                    }
                    if (x < 1.0) {
                        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                    }
                    if (x < 2.0) {
                        return variant == Variant.PILLOW
                                ? (((x - 5) * x + 8) * x - 4) * a
                                : ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
                    }
                    return 0.0;
                }
                default:
                    throw new IllegalStateException(this + " has no convolution kernel");
            }
        }
    }

    /** Whose fixed-point arithmetic to reproduce. */
    public enum Variant {
        /** Pillow's {@code Image.resize}: what timm and transformers' PIL backend use. */
        PILLOW,
        /** PyTorch's antialiased uint8 interpolation: what torchvision's {@code resize} on uint8 tensors uses. */
        TORCH
    }

    /** Fixed-point bits of Pillow's weights: 8 bits of result and 2 of headroom in a 32-bit int. */
    static final int PRECISION_BITS = 32 - 8 - 2;

    private static final int CHANNELS = 3;
    private static final int CACHE_CAPACITY = 512;

    /**
     * The weights of one axis: output pixel i reads {@code count[i]} inputs from {@code first[i]}, with
     * weights of {@code precision} fraction bits.
     */
    static final class Axis {
        final int ksize;
        final int precision;
        final int[] first;
        final int[] count;
        final int[] weights;

        Axis(int ksize, int precision, int[] first, int[] count, int[] weights) {
            this.ksize = ksize;
            this.precision = precision;
            this.first = first;
            this.count = count;
            this.weights = weights;
        }
    }

    /** Source index of each output index for {@link Filter#NEAREST}; -1 where Pillow fills with 0. */
    static final class NearestAxis {
        final int[] source;

        NearestAxis(int[] source) {
            this.source = source;
        }
    }

    private record CacheKey(int inSize, int outSize, Filter filter, Variant variant) {
    }

    private static final Map<CacheKey, Object> CACHE = Collections.synchronizedMap(
            new LinkedHashMap<>(64, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<CacheKey, Object> eldest) {
                    return size() > CACHE_CAPACITY;
                }
            });

    private PillowResampler() {
    }

    /** Resizes a whole image; see {@link #resize(byte[], int, int, int, int, int, int, Filter, Variant, int, int, int, int)}. */
    public static byte[] resize(byte[] src, int width, int height, int outWidth, int outHeight,
                                Filter filter, Variant variant) {
        return resize(src, 0, width * CHANNELS, width, height, outWidth, outHeight, filter, variant,
                0, 0, outWidth, outHeight);
    }

    /**
     * Resizes an 8-bit, 3-channel interleaved image to {@code outWidth x outHeight} exactly as Pillow
     * (or torch) does, returning only the window {@code [winX, winX+winW) x [winY, winY+winH)} of the result.
     *
     * @param src       pixels, 3 bytes per pixel, rows {@code rowStride} bytes apart
     * @param offset    index of the first byte of the top-left pixel
     * @param rowStride bytes from one row to the next (at least {@code 3 * width})
     * @return {@code winW * winH * 3} bytes, rows packed, channels in the source's order
     * @throws IllegalArgumentException for {@link Filter#NEAREST} with {@link Variant#TORCH}, or sizes
     *         and windows that do not fit
     */
    public static byte[] resize(byte[] src, int offset, int rowStride, int width, int height,
                                int outWidth, int outHeight, Filter filter, Variant variant,
                                int winX, int winY, int winW, int winH) {
        Objects.requireNonNull(filter, "filter");
        Objects.requireNonNull(variant, "variant");
        if (filter == Filter.NEAREST && variant == Variant.TORCH) {
            throw new IllegalArgumentException("nearest-neighbour resizing is reproduced for Pillow only, not torch");
        }
        if (width < 1 || height < 1 || outWidth < 1 || outHeight < 1) {
            throw new IllegalArgumentException("sizes must be positive: input " + width + "x" + height
                    + ", output " + outWidth + "x" + outHeight);
        }
        if (winX < 0 || winY < 0 || winW < 1 || winH < 1 || winX + winW > outWidth || winY + winH > outHeight) {
            throw new IllegalArgumentException("window " + winW + "x" + winH + "+" + winX + "+" + winY
                    + " is not inside the " + outWidth + "x" + outHeight + " output");
        }
        if (rowStride < width * CHANNELS || offset < 0
                || (long) offset + (long) (height - 1) * rowStride + (long) width * CHANNELS > src.length) {
            throw new IllegalArgumentException("source array of " + src.length + " bytes cannot hold a "
                    + width + "x" + height + " RGB image at offset " + offset + " with row stride " + rowStride);
        }
        if (width == outWidth && height == outHeight) {
            return copyWindow(src, offset, rowStride, winX, winY, winW, winH);
        }
        if (filter == Filter.NEAREST) {
            return nearest(src, offset, rowStride, width, height, outWidth, outHeight, winX, winY, winW, winH);
        }
        return convolve(src, offset, rowStride, width, height, outWidth, outHeight, filter, variant,
                winX, winY, winW, winH);
    }

    private static byte[] copyWindow(byte[] src, int offset, int rowStride, int winX, int winY, int winW, int winH) {
        byte[] out = new byte[winW * winH * CHANNELS];
        int rowBytes = winW * CHANNELS;
        for (int y = 0; y < winH; y++) {
            System.arraycopy(src, offset + (winY + y) * rowStride + winX * CHANNELS, out, y * rowBytes, rowBytes);
        }
        return out;
    }

    /** ImagingResampleInner: horizontal pass over the rows the vertical pass needs, then vertical pass. */
    private static byte[] convolve(byte[] src, int offset, int rowStride, int width, int height,
                                   int outWidth, int outHeight, Filter filter, Variant variant,
                                   int winX, int winY, int winW, int winH) {
        boolean needHorizontal = outWidth != width;
        boolean needVertical = outHeight != height;

        Axis vertical = needVertical ? axis(height, outHeight, filter, variant) : null;
        // Source rows the output window reads; first/count grow monotonically with the output index.
        int firstRow = needVertical ? vertical.first[winY] : winY;
        int endRow = needVertical
                ? vertical.first[winY + winH - 1] + vertical.count[winY + winH - 1]
                : winY + winH;

        byte[] mid = src;
        int midOffset = offset;
        int midStride = rowStride;
        int midRow0 = 0;
        int midX0 = winX;
        if (needHorizontal) {
            Axis horizontal = axis(width, outWidth, filter, variant);
            mid = horizontalPass(src, offset, rowStride, horizontal, firstRow, endRow, winX, winW);
            midOffset = 0;
            midStride = winW * CHANNELS;
            midRow0 = firstRow;
            midX0 = 0;
        }
        if (!needVertical) {
            if (needHorizontal) {
                return mid;
            }
            return copyWindow(src, offset, rowStride, winX, winY, winW, winH);
        }
        return verticalPass(mid, midOffset - midRow0 * midStride + midX0 * CHANNELS, midStride,
                vertical, winY, winH, winW);
    }

    private static byte[] horizontalPass(byte[] src, int offset, int rowStride, Axis axis,
                                         int firstRow, int endRow, int winX, int winW) {
        int rows = endRow - firstRow;
        byte[] out = new byte[rows * winW * CHANNELS];
        final int precision = axis.precision;
        final int half = 1 << (precision - 1);
        final int ksize = axis.ksize;
        final int[] weights = axis.weights;
        int o = 0;
        for (int y = firstRow; y < endRow; y++) {
            int rowStart = offset + y * rowStride;
            for (int xx = winX; xx < winX + winW; xx++) {
                int p = rowStart + axis.first[xx] * CHANNELS;
                int n = axis.count[xx];
                int k = xx * ksize;
                int s0 = half;
                int s1 = half;
                int s2 = half;
                for (int i = 0; i < n; i++, p += CHANNELS) {
                    int w = weights[k + i];
                    s0 += (src[p] & 0xFF) * w;
                    s1 += (src[p + 1] & 0xFF) * w;
                    s2 += (src[p + 2] & 0xFF) * w;
                }
                out[o] = clip8(s0, precision);
                out[o + 1] = clip8(s1, precision);
                out[o + 2] = clip8(s2, precision);
                o += CHANNELS;
            }
        }
        return out;
    }

    /**
     * @param base index of column {@code 0} of source row {@code 0} in {@code src} (may be negative when
     *             {@code src} holds only a band of rows; only rows the weights touch are read)
     */
    private static byte[] verticalPass(byte[] src, int base, int rowStride, Axis axis, int winY, int winH, int winW) {
        int rowBytes = winW * CHANNELS;
        byte[] out = new byte[winH * rowBytes];
        int[] acc = new int[rowBytes];
        final int precision = axis.precision;
        final int half = 1 << (precision - 1);
        final int ksize = axis.ksize;
        final int[] weights = axis.weights;
        // Summing row by row instead of pixel by pixel keeps memory access sequential; int addition wraps
        // the same way in any order, so the sums equal Pillow's.
        for (int yy = winY; yy < winY + winH; yy++) {
            java.util.Arrays.fill(acc, half);
            int first = axis.first[yy];
            int n = axis.count[yy];
            int k = yy * ksize;
            for (int i = 0; i < n; i++) {
                int w = weights[k + i];
                int p = base + (first + i) * rowStride;
                for (int j = 0; j < rowBytes; j++) {
                    acc[j] += (src[p + j] & 0xFF) * w;
                }
            }
            int o = (yy - winY) * rowBytes;
            for (int j = 0; j < rowBytes; j++) {
                out[o + j] = clip8(acc[j], precision);
            }
        }
        return out;
    }

    private static byte clip8(int sum, int precision) {
        int v = sum >> precision;
        if (v < 0) {
            return 0;
        }
        return (byte) (v > 255 ? 255 : v);
    }

    /** ImagingScaleAffine with a = (in/out, 0, 0, 0, in/out, 0) and fill = 1. */
    private static byte[] nearest(byte[] src, int offset, int rowStride, int width, int height,
                                  int outWidth, int outHeight, int winX, int winY, int winW, int winH) {
        int[] xs = nearestAxis(width, outWidth).source;
        int[] ys = nearestAxis(height, outHeight).source;
        byte[] out = new byte[winW * winH * CHANNELS];
        int o = 0;
        for (int yy = winY; yy < winY + winH; yy++) {
            int sy = ys[yy];
            for (int xx = winX; xx < winX + winW; xx++) {
                int sx = xs[xx];
                if (sy >= 0 && sx >= 0) {
                    int p = offset + sy * rowStride + sx * CHANNELS;
                    out[o] = src[p];
                    out[o + 1] = src[p + 1];
                    out[o + 2] = src[p + 2];
                }
                o += CHANNELS;
            }
        }
        return out;
    }

    static NearestAxis nearestAxis(int inSize, int outSize) {
        CacheKey key = new CacheKey(inSize, outSize, Filter.NEAREST, Variant.PILLOW);
        Object cached = CACHE.get(key);
        if (cached != null) {
            return (NearestAxis) cached;
        }
        // Pillow passes the box as floats; (double)(box[2] - box[0]) is exact for any realistic size.
        double step = (double) ((float) inSize - 0f) / outSize;
        double pos = 0.0 + step * 0.5;
        int[] source = new int[outSize];
        for (int i = 0; i < outSize; i++) {
            int s = pos < 0.0 ? -1 : (int) pos;
            source[i] = s >= 0 && s < inSize ? s : -1;
            pos += step;
        }
        NearestAxis axis = new NearestAxis(source);
        CACHE.put(key, axis);
        return axis;
    }

    static Axis axis(int inSize, int outSize, Filter filter, Variant variant) {
        CacheKey key = new CacheKey(inSize, outSize, filter, variant);
        Object cached = CACHE.get(key);
        if (cached != null) {
            return (Axis) cached;
        }
        Axis axis = variant == Variant.PILLOW
                ? pillowCoefficients(inSize, outSize, filter)
                : torchCoefficients(inSize, outSize, filter);
        CACHE.put(key, axis);
        return axis;
    }

    /** precompute_coeffs followed by normalize_coeffs_8bpc, with box = (0, inSize). */
    private static Axis pillowCoefficients(int inSize, int outSize, Filter filter) {
        double scale = (double) ((float) inSize - 0f) / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = filter.support * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        if ((long) outSize * ksize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("resize " + inSize + " -> " + outSize + " needs too many coefficients");
        }
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        int[] weights = new int[outSize * ksize];
        double[] k = new double[ksize];
        double ss = 1.0 / filterscale;
        for (int xx = 0; xx < outSize; xx++) {
            double center = 0.0 + (xx + 0.5) * scale;
            double ww = 0.0;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) {
                double w = filter.weight((x + xmin - center + 0.5) * ss, Variant.PILLOW);
                k[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++) {
                if (ww != 0.0) {
                    k[x] /= ww;
                }
                double scaled = k[x] * (1 << PRECISION_BITS);
                weights[xx * ksize + x] = k[x] < 0 ? (int) (-0.5 + scaled) : (int) (0.5 + scaled);
            }
            first[xx] = xmin;
            count[xx] = xmax;
        }
        return new Axis(ksize, PRECISION_BITS, first, count, weights);
    }

    /**
     * _compute_indices_min_size_weights_aa and _compute_index_ranges_int16_weights with
     * align_corners=False and no explicit scale factor (torchvision passes the output size).
     */
    private static Axis torchCoefficients(int inSize, int outSize, Filter filter) {
        double scale = (double) inSize / outSize;
        int interpSize = filter == Filter.BILINEAR ? 2 : 4;
        double support = scale >= 1.0 ? (interpSize * 0.5) * scale : interpSize * 0.5;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        if ((long) outSize * ksize > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("resize " + inSize + " -> " + outSize + " needs too many coefficients");
        }
        double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        double[] k = new double[outSize * ksize];
        double maxWeight = 0.0;
        for (int i = 0; i < outSize; i++) {
            double center = scale * (i + 0.5);
            double total = 0.0;
            long xmin = Math.max((long) (center - support + 0.5), 0L);
            long xsize = Math.min((long) (center + support + 0.5), (long) inSize) - xmin;
            xsize = Math.max(0, Math.min(xsize, ksize));
            for (int j = 0; j < xsize; j++) {
                double w = filter.weight((j + xmin - center + 0.5) * invscale, Variant.TORCH);
                k[i * ksize + j] = w;
                total += w;
            }
            if (total != 0.0) {
                for (int j = 0; j < xsize; j++) {
                    k[i * ksize + j] /= total;
                    maxWeight = Math.max(maxWeight, k[i * ksize + j]);
                }
            }
            first[i] = (int) xmin;
            count[i] = (int) xsize;
        }
        int precision;
        for (precision = 0; precision < 22; precision++) {
            int next = (int) (0.5 + maxWeight * (1 << (precision + 1)));
            if (next >= (1 << 15)) {
                break;
            }
        }
        int[] weights = new int[outSize * ksize];
        for (int x = 0; x < weights.length; x++) {
            double v = k[x] * (1 << precision);
            weights[x] = (short) (v < 0 ? (int) (-0.5 + v) : (int) (0.5 + v));
        }
        return new Axis(ksize, precision, first, count, weights);
    }
}
