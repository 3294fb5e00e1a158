package org.vitfit.preprocess;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.awt.image.SinglePixelPackedSampleModel;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Turns a decoded image into a model's {@code pixel_values}: float32, channel-first {@code [3, H, W]}
 * in RGB order, following one {@link PreprocessRecipe}.
 *
 * <p>Steps, each matching the Python reference bit for bit on identical decoded pixels: resize with
 * {@link PillowResampler} (shortest edge: the long side is {@code int(size * long / short)}, truncated,
 * as torchvision and transformers compute it), center crop (an image smaller than the crop is padded
 * with black, i.e. 8-bit value 0 before normalisation, as both libraries do), then rescale and
 * normalise in float32 in the order the recipe's backend uses (see {@link PreprocessRecipe#backend()}).
 * Since the result depends only on the channel and the 8-bit value, it is a 256-entry table per channel.
 *
 * <p>Images are read as stored: {@code TYPE_3BYTE_BGR} (what {@link ImageDecoder} returns) and the
 * {@code TYPE_INT_*RGB} types without copying or colour conversion; {@code TYPE_BYTE_GRAY} is replicated
 * into three channels like PIL's {@code convert('RGB')}; any other type goes through
 * {@link BufferedImage#getRGB}, i.e. Java's colour conversion to sRGB.
 *
 * <p>Immutable and thread-safe: one instance per recipe can serve every worker thread.
 */
public final class Preprocessor {

    private static final int CHANNELS = 3;

    private final PreprocessRecipe recipe;
    private final PillowResampler.Filter filter;
    private final PillowResampler.Variant variant;
    private final int outHeight;
    private final int outWidth;
    /** {@code table[c][v]}: normalised value of 8-bit value v in RGB channel c. */
    private final float[][] table;

    /**
     * @throws IllegalArgumentException when the recipe is incomplete or inconsistent, naming the field
     */
    public Preprocessor(PreprocessRecipe recipe) {
        this.recipe = Objects.requireNonNull(recipe, "recipe");
        String mode = recipe.resizeMode() == null ? "" : recipe.resizeMode();
        switch (mode) {
            case PreprocessRecipe.RESIZE_SHORTEST_EDGE:
                require(recipe.resizeShortestEdge() > 0, "resizeShortestEdge must be > 0 for resizeMode "
                        + mode + ", got " + recipe.resizeShortestEdge());
                require(recipe.cropHeight() > 0 && recipe.cropWidth() > 0, "resizeMode " + mode
                        + " gives images of varying size; it needs cropHeight and cropWidth > 0");
                break;
            case PreprocessRecipe.RESIZE_FIXED:
                require(recipe.resizeHeight() > 0 && recipe.resizeWidth() > 0, "resizeMode " + mode
                        + " needs resizeHeight and resizeWidth > 0, got " + recipe.resizeHeight() + "x" + recipe.resizeWidth());
                break;
            case PreprocessRecipe.RESIZE_NONE:
                require(recipe.cropHeight() > 0 && recipe.cropWidth() > 0, "resizeMode " + mode
                        + " keeps each image's own size; it needs cropHeight and cropWidth > 0 to give the model a fixed size");
                break;
            default:
                throw new IllegalArgumentException("resizeMode '" + recipe.resizeMode() + "' is not one of "
                        + PreprocessRecipe.RESIZE_SHORTEST_EDGE + ", " + PreprocessRecipe.RESIZE_FIXED + ", "
                        + PreprocessRecipe.RESIZE_NONE);
        }
        require(recipe.cropHeight() >= 0 && recipe.cropWidth() >= 0 && (recipe.cropHeight() > 0) == (recipe.cropWidth() > 0),
                "cropHeight and cropWidth must both be > 0 (crop) or both 0 (no crop), got "
                        + recipe.cropHeight() + "x" + recipe.cropWidth());
        this.filter = PillowResampler.Filter.fromName(recipe.interpolation());
        String backend = recipe.effectiveBackend();
        require(PreprocessRecipe.BACKEND_PIL.equals(backend) || PreprocessRecipe.BACKEND_TORCHVISION.equals(backend),
                "backend must be '" + PreprocessRecipe.BACKEND_PIL + "' or '" + PreprocessRecipe.BACKEND_TORCHVISION
                        + "', got '" + backend + "'");
        boolean torchvision = PreprocessRecipe.BACKEND_TORCHVISION.equals(backend);
        this.variant = torchvision ? PillowResampler.Variant.TORCH : PillowResampler.Variant.PILLOW;
        require(!(torchvision && filter == PillowResampler.Filter.NEAREST),
                "interpolation nearest is reproduced for the pil backend only");
        if (recipe.cropHeight() > 0) {
            String rounding = recipe.cropRounding();
            require(PreprocessRecipe.CROP_ROUND.equals(rounding) || PreprocessRecipe.CROP_FLOOR.equals(rounding)
                            || PreprocessRecipe.CROP_TRUNC.equals(rounding),
                    "cropRounding must be '" + PreprocessRecipe.CROP_ROUND + "', '" + PreprocessRecipe.CROP_FLOOR
                            + "' or '" + PreprocessRecipe.CROP_TRUNC + "', got '" + rounding + "'");
        }
        require(recipe.rescaleFactor() > 0 && Double.isFinite(recipe.rescaleFactor()),
                "rescaleFactor must be a positive number, got " + recipe.rescaleFactor());
        this.outHeight = recipe.outputHeight();
        this.outWidth = recipe.outputWidth();
        float[] mean = threeValues(recipe.mean(), "mean");
        float[] std = threeValues(recipe.std(), "std");
        this.table = torchvision
                ? torchvisionTable(recipe.rescaleFactor(), mean, std)
                : pilTable(recipe.rescaleFactor(), mean, std);
    }


    public PreprocessRecipe recipe() {
        return recipe;
    }

    /** Height of every output tensor. */
    public int outputHeight() {
        return outHeight;
    }

    /** Width of every output tensor. */
    public int outputWidth() {
        return outWidth;
    }

    /** Floats one image occupies: {@code 3 * outputHeight() * outputWidth()}. */
    public int floatsPerImage() {
        return CHANNELS * outHeight * outWidth;
    }

    /** Returns the image's {@code pixel_values} as a new CHW array. */
    public float[] apply(BufferedImage image) {
        float[] out = new float[floatsPerImage()];
        run(image, (index, row, length) -> System.arraycopy(row, 0, out, index, length));
        return out;
    }

    /**
     * Writes the image's {@code pixel_values} (CHW) into {@code dst} at absolute float index
     * {@code offsetFloats}, leaving the buffer's position and limit untouched, so a batch buffer can be
     * filled image by image (from several threads, at disjoint offsets) without copying.
     */
    public void apply(BufferedImage image, FloatBuffer dst, int offsetFloats) {
        Objects.requireNonNull(dst, "dst");
        if (offsetFloats < 0 || (long) offsetFloats + floatsPerImage() > dst.limit()) {
            throw new IndexOutOfBoundsException("an image needs " + floatsPerImage() + " floats at offset "
                    + offsetFloats + " but the buffer's limit is " + dst.limit());
        }
        run(image, (index, row, length) -> dst.put(index + offsetFloats, row, 0, length));
    }

    @FunctionalInterface
    private interface RowSink {
        void put(int index, float[] row, int length);
    }

    /** The source pixels as 3 interleaved bytes, and where R, G and B sit within a pixel. */
    private record Pixels(byte[] data, int offset, int rowStride, int width, int height, int[] rgbIndex) {
    }

    private void run(BufferedImage image, RowSink sink) {
        Objects.requireNonNull(image, "image");
        Pixels px = pixels(image);
        int w = px.width();
        int h = px.height();

        int rw;
        int rh;
        switch (recipe.resizeMode()) {
            case PreprocessRecipe.RESIZE_SHORTEST_EDGE: {
                int size = recipe.resizeShortestEdge();
                int shortSide = Math.min(w, h);
                int longSide = Math.max(w, h);
                int newLong = (int) ((double) size * longSide / shortSide);
                if (w <= h) {
                    rw = size;
                    rh = newLong;
                } else {
                    rw = newLong;
                    rh = size;
                }
                break;
            }
            case PreprocessRecipe.RESIZE_FIXED:
                rw = recipe.resizeWidth();
                rh = recipe.resizeHeight();
                break;
            default:
                rw = w;
                rh = h;
                break;
        }

        int ch = outHeight;
        int cw = outWidth;
        int top = 0;
        int left = 0;
        if (recipe.cropHeight() > 0) {
            top = cropOffset(rh, ch, recipe.cropRounding());
            left = cropOffset(rw, cw, recipe.cropRounding());
        }
        // Part of the resized image that lands inside the crop; the rest of the crop is padding.
        int x0 = Math.max(0, left);
        int x1 = Math.min(rw, left + cw);
        int y0 = Math.max(0, top);
        int y1 = Math.min(rh, top + ch);
        byte[] window = PillowResampler.resize(px.data(), px.offset(), px.rowStride(), w, h, rw, rh, filter, variant,
                x0, y0, x1 - x0, y1 - y0);
        int windowStride = (x1 - x0) * CHANNELS;

        float[] row = new float[cw];
        for (int c = 0; c < CHANNELS; c++) {
            float[] lut = table[c];
            float pad = lut[0];
            int ci = px.rgbIndex()[c];
            for (int y = 0; y < ch; y++) {
                int sy = top + y;
                if (sy < y0 || sy >= y1) {
                    java.util.Arrays.fill(row, pad);
                } else {
                    int x = 0;
                    for (; x < x0 - left; x++) {
                        row[x] = pad;
                    }
                    int p = (sy - y0) * windowStride + ci;
                    int end = x1 - left;
                    for (; x < end; x++, p += CHANNELS) {
                        row[x] = lut[window[p] & 0xFF];
                    }
                    for (; x < cw; x++) {
                        row[x] = pad;
                    }
                }
                sink.put((c * ch + y) * cw, row, cw);
            }
        }
    }

    /**
     * Top (or left) of the crop in resized-image coordinates; negative when the crop is larger and the
     * image gets padded.
     *
     * <p>{@code floor} (transformers' numpy center_crop): {@code (size - crop) // 2} in every case.
     * {@code trunc} (transformers' torchvision backend): pads {@code (crop - size) // 2} before the image
     * when the crop is larger, otherwise {@code int((size - crop) / 2.0)}; both are truncation toward zero.
     * {@code round} (torchvision's CenterCrop): the same padding, otherwise
     * {@code int(round((size - crop) / 2.0))} with Python's half-to-even rounding.
     */
    static int cropOffset(int size, int crop, String rounding) {
        if (PreprocessRecipe.CROP_FLOOR.equals(rounding)) {
            return Math.floorDiv(size - crop, 2);
        }
        if (crop > size) {
            return -((crop - size) / 2);
        }
        if (PreprocessRecipe.CROP_TRUNC.equals(rounding)) {
            return (size - crop) / 2;
        }
        return (int) Math.rint((size - crop) / 2.0);
    }

    private static Pixels pixels(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        Raster raster = image.getRaster();
        boolean plain = raster.getParent() == null && raster.getSampleModelTranslateX() == 0
                && raster.getSampleModelTranslateY() == 0;
        if (plain && image.getType() == BufferedImage.TYPE_3BYTE_BGR
                && raster.getSampleModel() instanceof PixelInterleavedSampleModel sm
                && sm.getPixelStride() == CHANNELS && raster.getDataBuffer() instanceof DataBufferByte db
                && db.getNumBanks() == 1) {
            int[] bandOffsets = sm.getBandOffsets();
            return new Pixels(db.getData(), db.getOffset(), sm.getScanlineStride(), w, h,
                    new int[] {bandOffsets[0], bandOffsets[1], bandOffsets[2]});
        }
        byte[] rgb = new byte[w * h * CHANNELS];
        int type = image.getType();
        if (plain && (type == BufferedImage.TYPE_INT_RGB || type == BufferedImage.TYPE_INT_ARGB
                || type == BufferedImage.TYPE_INT_BGR)
                && raster.getSampleModel() instanceof SinglePixelPackedSampleModel sm
                && raster.getDataBuffer() instanceof DataBufferInt db) {
            int[] data = db.getData();
            int stride = sm.getScanlineStride();
            int base = db.getOffset();
            boolean bgr = type == BufferedImage.TYPE_INT_BGR;
            int o = 0;
            for (int y = 0; y < h; y++) {
                int p = base + y * stride;
                for (int x = 0; x < w; x++) {
                    int v = data[p + x];
                    int r = bgr ? v : v >> 16;
                    int b = bgr ? v >> 16 : v;
                    rgb[o++] = (byte) r;
                    rgb[o++] = (byte) (v >> 8);
                    rgb[o++] = (byte) b;
                }
            }
        } else if (type == BufferedImage.TYPE_BYTE_GRAY) {
            int[] samples = new int[w];
            int o = 0;
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, samples);
                for (int x = 0; x < w; x++) {
                    byte v = (byte) samples[x];
                    rgb[o++] = v;
                    rgb[o++] = v;
                    rgb[o++] = v;
                }
            }
        } else {
            int[] argb = new int[w];
            int o = 0;
            for (int y = 0; y < h; y++) {
                image.getRGB(0, y, w, 1, argb, 0, w);
                for (int x = 0; x < w; x++) {
                    int v = argb[x];
                    rgb[o++] = (byte) (v >> 16);
                    rgb[o++] = (byte) (v >> 8);
                    rgb[o++] = (byte) v;
                }
            }
        }
        return new Pixels(rgb, 0, w * CHANNELS, w, h, new int[] {0, 1, 2});
    }

    /**
     * torchvision's ToTensor + Normalize and numpy's rescale + normalize: rescale (a double product, or an
     * exact float division by 255 that rounds the same for all 256 values, cast to float), then subtract
     * and divide in float32.
     */
    private static float[][] pilTable(double rescaleFactor, float[] mean, float[] std) {
        float[][] table = new float[CHANNELS][256];
        for (int c = 0; c < CHANNELS; c++) {
            for (int v = 0; v < 256; v++) {
                float scaled = (float) (v * rescaleFactor);
                table[c][v] = (scaled - mean[c]) / std[c];
            }
        }
        return table;
    }

    /**
     * transformers' TorchvisionBackend._rescale_and_normalize: with both steps it divides the mean and std
     * by the rescale factor (float32 tensors times a float scalar) and normalises the raw values; with
     * rescaling only it multiplies in float32.
     */
    private static float[][] torchvisionTable(double rescaleFactor, float[] mean, float[] std) {
        boolean normalise = false;
        for (int c = 0; c < CHANNELS; c++) {
            normalise |= mean[c] != 0f || std[c] != 1f;
        }
        boolean rescale = rescaleFactor != 1.0;
        float inverse = (float) (1.0 / rescaleFactor);
        float factor = (float) rescaleFactor;
        float[][] table = new float[CHANNELS][256];
        for (int c = 0; c < CHANNELS; c++) {
            float m = rescale ? mean[c] * inverse : mean[c];
            float s = rescale ? std[c] * inverse : std[c];
            for (int v = 0; v < 256; v++) {
                table[c][v] = normalise ? (v - m) / s : rescale ? v * factor : v;
            }
        }
        return table;
    }

    private static float[] threeValues(List<Double> values, String name) {
        require(values != null && values.size() == CHANNELS,
                name + " must have 3 values (R, G, B), got " + values);
        float[] out = new float[CHANNELS];
        for (int c = 0; c < CHANNELS; c++) {
            Double v = values.get(c);
            require(v != null && Double.isFinite(v), name + "[" + c + "] must be a finite number, got " + v);
            out[c] = (float) (double) v;
        }
        if (name.equals("std")) {
            for (int c = 0; c < CHANNELS; c++) {
                require(out[c] != 0f, String.format(Locale.ROOT, "std[%d] is 0; division by zero", c));
            }
        }
        return out;
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException("preprocessing recipe: " + message);
        }
    }
}
