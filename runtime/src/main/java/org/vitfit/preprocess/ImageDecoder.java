package org.vitfit.preprocess;

import org.apache.commons.imaging.Imaging;
import org.apache.commons.imaging.common.ImageMetadata;
import org.apache.commons.imaging.formats.jpeg.JpegImageMetadata;
import org.apache.commons.imaging.formats.png.PngImageMetadata;
import org.apache.commons.imaging.formats.tiff.TiffField;
import org.apache.commons.imaging.formats.tiff.TiffImageMetadata;
import org.apache.commons.imaging.formats.tiff.constants.TiffTagConstants;
import org.apache.commons.imaging.formats.webp.WebPImageMetadata;
import org.vitfit.preprocess.ImageDecodeException.Reason;

import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.color.ICC_ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorConvertOp;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.PixelInterleavedSampleModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Objects;

/**
 * Decodes image files into 8-bit sRGB {@link BufferedImage#TYPE_3BYTE_BGR} images holding the values
 * PIL's {@code Image.open(f).convert('RGB')} would give, so that {@link Preprocessor} reproduces the
 * Python pipelines.
 *
 * <p>Formats: whatever ImageIO has plugins for; with TwelveMonkeys on the classpath that includes
 * baseline/progressive/CMYK/YCCK JPEG, PNG, GIF, BMP, WebP and TIFF. Conversion follows PIL rather than
 * Java2D colour management: grayscale is replicated into R=G=B, alpha is dropped (not composited), palettes
 * are looked up, embedded ICC profiles of RGB images are ignored, 16-bit samples keep their high byte
 * (what PIL does for 16-bit RGB PNGs; PIL saturates 16-bit grayscale instead, which we do not copy). CMYK
 * and other colour spaces go through Java's colour conversion (TwelveMonkeys uses the embedded profile),
 * which is close to but not bit-identical with PIL's naive CMYK formula.
 *
 * <p>Safety: the pixel count is checked from the header ({@link ImageReader#getWidth}) before any pixel
 * buffer is allocated; the default limit is {@value #DEFAULT_MAX_PIXELS} pixels, PIL's
 * {@code Image.MAX_IMAGE_PIXELS} (about 0.5 GB as 8-bit RGB; PIL warns above it). Truncated files are
 * refused, as PIL does by default, rather than decoded with a grey tail. Every failure is an
 * {@link ImageDecodeException} with a {@link Reason}.
 *
 * <p>EXIF orientation (JPEG, TIFF, PNG eXIf, WebP) is read with Apache Commons Imaging and applied like
 * PIL's {@code ImageOps.exif_transpose} when asked; timm and transformers do not apply it, so recipes
 * converted from them keep it off. An unreadable EXIF block counts as orientation 1 rather than failing
 * an otherwise good image.
 *
 * <p>Thread-safe: one decoder can be shared; each call uses its own ImageIO reader.
 */
public final class ImageDecoder {

    /** PIL's {@code Image.MAX_IMAGE_PIXELS}. */
    public static final long DEFAULT_MAX_PIXELS = 178_956_970L;

    private final boolean applyExifOrientation;
    private final long maxPixels;

    public ImageDecoder(boolean applyExifOrientation, long maxPixels) {
        if (maxPixels < 1) {
            throw new IllegalArgumentException("maxPixels must be >= 1, got " + maxPixels);
        }
        this.applyExifOrientation = applyExifOrientation;
        this.maxPixels = maxPixels;
    }

    public ImageDecoder(boolean applyExifOrientation) {
        this(applyExifOrientation, DEFAULT_MAX_PIXELS);
    }

    /** A decoder that applies EXIF orientation when the recipe says so, with the default pixel limit. */
    public static ImageDecoder forRecipe(PreprocessRecipe recipe) {
        return new ImageDecoder(recipe.applyExifOrientation());
    }

    public boolean appliesExifOrientation() {
        return applyExifOrientation;
    }

    public long maxPixels() {
        return maxPixels;
    }

