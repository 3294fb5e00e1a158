package org.vitfit.preprocess;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreprocessorTest {

    private static final List<Double> HALF = List.of(0.5, 0.5, 0.5);

    private static PreprocessRecipe timmLike() {
        return new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255, HALF, HALF, false, "pil");
    }

    /** A recipe that leaves 8-bit values as they are, so outputs can be read as pixels. */
    private static PreprocessRecipe identityCrop(int size, String rounding) {
        return new PreprocessRecipe("none", 0, 0, 0, "bilinear", size, size, rounding, 1.0,
                List.of(0.0, 0.0, 0.0), List.of(1.0, 1.0, 1.0), false, "pil");
    }

    private static BufferedImage randomBgr(int w, int h, long seed) {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        new Random(seed).nextBytes(((DataBufferByte) image.getRaster().getDataBuffer()).getData());
        return image;
    }

    @Test
    void cropOffsetsFollowEachLibrary() {
        // size, crop, round (torchvision CenterCrop), floor (numpy center_crop), trunc (HF torchvision backend)
        int[][] cases = {
                {248, 224, 12, 12, 12},
                {331, 224, 54, 53, 53},   // 53.5 rounds half to even: 54
                {333, 224, 54, 54, 54},   // 54.5 rounds half to even: 54
                {335, 224, 56, 55, 55},   // 55.5 -> 56
                {224, 224, 0, 0, 0},
                {200, 224, -12, -12, -12},
                {201, 224, -11, -12, -11}, // padding 23: torchvision puts 11 before, numpy 12
        };
        for (int[] c : cases) {
            assertEquals(c[2], Preprocessor.cropOffset(c[0], c[1], "round"), "round " + c[0]);
            assertEquals(c[3], Preprocessor.cropOffset(c[0], c[1], "floor"), "floor " + c[0]);
            assertEquals(c[4], Preprocessor.cropOffset(c[0], c[1], "trunc"), "trunc " + c[0]);
        }
    }

    @Test
    void cropLargerThanImagePadsWithZeroPixels() {
        BufferedImage image = new BufferedImage(2, 3, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 2; x++) {
                int r = 10 * (y + 1) + x + 1;
                image.setRGB(x, y, (r << 16) | ((r + 100) << 8) | (r + 200));
            }
        }
        float[] round = new Preprocessor(identityCrop(4, "round")).apply(image);
        assertArrayEquals(new float[] {
                0, 11, 12, 0,
                0, 21, 22, 0,
                0, 31, 32, 0,
                0, 0, 0, 0}, java.util.Arrays.copyOfRange(round, 0, 16));
        float[] floor = new Preprocessor(identityCrop(4, "floor")).apply(image);
        assertArrayEquals(new float[] {
                0, 0, 0, 0,
                0, 111, 112, 0,
                0, 121, 122, 0,
                0, 131, 132, 0}, java.util.Arrays.copyOfRange(floor, 16, 32), "green plane");
        assertEquals(232, floor[32 + 3 * 4 + 2], "blue plane, bottom row");
        assertEquals(0, floor[32 + 3 * 4 + 3]);

        // Padding is the 8-bit value 0 normalised, not 0.0: -mean/std.
        PreprocessRecipe normalised = new PreprocessRecipe("none", 0, 0, 0, "bilinear", 4, 4, "round", 1.0 / 255,
                HALF, HALF, false, "pil");
        float[] out = new Preprocessor(normalised).apply(image);
        assertEquals(-1f, out[0]);
        assertEquals((11 / 255f - 0.5f) / 0.5f, out[1]);
    }

    @Test
    void normalisationArithmeticPerBackend() {
        BufferedImage image = new BufferedImage(1, 1, BufferedImage.TYPE_3BYTE_BGR);
        image.setRGB(0, 0, 0xFF8000);
        List<Double> mean = List.of(0.485, 0.456, 0.406);
        List<Double> std = List.of(0.229, 0.224, 0.225);
        float[] pil = new Preprocessor(new PreprocessRecipe("fixed", 0, 1, 1, "bicubic", 0, 0, "round", 1.0 / 255,
                mean, std, false, "pil")).apply(image);
        assertEquals((1f - 0.485f) / 0.229f, pil[0]);
        assertEquals(((float) (128 / 255.0) - 0.456f) / 0.224f, pil[1]);
        assertEquals((0f - 0.406f) / 0.225f, pil[2]);
        float[] tv = new Preprocessor(new PreprocessRecipe("fixed", 0, 1, 1, "bicubic", 0, 0, "trunc", 1.0 / 255,
                mean, std, false, "torchvision")).apply(image);
        assertEquals((255f - 0.485f * 255f) / (0.229f * 255f), tv[0]);
        assertEquals((128f - 0.456f * 255f) / (0.224f * 255f), tv[1]);
        // The two orders differ in the last bits, which is why the recipe records the backend.
        assertTrue(Math.abs(pil[1] - tv[1]) < 1e-6f);
    }

    @Test
    void everyImageTypeGivesTheSameTensorAsItsBgrCopy() {
        Preprocessor preprocessor = new Preprocessor(timmLike());
        BufferedImage bgr = randomBgr(300, 260, 42);
        float[] expected = preprocessor.apply(bgr);
        for (int type : new int[] {BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_INT_BGR,
                BufferedImage.TYPE_4BYTE_ABGR}) {
            BufferedImage other = new BufferedImage(300, 260, type);
            for (int y = 0; y < 260; y++) {
                for (int x = 0; x < 300; x++) {
                    // Alpha varies and must be ignored, as PIL's convert('RGB') drops it.
                    other.setRGB(x, y, ((x * 7 + y) & 0xFF) << 24 | bgr.getRGB(x, y) & 0xFFFFFF);
                }
            }
            assertArrayEquals(expected, preprocessor.apply(other), "type " + type);
        }
        BufferedImage big = randomBgr(400, 300, 43);
        BufferedImage sub = big.getSubimage(50, 20, 300, 260);
        BufferedImage copy = new BufferedImage(300, 260, BufferedImage.TYPE_3BYTE_BGR);
        copy.getGraphics().drawImage(sub, 0, 0, null);
        assertArrayEquals(preprocessor.apply(copy), preprocessor.apply(sub), "sub-image");
    }

    @Test
    void grayImagesAreReplicatedNotColourConverted() {
        BufferedImage gray = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(0, 0, 0, 64);
        gray.getRaster().setSample(1, 0, 0, 200);
        float[] out = new Preprocessor(new PreprocessRecipe("none", 0, 0, 0, "bilinear", 1, 2, "round", 1.0,
                List.of(0.0, 0.0, 0.0), List.of(1.0, 1.0, 1.0), false, "pil")).apply(gray);
        assertArrayEquals(new float[] {64, 200, 64, 200, 64, 200}, out);
    }

    @Test
    void floatBufferWritesAtOffsetWithoutMovingTheBuffer() {
        Preprocessor preprocessor = new Preprocessor(timmLike());
        int n = preprocessor.floatsPerImage();
        assertEquals(3 * 224 * 224, n);
        BufferedImage a = randomBgr(500, 375, 1);
        BufferedImage b = randomBgr(375, 500, 2);
        FloatBuffer batch = ByteBuffer.allocateDirect((2 * n + 5) * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        batch.position(3);
        preprocessor.apply(a, batch, 5);
        preprocessor.apply(b, batch, 5 + n);
        assertEquals(3, batch.position());
        assertEquals(2 * n + 5, batch.limit());
        float[] got = new float[n];
        batch.get(5, got);
        assertArrayEquals(preprocessor.apply(a), got);
        batch.get(5 + n, got);
        assertArrayEquals(preprocessor.apply(b), got);
        assertThrows(IndexOutOfBoundsException.class, () -> preprocessor.apply(a, batch, n + 6));
        assertThrows(IndexOutOfBoundsException.class, () -> preprocessor.apply(a, batch, -1));
    }

    @Test
    void rejectsIncompleteRecipes() {
        assertMessage(new PreprocessRecipe("stretch", 0, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255, HALF, HALF, false),
                "resizeMode");
        assertMessage(new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 0, 0, "round", 1.0 / 255, HALF, HALF, false),
                "cropHeight");
        assertMessage(new PreprocessRecipe("fixed", 0, 224, 0, "bicubic", 0, 0, "round", 1.0 / 255, HALF, HALF, false),
                "resizeWidth");
        assertMessage(new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255, HALF,
                List.of(0.5, 0.0, 0.5), false), "std[1]");
        assertMessage(new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "round", 1.0 / 255,
                List.of(0.5, 0.5), HALF, false), "mean");
        assertMessage(new PreprocessRecipe("shortest_edge", 248, 0, 0, "bicubic", 224, 224, "ceil", 1.0 / 255, HALF, HALF, false),
                "cropRounding");
        assertMessage(new PreprocessRecipe("shortest_edge", 248, 0, 0, "area", 224, 224, "round", 1.0 / 255, HALF, HALF, false),
                "area");
        assertMessage(new PreprocessRecipe("fixed", 0, 224, 224, "nearest", 0, 0, "trunc", 1.0 / 255, HALF, HALF, false,
                "torchvision"), "nearest");
        assertMessage(new PreprocessRecipe("fixed", 0, 224, 224, "bilinear", 0, 0, "trunc", 1.0 / 255, HALF, HALF, false,
                "opencv"), "backend");
    }

    /**
     * Worker threads share one Preprocessor and one batch buffer; results must equal the single-threaded
     * ones. Also prints the cost per image for the extractor's sizing (not asserted: machines differ).
     */
    @Test
    void concurrentUseMatchesSequentialAndReportsThroughput() throws Exception {
        Path jpeg = Fixtures.shared().resolve("models/vit-tiny-patch16-224-augreg/samples/n02231487_1002.JPEG");
        byte[] bytes = Files.readAllBytes(jpeg);
        ImageDecoder decoder = new ImageDecoder(false);
        Preprocessor preprocessor = new Preprocessor(timmLike());
        BufferedImage image = decoder.decode(bytes, jpeg.toString());
        assertEquals(500, image.getWidth());
        float[] expected = preprocessor.apply(image);

        int warmup = 30;
        int rounds = 100;
        for (int i = 0; i < warmup; i++) {
            preprocessor.apply(decoder.decode(bytes, "warmup"));
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
            decoder.decode(bytes, "timing");
        }
        long t1 = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
            preprocessor.apply(image);
        }
        long t2 = System.nanoTime();
        System.out.printf(Locale.ROOT, "500x375 JPEG, one thread: decode %.2f ms, preprocess (resize 330x248 bicubic,"
                        + " crop 224, normalise) %.2f ms per image%n",
                (t1 - t0) / 1e6 / rounds, (t2 - t1) / 1e6 / rounds);

        int threads = 2;
        int perThread = 20;
        int n = preprocessor.floatsPerImage();
        FloatBuffer batch = ByteBuffer.allocateDirect(threads * perThread * n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < perThread; i++) {
                        preprocessor.apply(decoder.decode(bytes, "thread"), batch, (thread * perThread + i) * n);
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        float[] slice = new float[n];
        for (int i = 0; i < threads * perThread; i++) {
            batch.get(i * n, slice);
            assertArrayEquals(expected, slice, "image " + i);
        }
    }

    private static void assertMessage(PreprocessRecipe recipe, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Preprocessor(recipe));
        assertTrue(e.getMessage().contains(fragment), "message should mention '" + fragment + "': " + e.getMessage());
    }
}
