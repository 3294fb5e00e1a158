package org.vitfit.extract;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vitfit.cache.EmbeddingCache;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken, hostile and unsupported files are recorded with their reason; the run goes on. */
class BadInputTest {

    @TempDir
    Path tmp;

    static Path model;
    static byte[] jpeg;
    static byte[] png;

    @BeforeAll
    static void load() throws IOException {
        model = TestData.model();
        jpeg = Files.readAllBytes(firstFile(TestData.shared().resolve("datasets/oxford-pets-370/pug")));
        png = Files.readAllBytes(TestData.shared().resolve("fixtures/hf-golden/images/img1.png"));
    }

    private static Path firstFile(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.sorted().findFirst().orElseThrow();
        }
    }

    @Test
    void eachBadFileIsRecordedWithItsReasonAndTheRunContinues() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in"));
        Files.write(in.resolve("good.jpg"), jpeg);
        Files.write(in.resolve("empty.jpg"), new byte[0]);
        Files.write(in.resolve("truncated.jpg"), Arrays.copyOf(jpeg, jpeg.length * 2 / 5));
        Files.write(in.resolve("truncated.png"), Arrays.copyOf(png, png.length / 2));
        Files.writeString(in.resolve("text.png"), "this is a text file, not a picture\n");
        Files.write(in.resolve("photo.heic"), heicHeader());
        Files.write(in.resolve("bomb.png"), pngClaiming(100_000, 100_000));

        Path cache = tmp.resolve("cache");
        long before = System.nanoTime();
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, in, cache).build(), ExtractListener.NONE);
        double seconds = (System.nanoTime() - before) / 1e9;
        assertEquals(7, s.processed());
        assertEquals(1, s.embedded());
        assertEquals(6, s.failed());
        assertTrue(s.describe().get(0).contains("failed 6"), s.describe().toString());
        assertTrue(seconds < 60, "a 100000x100000 PNG header must be refused, not decoded: " + seconds + " s");

        Map<String, String> reasons = errors(cache);
        assertEquals(Map.of(
                "empty.jpg", "empty_file",
                "truncated.jpg", "truncated",
                "truncated.png", "truncated",
                "text.png", "not_an_image",
                "photo.heic", "unsupported_format",
                "bomb.png", "too_many_pixels"), reasons);
        String log = Files.readString(cache.resolve(EmbeddingCache.ERRORS_FILE));
        assertTrue(log.contains("100000x100000"), log);
        try (EmbeddingCache c = EmbeddingCache.open(cache)) {
            assertEquals(List.of("good.jpg"), c.rows().stream().map(r -> r.path()).toList());
        }
        assertTrue(Files.notExists(cache.resolve(EmbeddingCache.ERRORS_FILE + ".partial")));
    }

    @Test
    void pixelLimitIsConfigurable() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in"));
        Files.write(in.resolve("good.jpg"), jpeg);
        Path cache = tmp.resolve("cache");
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, in, cache).maxPixels(10_000).build(),
                ExtractListener.NONE);
        assertEquals(1, s.failed());
        assertEquals(Map.of("good.jpg", "too_many_pixels"), errors(cache));
    }

    @Test
    void imageWhoseNewBytesNoLongerDecodeLosesItsRowAndMissingManifestFilesAreReported() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in"));
        Files.write(in.resolve("a.jpg"), jpeg);
        Path manifest = tmp.resolve("list.csv");
        Files.writeString(manifest, "path,labels\nin/a.jpg,pug\nin/gone.jpg,pug\n");
        Path cache = tmp.resolve("cache");
        ExtractSummary first = Extractor.run(ExtractOptions.builder(model, manifest, cache).build(), ExtractListener.NONE);
        assertEquals(1, first.embedded());
        assertEquals(Map.of("in/gone.jpg", "missing"), errors(cache));
        String log = Files.readString(cache.resolve(EmbeddingCache.ERRORS_FILE));
        assertTrue(log.contains("list.csv line 3"), log);

        Files.write(in.resolve("a.jpg"), Arrays.copyOf(jpeg, 100));
        ExtractSummary second = Extractor.run(ExtractOptions.builder(model, manifest, cache).build(),
                ExtractListener.NONE);
        assertEquals(2, second.failed());
        assertEquals(1, second.deleted(), "the stale vector of the now-broken a.jpg");
        assertEquals(0, second.cacheRows());
    }

    @Test
    void brokenLinksAndLinksToSecretsAreRecordedWithoutQuotingThem() throws IOException {
        Path in = Files.createDirectories(tmp.resolve("in"));
        Files.write(in.resolve("good.jpg"), jpeg);
        Files.createSymbolicLink(in.resolve("gone.jpg"), tmp.resolve("deleted-long-ago.jpg"));
        // Named like images, pointing at what a careless (or hostile) link could reach: a key file, a binary.
        Path key = Files.writeString(tmp.resolve("id_secret"), "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\n");
        Files.createSymbolicLink(in.resolve("key.jpg"), key);
        Path binary = Files.write(tmp.resolve("blob"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 'h', 'u', 'n', 't',
                'e', 'r', '2', 0});
        Files.createSymbolicLink(in.resolve("blob.png"), binary);
        Path cache = tmp.resolve("cache");
        ExtractSummary s = Extractor.run(ExtractOptions.builder(model, in, cache).build(), ExtractListener.NONE);
        assertEquals(1, s.embedded());
        assertEquals(3, s.failed());
        assertEquals(Map.of("gone.jpg", "broken_link", "key.jpg", "not_an_image", "blob.png", "not_an_image"),
                errors(cache));
        String log = Files.readString(cache.resolve(EmbeddingCache.ERRORS_FILE));
        assertTrue(log.contains("gone.jpg is a symbolic link to " + tmp.resolve("deleted-long-ago.jpg")
                + ", which does not exist; fix or remove the link"), log);
        assertTrue(log.contains("it holds text") && log.contains("it starts with the bytes 7f 45 4c 46"), log);
        for (String secret : List.of("BEGIN", "PRIVATE", "MIIE", "hunter2", "hunter")) {
            assertTrue(!log.contains(secret), "errors.jsonl quotes the file: " + log);
        }
    }

    /**
     * A valid image that does not fit the heap is out_of_memory with advice, not "corrupt": in a child JVM with a
     * 128 MB heap, a 12000x12000 PNG is refused from its header (it needs at least 411 MiB), and a 16-bit 5500x5500
     * one passes that check (3 bytes a pixel: 87 MiB) but makes the decoder run out (6 bytes a pixel); the small
     * JPEG beside them is embedded all the same.
     */
    @Test
    void imagesTooLargeForTheHeapAreOutOfMemoryNotCorrupt() throws Exception {
        Path in = Files.createDirectories(tmp.resolve("in"));
        Files.write(in.resolve("good.jpg"), jpeg);
        Files.write(in.resolve("huge.png"), pngClaiming(12_000, 12_000));
        Files.write(in.resolve("large.png"), pngClaiming(5_500, 5_500, 16));
        Path cache = tmp.resolve("cache");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), model.toString(), in.toString(), cache.toString(), "0");
        pb.redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("done 1 1"), out);
        assertEquals(Map.of("huge.png", "out_of_memory", "large.png", "out_of_memory"), errors(cache));
        String log = Files.readString(cache.resolve(EmbeddingCache.ERRORS_FILE));
        assertTrue(log.contains("12000x12000 = 144000000 pixels need at least 411 MiB to decode (Java may use at "
                + "most 128 MiB); the image itself is probably fine: give Java more memory"), log);
        assertTrue(log.contains("large.png: OUT_OF_MEMORY: decoding it ran out of memory (Java may use at most 128 "
                + "MiB)"), log);
        assertTrue(log.contains("VITFIT_JAVA_OPTS=-Xmx16g"), log);
    }

    private static Map<String, String> errors(Path cache) throws IOException {
        ObjectMapper json = new ObjectMapper();
        Map<String, String> out = new TreeMap<>();
        for (String line : Files.readAllLines(cache.resolve(EmbeddingCache.ERRORS_FILE))) {
            JsonNode n = json.readTree(line);
            out.put(n.get("path").asText(), n.get("reason").asText());
            assertTrue(n.get("message").asText().length() > 10, line);
        }
        return out;
    }

    /** The start of an ISO-BMFF HEIC file: a 'ftyp' box with brand 'heic'. */
    private static byte[] heicHeader() {
        ByteBuffer b = ByteBuffer.allocate(32);
        b.putInt(24).put("ftypheic".getBytes(StandardCharsets.US_ASCII)).putInt(0)
                .put("mif1heic".getBytes(StandardCharsets.US_ASCII));
        return b.array();
    }

    /** A well-formed PNG whose header claims {@code width x height} RGB pixels, with one tiny IDAT. */
    static byte[] pngClaiming(int width, int height) throws IOException {
        return pngClaiming(width, height, 8);
    }

    static byte[] pngClaiming(int width, int height, int bitDepth) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(out, "IHDR", ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) bitDepth).put((byte) 2)
                .put((byte) 0).put((byte) 0).put((byte) 0).array());
        Deflater d = new Deflater();
        d.setInput(new byte[1024]);
        d.finish();
        byte[] z = new byte[2048];
        int n = d.deflate(z);
        chunk(out, "IDAT", Arrays.copyOf(z, n));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.write(ByteBuffer.allocate(4).putInt(data.length).array());
        out.write(t);
        out.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }
}