    public BufferedImage decode(Path file) throws ImageDecodeException {
        String source = file.toString();
        byte[] bytes;
        try {
            if (Files.size(file) > Integer.MAX_VALUE - 8) {
                throw new ImageDecodeException(Reason.UNREADABLE, source, "file is larger than 2 GiB");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ImageDecodeException(Reason.UNREADABLE, source, "no such file", e);
        } catch (IOException e) {
            throw new ImageDecodeException(Reason.UNREADABLE, source, "cannot read the file: " + e, e);
        }
        return decode(bytes, source);
    }

    /** Reads the whole stream (not closed) and decodes it; {@code source} names it in errors. */
    public BufferedImage decode(InputStream in, String source) throws ImageDecodeException {
        byte[] bytes;
        try {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw new ImageDecodeException(Reason.UNREADABLE, source, "cannot read the stream: " + e, e);
        }
        return decode(bytes, source);
    }

    /** Decodes an encoded image held in memory; {@code source} names it in errors. */
    public BufferedImage decode(byte[] bytes, String source) throws ImageDecodeException {
        Objects.requireNonNull(bytes, "bytes");
        if (bytes.length == 0) {
            throw new ImageDecodeException(Reason.EMPTY_FILE, source, "the file is empty (0 bytes)");
        }
        try {
            BufferedImage decoded = read(bytes, source);
            BufferedImage bgr = toBgr(decoded);
            if (applyExifOrientation) {
                bgr = orient(bgr, exifOrientation(bytes));
            }
            return bgr;
        } catch (OutOfMemoryError e) {
            // The failed allocation is the image's own (hundreds of MB); once it is dropped the heap is fine.
            throw outOfMemory(source, "decoding it ran out of memory", e);
        }
    }

    private static ImageDecodeException outOfMemory(String source, String what, Throwable cause) {
        return new ImageDecodeException(Reason.OUT_OF_MEMORY, source, what + " (Java may use at most "
                + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB); the image itself is probably fine: give Java "
                + "more memory (the vitfit launcher reads VITFIT_JAVA_OPTS, e.g. VITFIT_JAVA_OPTS=-Xmx16g), decode "
                + "fewer images at once, or downscale it", cause);
    }

    private BufferedImage read(byte[] bytes, String source) throws ImageDecodeException {
        try (ImageInputStream input = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(input);
            if (!readers.hasNext()) {
                String known = knownUnsupportedFormat(bytes);
                if (known != null) {
                    throw new ImageDecodeException(Reason.UNSUPPORTED_FORMAT, source,
                            known + " is not supported; convert it to JPEG or PNG");
                }
                throw new ImageDecodeException(Reason.NOT_AN_IMAGE, source,
                        "not an image in any supported format (JPEG, PNG, GIF, BMP, WebP, TIFF); " + whatItHolds(bytes));
            }
            ImageReader reader = readers.next();
            WarningLog warnings = new WarningLog();
            try {
                reader.setInput(input, true, true);
                reader.addIIOReadWarningListener((r, warning) -> warnings.add(warning));
                int width = reader.getWidth(0);
                int height = reader.getHeight(0);
                if (width < 1 || height < 1) {
                    throw new ImageDecodeException(Reason.CORRUPT, source, "header gives size " + width + "x" + height);
                }
                if ((long) width * height > maxPixels) {
                    throw new ImageDecodeException(Reason.TOO_MANY_PIXELS, source, String.format(Locale.ROOT,
                            "%dx%d = %d pixels exceeds the limit of %d; raise the decoder's pixel limit if the image is genuine",
                            width, height, (long) width * height, maxPixels));
                }
                // 3 bytes per pixel is the least any decoder needs; more than the heap can ever hold is refused
                // from the header, instead of failing after seconds of inflating.
                long leastBytes = 3L * width * height;
                if (leastBytes > Runtime.getRuntime().maxMemory()) {
                    throw outOfMemory(source, String.format(Locale.ROOT, "%dx%d = %d pixels need at least %d MiB to "
                            + "decode", width, height, (long) width * height, leastBytes / (1 << 20)), null);
                }
                BufferedImage image = reader.read(0, rawColourParam(reader));
                if (warnings.truncation != null) {
                    throw new ImageDecodeException(Reason.TRUNCATED, source,
                            "data ends before the image does (" + warnings.truncation + ")");
                }
                return image;
            } catch (ImageDecodeException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                throw classify(e, warnings, source, formatName(reader));
            } finally {
                reader.dispose();
            }
        } catch (ImageDecodeException e) {
            throw e;
        } catch (IOException e) {
            throw new ImageDecodeException(Reason.UNREADABLE, source, "cannot read the bytes: " + e, e);
        }
    }

