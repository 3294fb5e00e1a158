package org.vitfit.preprocess;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.preprocess.ImageDecodeException.Reason;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageDecoderTest {

    private static final ImageDecoder DECODER = new ImageDecoder(false);

    @TempDir
    Path tmp;

    private static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(image, format, out), "no " + format + " writer for image type " + image.getType());
        return out.toByteArray();
    }

    private static int[] rgb(BufferedImage image, int x, int y) {
        int v = image.getRGB(x, y);
        return new int[] {v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF};
    }

    private static void assertBgr(BufferedImage image) {
        assertEquals(BufferedImage.TYPE_3BYTE_BGR, image.getType());
    }

    @Test
    void grayscalePngIsReplicatedIntoRgb() throws Exception {
        BufferedImage gray = new BufferedImage(16, 8, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                gray.getRaster().setSample(x, y, 0, x * 16 + y);
            }
        }
        BufferedImage out = DECODER.decode(encode(gray, "png"), "gray.png");
        assertBgr(out);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                int v = x * 16 + y;
                assertArrayEquals(new int[] {v, v, v}, rgb(out, x, y), "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void alphaIsDroppedNotComposited() throws Exception {
        BufferedImage rgba = new BufferedImage(8, 8, BufferedImage.TYPE_4BYTE_ABGR);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                rgba.setRGB(x, y, (x * 32) << 24 | (200 - y) << 16 | (x * 30) << 8 | 77);
            }
        }
        BufferedImage out = DECODER.decode(encode(rgba, "png"), "rgba.png");
        assertBgr(out);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) {
                assertArrayEquals(new int[] {200 - y, x * 30, 77}, rgb(out, x, y), "pixel " + x + "," + y + " (alpha " + x * 32 + ")");
            }
        }
    }

    @Test
    void palettePngIsLookedUp() throws Exception {
        byte[] r = {(byte) 255, 0, 0, 12};
        byte[] g = {0, (byte) 255, 0, 34};
        byte[] b = {0, 0, (byte) 255, 56};
        BufferedImage indexed = new BufferedImage(4, 2, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(2, 4, r, g, b));
        for (int x = 0; x < 4; x++) {
            indexed.getRaster().setSample(x, 0, 0, x);
            indexed.getRaster().setSample(x, 1, 0, 3 - x);
        }
        BufferedImage out = DECODER.decode(encode(indexed, "png"), "palette.png");
        assertBgr(out);
        assertArrayEquals(new int[] {255, 0, 0}, rgb(out, 0, 0));
        assertArrayEquals(new int[] {12, 34, 56}, rgb(out, 3, 0));
        assertArrayEquals(new int[] {12, 34, 56}, rgb(out, 0, 1));
        assertArrayEquals(new int[] {0, 255, 0}, rgb(out, 2, 1));
    }

    @Test
    void sixteenBitPngsKeepTheHighByte() throws Exception {
        BufferedImage gray16 = new BufferedImage(4, 1, BufferedImage.TYPE_USHORT_GRAY);
        int[] values = {0x0000, 0x12FF, 0x8000, 0xFFFF};
        for (int x = 0; x < 4; x++) {
            gray16.getRaster().setSample(x, 0, 0, values[x]);
        }
        BufferedImage out = DECODER.decode(encode(gray16, "png"), "gray16.png");
        assertArrayEquals(new int[] {0x12, 0x12, 0x12}, rgb(out, 1, 0));
        assertArrayEquals(new int[] {0x80, 0x80, 0x80}, rgb(out, 2, 0));
        assertArrayEquals(new int[] {0xFF, 0xFF, 0xFF}, rgb(out, 3, 0));

        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), new int[] {16, 16, 16},
                false, false, Transparency.OPAQUE, DataBuffer.TYPE_USHORT);
        WritableRaster raster = cm.createCompatibleWritableRaster(2, 1);
        raster.setPixel(0, 0, new int[] {0xABCD, 0x0123, 0xFF00});
        raster.setPixel(1, 0, new int[] {0x00FF, 0x7F80, 0x8080});
        BufferedImage rgb16 = new BufferedImage(cm, raster, false, null);
        BufferedImage out16 = DECODER.decode(encode(rgb16, "png"), "rgb16.png");
        assertBgr(out16);
        assertArrayEquals(new int[] {0xAB, 0x01, 0xFF}, rgb(out16, 0, 0));
        assertArrayEquals(new int[] {0x00, 0x7F, 0x80}, rgb(out16, 1, 0));
    }

    /** Adobe CMYK JPEG (inverted samples, APP14 transform 0), as Photoshop writes them. */
    @Test
    void cmykJpegIsConvertedToRgb() throws Exception {
        WritableRaster cmyk = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 32, 32, 4, null);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                int c = x < 16 ? 255 : 0;
                int yellow = x < 16 ? 0 : 255;
                int k = y < 16 ? 0 : 255;
                cmyk.setPixel(x, y, new int[] {255 - c, 255, 255 - yellow, 255 - k});
            }
        }
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
            writer.setOutput(out);
            writer.write(null, new IIOImage(cmyk, null, null), null);
        } finally {
            writer.dispose();
        }
        byte[] jpeg = bytes.toByteArray();
        byte[] adobe = {(byte) 0xFF, (byte) 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0};
        BufferedImage out = DECODER.decode(insertAfterSoi(jpeg, adobe), "cmyk.jpg");
        assertBgr(out);
        int[] cyan = rgb(out, 4, 4);
        int[] yellowPixel = rgb(out, 24, 4);
        int[] black = rgb(out, 4, 24);
        assertTrue(cyan[0] < 60 && cyan[1] > 150 && cyan[2] > 150, "cyan patch " + Arrays.toString(cyan));
        assertTrue(yellowPixel[0] > 150 && yellowPixel[1] > 150 && yellowPixel[2] < 60, "yellow patch " + Arrays.toString(yellowPixel));
        assertTrue(black[0] < 40 && black[1] < 40 && black[2] < 40, "black patch " + Arrays.toString(black));
    }

    @Test
    void tiffRoundTripsExactly() throws Exception {
        BufferedImage image = new BufferedImage(20, 10, BufferedImage.TYPE_3BYTE_BGR);
        byte[] data = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 37);
        }
        BufferedImage out = DECODER.decode(encode(image, "tiff"), "image.tiff");
        assertArrayEquals(data, ((DataBufferByte) out.getRaster().getDataBuffer()).getData());
    }

    /** A 64x32 JPEG whose left half is red and right half blue, with green added to the top rows. */
    private static byte[] orientedJpeg(int orientation) throws IOException {
        BufferedImage image = new BufferedImage(64, 32, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 64; x++) {
                int green = y < 16 ? 255 : 0;
                image.setRGB(x, y, x < 32 ? 0xFF0000 | green << 8 : 0x0000FF | green << 8);
            }
        }
        // TIFF header (big-endian), IFD0 with one SHORT entry: Orientation (0x0112).
        byte[] tiff = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (byte) orientation, 0, 0, 0, 0, 0, 0};
        ByteBuffer app1 = ByteBuffer.allocate(4 + 6 + tiff.length);
        app1.put((byte) 0xFF).put((byte) 0xE1).putShort((short) (2 + 6 + tiff.length));
        app1.put("Exif\0\0".getBytes(StandardCharsets.ISO_8859_1)).put(tiff);
        return insertAfterSoi(encode(image, "jpeg"), app1.array());
    }

    @Test
    void exifOrientationSixRotatesClockwiseWhenAsked() throws Exception {
        byte[] jpeg = orientedJpeg(6);
        assertEquals(6, ImageDecoder.exifOrientation(jpeg));

        BufferedImage asStored = DECODER.decode(jpeg, "rotated.jpg");
        assertEquals(64, asStored.getWidth());
        assertEquals(32, asStored.getHeight());

        BufferedImage upright = new ImageDecoder(true).decode(jpeg, "rotated.jpg");
        assertBgr(upright);
        assertEquals(32, upright.getWidth());
        assertEquals(64, upright.getHeight());
        // Clockwise: the stored left (red) half becomes the top, the stored top rows (green) the right side.
        assertColour(upright, 24, 8, true, true, false);
        assertColour(upright, 8, 8, true, false, false);
        assertColour(upright, 24, 56, false, true, true);
        assertColour(upright, 8, 56, false, false, true);

        assertEquals(1, ImageDecoder.exifOrientation(encode(asStored, "jpeg")));
        PreprocessRecipe exif = PreprocessRecipe.fromTimm(Fixtures.JSON.readTree("{\"input_size\": [3, 224, 224]}"))
                .withApplyExifOrientation(true);
        assertTrue(ImageDecoder.forRecipe(exif).appliesExifOrientation());
    }

    private static void assertColour(BufferedImage image, int x, int y, boolean red, boolean green, boolean blue) {
        int[] c = rgb(image, x, y);
        boolean ok = (c[0] > 128) == red && (c[1] > 128) == green && (c[2] > 128) == blue;
        assertTrue(ok, "pixel " + x + "," + y + " is " + Arrays.toString(c));
    }

    /** Each orientation against the picture PIL's exif_transpose gives, on a 3x2 image A B C / D E F. */
    @Test
    void everyOrientationMatchesPil() {
        BufferedImage in = new BufferedImage(3, 2, BufferedImage.TYPE_3BYTE_BGR);
        char[][] letters = {{'A', 'B', 'C'}, {'D', 'E', 'F'}};
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                in.setRGB(x, y, letters[y][x]);
            }
        }
        String[] expected = {
                null, "ABC/DEF", "CBA/FED", "FED/CBA", "DEF/ABC", "AD/BE/CF", "DA/EB/FC", "FC/EB/DA", "CF/BE/AD"};
        for (int orientation = 1; orientation <= 8; orientation++) {
            BufferedImage out = ImageDecoder.orient(in, orientation);
            StringBuilder s = new StringBuilder();
            for (int y = 0; y < out.getHeight(); y++) {
                if (y > 0) {
                    s.append('/');
                }
                for (int x = 0; x < out.getWidth(); x++) {
                    s.append((char) (out.getRGB(x, y) & 0xFF));
                }
            }
            assertEquals(expected[orientation], s.toString(), "orientation " + orientation);
        }
        assertSame(in, ImageDecoder.orient(in, 0), "invalid orientation values leave the image alone");
    }

    @Test
    void emptyFilesAndMissingFiles() throws Exception {
        Path empty = Files.createFile(tmp.resolve("empty.jpg"));
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> DECODER.decode(empty));
        assertEquals(Reason.EMPTY_FILE, e.reason());
        assertTrue(e.getMessage().contains(empty.toString()), e.getMessage());
        assertEquals(empty.toString(), e.source());

        ImageDecodeException missing = assertThrows(ImageDecodeException.class, () -> DECODER.decode(tmp.resolve("nope.png")));
        assertEquals(Reason.UNREADABLE, missing.reason());
        ImageDecodeException dir = assertThrows(ImageDecodeException.class, () -> DECODER.decode(tmp));
        assertEquals(Reason.UNREADABLE, dir.reason());
    }

    @Test
    void textFileNamedJpgIsNotAnImage() throws Exception {
        Path text = tmp.resolve("notes.jpg");
        Files.writeString(text, "this is not a picture\n");
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> DECODER.decode(text));
        assertEquals(Reason.NOT_AN_IMAGE, e.reason());
        assertTrue(e.getMessage().contains("notes.jpg") && e.getMessage().contains("it holds text"), e.getMessage());
        // Never quoted: a link named like an image may point at a password file, and error logs are shared.
        assertFalse(e.getMessage().contains("this is not"), e.getMessage());
        ImageDecodeException binary = assertThrows(ImageDecodeException.class,
                () -> DECODER.decode(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 's', 'e', 'c', 'r', 'e', 't'}, "x"));
        assertTrue(binary.getMessage().endsWith("it starts with the bytes 7f 45 4c 46"), binary.getMessage());

        byte[] heic = new byte[64];
        System.arraycopy("\0\0\0\u0018ftypheic".getBytes(StandardCharsets.ISO_8859_1), 0, heic, 0, 12);
        ImageDecodeException unsupported = assertThrows(ImageDecodeException.class,
                () -> DECODER.decode(new ByteArrayInputStream(heic), "photo.heic"));
        assertEquals(Reason.UNSUPPORTED_FORMAT, unsupported.reason());
        assertTrue(unsupported.getMessage().contains("HEIF"), unsupported.getMessage());
    }

    @Test
    void truncatedJpegAndPngAreRefused() throws Exception {
        byte[] jpeg = Files.readAllBytes(Fixtures.shared().resolve("models/vit-tiny-patch16-224-augreg/samples/n02231487_1002.JPEG"));
        for (int cut : new int[] {jpeg.length / 2, 400}) {
            ImageDecodeException e = assertThrows(ImageDecodeException.class,
                    () -> DECODER.decode(Arrays.copyOf(jpeg, cut), "cut.jpg"));
            assertEquals(Reason.TRUNCATED, e.reason(), "JPEG cut at " + cut + ": " + e.getMessage());
        }
        byte[] png = Files.readAllBytes(Fixtures.shared().resolve("fixtures/hf-golden/images/img1.png"));
        ImageDecodeException e = assertThrows(ImageDecodeException.class,
                () -> DECODER.decode(Arrays.copyOf(png, png.length / 2), "cut.png"));
        assertEquals(Reason.TRUNCATED, e.reason(), e.getMessage());
        assertTrue(e.getMessage().startsWith("cut.png: TRUNCATED"), e.getMessage());
        // The end marker alone missing: every pixel is there, PIL decodes it, so do we.
        BufferedImage noEnd = DECODER.decode(Arrays.copyOf(jpeg, jpeg.length - 2), "no-eoi.jpg");
        assertArrayEquals(((DataBufferByte) DECODER.decode(jpeg, "whole.jpg").getRaster().getDataBuffer()).getData(),
                ((DataBufferByte) noEnd.getRaster().getDataBuffer()).getData());
    }

    @Test
    void corruptPngDataIsRefused() throws Exception {
        byte[] png = pngWithHeader(64, 64, deflateGarbage());
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> DECODER.decode(png, "corrupt.png"));
        assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
    }

    /** A PNG whose header claims 100000 x 100000 must be refused from the header, before any allocation. */
    @Test
    void hugeDimensionsAreRefusedFromTheHeader() throws Exception {
        byte[] bomb = pngWithHeader(100_000, 100_000, new byte[] {0x78, (byte) 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
        long start = System.nanoTime();
        ImageDecodeException e = assertThrows(ImageDecodeException.class, () -> DECODER.decode(bomb, "bomb.png"));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(Reason.TOO_MANY_PIXELS, e.reason());
        assertTrue(e.getMessage().contains("100000x100000") && e.getMessage().contains("178956970"), e.getMessage());
        assertTrue(millis < 2000, "took " + millis + " ms");

        byte[] small = encode(new BufferedImage(32, 32, BufferedImage.TYPE_3BYTE_BGR), "png");
        ImageDecodeException limited = assertThrows(ImageDecodeException.class,
                () -> new ImageDecoder(false, 1000).decode(small, "small.png"));
        assertEquals(Reason.TOO_MANY_PIXELS, limited.reason());
        assertEquals(32, new ImageDecoder(false, 1024).decode(small, "small.png").getWidth());
        assertThrows(IllegalArgumentException.class, () -> new ImageDecoder(false, 0));
    }

    /** Signature, IHDR (8-bit RGB) with a valid CRC, one IDAT with the given zlib bytes, IEND. */
    private static byte[] pngWithHeader(int width, int height, byte[] idat) {
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).put((byte) 2)
                .put((byte) 0).put((byte) 0).put((byte) 0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A});
        chunk(out, "IHDR", ihdr.array());
        chunk(out, "IDAT", idat);
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.US_ASCII);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(typeBytes);
        out.writeBytes(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static byte[] deflateGarbage() {
        byte[] garbage = new byte[200];
        for (int i = 0; i < garbage.length; i++) {
            garbage[i] = (byte) (i * 91 + 7);
        }
        garbage[0] = 0x78;
        garbage[1] = (byte) 0x9C;
        return garbage;
    }

    private static byte[] insertAfterSoi(byte[] jpeg, byte[] segment) {
        byte[] out = new byte[jpeg.length + segment.length];
        out[0] = jpeg[0];
        out[1] = jpeg[1];
        System.arraycopy(segment, 0, out, 2, segment.length);
        System.arraycopy(jpeg, 2, out, 2 + segment.length, jpeg.length - 2);
        return out;
    }
}