    /**
     * Read parameters that keep an embedded RGB or gray ICC profile as the image's colour space instead
     * of converting to sRGB, so the samples are the decoded values PIL returns (PIL ignores profiles).
     */
    private static ImageReadParam rawColourParam(ImageReader reader) throws IOException {
        ImageReadParam param = reader.getDefaultReadParam();
        Iterator<ImageTypeSpecifier> types = reader.getImageTypes(0);
        if (!types.hasNext()) {
            return param;
        }
        ColorModel preferred = types.next().getColorModel();
        ColorSpace preferredSpace = preferred.getColorSpace();
        if (!preferredSpace.isCS_sRGB()) {
            return param;
        }
        ColorSpace linear = ColorSpace.getInstance(ColorSpace.CS_LINEAR_RGB);
        while (types.hasNext()) {
            ImageTypeSpecifier type = types.next();
            ColorModel model = type.getColorModel();
            ColorSpace space = model.getColorSpace();
            // The reader offers the embedded profile's space as an alternative with the same layout.
            if (space instanceof ICC_ColorSpace && !space.isCS_sRGB() && space != linear
                    && space.getType() == preferredSpace.getType()
                    && model.getNumComponents() == preferred.getNumComponents()
                    && !(model instanceof IndexColorModel)) {
                param.setDestinationType(type);
                break;
            }
        }
        return param;
    }

    /** Decoder warnings; libjpeg reports truncation as a warning and fills the rest with grey. */
    private static final class WarningLog {
        /** The first warning saying the data ended early, or null. */
        String truncation;
        boolean missingEnd;

        void add(String warning) {
            String w = warning.toLowerCase(Locale.ROOT);
            if (w.contains("missing eoi")) {
                // Only the end marker is missing: the pixels may all be there, and PIL accepts such files.
                missingEnd = true;
            } else if ((w.contains("premature end") || w.contains("truncat")) && truncation == null) {
                truncation = warning;
            }
        }
    }

    private static ImageDecodeException classify(Exception e, WarningLog warnings, String source, String what) {
        StringBuilder messages = new StringBuilder();
        boolean eof = false;
        for (Throwable t = e; t != null; t = t.getCause()) {
            eof |= t instanceof EOFException;
            if (t.getMessage() != null) {
                messages.append(t.getMessage().toLowerCase(Locale.ROOT)).append(' ');
            }
        }
        String m = messages.toString();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError) {
                // ImageIO's PNG reader wraps an OutOfMemoryError in "Caught exception during read".
                return outOfMemory(source, "decoding it ran out of memory", e);
            }
        }
        if (eof || warnings.truncation != null || warnings.missingEnd || m.contains("unexpected end")
                || m.contains("premature end") || m.contains("truncat")) {
            return new ImageDecodeException(Reason.TRUNCATED, source,
                    what + " data ends before the image does (" + e + ")", e);
        }
        if (m.contains("unsupported") || m.contains("not supported")) {
            return new ImageDecodeException(Reason.UNSUPPORTED_FORMAT, source,
                    "a " + what + " variant the decoder does not handle (" + e + ")", e);
        }
        return new ImageDecodeException(Reason.CORRUPT, source, "invalid " + what + " data (" + e + ")", e);
    }

    private static String formatName(ImageReader reader) {
        String[] names = reader.getOriginatingProvider() == null ? null : reader.getOriginatingProvider().getFormatNames();
        return names == null || names.length == 0 ? "image" : names[0].toUpperCase(Locale.ROOT);
    }

    /** Formats people do feed to image pipelines that ImageIO cannot decode, named in the error. */
    private static String knownUnsupportedFormat(byte[] b) {
        if (b.length >= 12 && b[4] == 'f' && b[5] == 't' && b[6] == 'y' && b[7] == 'p') {
            String brand = new String(b, 8, 4, StandardCharsets.ISO_8859_1);
            if (brand.startsWith("avi")) {
                return "AVIF";
            }
            if (brand.startsWith("hei") || brand.startsWith("mif") || brand.startsWith("hev") || brand.startsWith("msf")) {
                return "HEIF/HEIC";
            }
        }
        if (b.length >= 2 && (b[0] & 0xFF) == 0xFF && b[1] == 0x0A) {
            return "JPEG XL";
        }
        if (b.length >= 12 && b[4] == 'J' && b[5] == 'X' && b[6] == 'L' && b[7] == ' ') {
            return "JPEG XL";
        }
        if (b.length >= 12 && b[4] == 'j' && b[5] == 'P' && b[6] == ' ' && b[7] == ' ') {
            return "JPEG 2000";
        }
        if (b.length >= 4 && b[0] == '8' && b[1] == 'B' && b[2] == 'P' && b[3] == 'S') {
            return "Photoshop PSD";
        }
        return null;
    }

    /**
     * What a non-image file seems to be, without quoting it: the file may be anything a link points to (a key, a
     * password file), and error logs are shared. Text is named as text; binary data by its first four bytes, which is
     * where formats keep their magic number.
     */
    static String whatItHolds(byte[] b) {
        int n = Math.min(b.length, 512);
        String head = new String(b, 0, n, StandardCharsets.ISO_8859_1).stripLeading().toLowerCase(Locale.ROOT);
        if (head.startsWith("<!doctype html") || head.startsWith("<html")) {
            return "it is an HTML page (a download that returned a web page?)";
        }
        if (head.startsWith("<?xml") || head.startsWith("<svg")) {
            return "it is XML or SVG text";
        }
        if (head.startsWith("%pdf")) {
            return "it is a PDF document";
        }
        if (b.length >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4) {
            return "it is a ZIP archive";
        }
        boolean text = n > 0;
        for (int i = 0; i < n && text; i++) {
            int c = b[i] & 0xFF;
            text = c >= 0x20 || c == '\n' || c == '\r' || c == '\t';
        }
        if (text) {
            return "it holds text";
        }
        StringBuilder s = new StringBuilder("it starts with the bytes");
        for (int i = 0; i < Math.min(4, b.length); i++) {
            s.append(String.format(Locale.ROOT, " %02x", b[i] & 0xFF));
        }
        return s.toString();
    }

    /**
     * The image as plain {@code TYPE_3BYTE_BGR}, converted like PIL's {@code convert('RGB')} (see the
     * class comment); returned as is when it already is one.
     */
    static BufferedImage toBgr(BufferedImage image) {
        if (image.getType() == BufferedImage.TYPE_3BYTE_BGR && isPlain(image.getRaster())) {
            return image;
        }
        int w = image.getWidth();
        int h = image.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        byte[] o = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int[] row = new int[w];

        if (cm instanceof IndexColorModel icm) {
            int[] palette = new int[icm.getMapSize()];
            icm.getRGBs(palette);
            for (int y = 0; y < h; y++) {
                raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, 0, row);
                int p = y * w * 3;
                for (int x = 0; x < w; x++, p += 3) {
                    int index = row[x];
                    int rgb = index < palette.length ? palette[index] : 0;
                    o[p] = (byte) rgb;
                    o[p + 1] = (byte) (rgb >> 8);
                    o[p + 2] = (byte) (rgb >> 16);
                }
            }
            return out;
        }

        int colourBands = cm.getNumColorComponents();
        int space = cm.getColorSpace().getType();
        int transfer = raster.getTransferType();
        boolean integerSamples = transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT
                || transfer == DataBuffer.TYPE_INT || transfer == DataBuffer.TYPE_SHORT;
        boolean gray = space == ColorSpace.TYPE_GRAY && colourBands == 1;
        boolean rgb = space == ColorSpace.TYPE_RGB && colourBands == 3;
        if (!integerSamples || cm.isAlphaPremultiplied() || !(gray || rgb) || raster.getNumBands() < colourBands) {
            // CMYK, Lab, float samples...: Java's colour management to sRGB.
            new ColorConvertOp(null).filter(image, out);
            return out;
        }
        for (int band = 0; band < colourBands; band++) {
            int bits = cm.getComponentSize(band);
            int max = bits >= 31 ? Integer.MAX_VALUE : (1 << bits) - 1;
            // BGR order in the output: R goes to byte 2, G to 1, B to 0; gray fills all three.
            int target = gray ? -1 : 2 - band;
            for (int y = 0; y < h; y++) {
                raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, band, row);
                int p = y * w * 3;
                for (int x = 0; x < w; x++, p += 3) {
                    byte v = (byte) to8Bits(row[x], bits, max);
                    if (target < 0) {
                        o[p] = v;
                        o[p + 1] = v;
                        o[p + 2] = v;
                    } else {
                        o[p + target] = v;
                    }
                }
            }
        }
        return out;
    }

    private static int to8Bits(int v, int bits, int max) {
        if (bits == 8) {
            return v;
        }
        if (bits > 8) {
            return v >>> (bits - 8);
        }
        return (v * 255 + max / 2) / max;
    }

    private static boolean isPlain(Raster raster) {
        return raster.getParent() == null && raster.getSampleModelTranslateX() == 0
                && raster.getSampleModelTranslateY() == 0
                && raster.getSampleModel() instanceof PixelInterleavedSampleModel sm
                && sm.getPixelStride() == 3 && sm.getScanlineStride() == raster.getWidth() * 3
                && raster.getDataBuffer() instanceof DataBufferByte db && db.getNumBanks() == 1 && db.getOffset() == 0;
    }

    /** The EXIF orientation tag (1..8), or 1 when there is none or it cannot be read. */
    static int exifOrientation(byte[] bytes) {
        try {
            ImageMetadata metadata = Imaging.getMetadata(bytes);
            TiffImageMetadata exif = null;
            if (metadata instanceof JpegImageMetadata jpeg) {
                exif = jpeg.getExif();
            } else if (metadata instanceof TiffImageMetadata tiff) {
                exif = tiff;
            } else if (metadata instanceof PngImageMetadata png) {
                exif = png.getExif();
            } else if (metadata instanceof WebPImageMetadata webp) {
                exif = webp.getExif();
            }
            if (exif == null) {
                return 1;
            }
            TiffField field = exif.findField(TiffTagConstants.TIFF_TAG_ORIENTATION);
            if (field == null) {
                return 1;
            }
            int orientation = field.getIntValue();
            return orientation >= 1 && orientation <= 8 ? orientation : 1;
        } catch (IOException | RuntimeException e) {
            return 1;
        }
    }

    /**
     * Applies an EXIF orientation to a plain {@code TYPE_3BYTE_BGR} image, with the same operation
     * for each value as PIL's {@code exif_transpose}: 2 flip left-right, 3 rotate 180, 4 flip top-bottom,
     * 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
     */
    static BufferedImage orient(BufferedImage bgr, int orientation) {
        if (orientation <= 1 || orientation > 8) {
            return bgr;
        }
        int w = bgr.getWidth();
        int h = bgr.getHeight();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        BufferedImage out = new BufferedImage(ow, oh, BufferedImage.TYPE_3BYTE_BGR);
        byte[] s = ((DataBufferByte) bgr.getRaster().getDataBuffer()).getData();
        byte[] d = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
        int o = 0;
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++, o += 3) {
                int sx;
                int sy;
                switch (orientation) {
                    case 2: sx = w - 1 - x; sy = y; break;
                    case 3: sx = w - 1 - x; sy = h - 1 - y; break;
                    case 4: sx = x; sy = h - 1 - y; break;
                    case 5: sx = y; sy = x; break;
                    case 6: sx = y; sy = h - 1 - x; break;
                    case 7: sx = w - 1 - y; sy = h - 1 - x; break;
                    default: sx = w - 1 - y; sy = x; break;
                }
                int p = (sy * w + sx) * 3;
                d[o] = s[p];
                d[o + 1] = s[p + 1];
                d[o + 2] = s[p + 2];
            }
        }
        return out;
    }
}
