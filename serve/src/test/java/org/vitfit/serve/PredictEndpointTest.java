package org.vitfit.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code POST /predict} and the other routes over real HTTP: good requests, every kind of bad one, and a crowd. */
class PredictEndpointTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_UPLOAD = 1 << 20;
    private static final long MAX_PIXELS = 1_000_000;

    static VitClassifier classifier;
    static ClassifierServer server;
    static HttpClient http;
    /** Fixture images and one photo per breed: distinct answers, so a mixed-up response shows. */
    static List<Path> images;

    @BeforeAll
    static void start() throws IOException {
        classifier = VitClassifier.load(PetsClassifier.file());
        server = ClassifierServer.start(classifier, ClassifierServer.Options.defaults().withPort(0).withThreads(4)
                .withMaxUploadBytes(MAX_UPLOAD).withMaxPixels(MAX_PIXELS));
        http = HttpClient.newHttpClient();
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(PetsClassifier.shared().resolve("fixtures/hf-golden/images"))) {
            all.addAll(s.sorted().toList());
        }
        for (String breed : PetsClassifier.BREEDS) {
            all.add(PetsClassifier.photo(breed));
        }
        images = List.copyOf(all);
    }

    @AfterAll
    static void stop() throws IOException {
        server.close();
        classifier.close();
    }

    private record Answer(int status, JsonNode json, String contentType) {
    }

    private static Answer send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
        String type = r.headers().firstValue("Content-Type").orElse("");
        return new Answer(r.statusCode(), type.startsWith("application/json") ? JSON.readTree(r.body()) : null, type);
    }

    private static HttpRequest.Builder to(String path) {
        return HttpRequest.newBuilder(server.uri().resolve(path));
    }

    private static HttpRequest raw(byte[] body, String contentType) {
        HttpRequest.Builder b = to("predict").POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        return b.build();
    }

    static final String BOUNDARY = "----vitfit-test-7MA4YWxkTrZu0gW";

    /** A multipart/form-data body as a browser builds it: one file field, optionally another plain field first. */
    static byte[] multipartBody(String field, String filename, byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String head = "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                + "--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"" + field + "\"; filename=\"" + filename
                + "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
        out.writeBytes(head.getBytes(StandardCharsets.UTF_8));
        out.writeBytes(data);
        out.writeBytes(("\r\n--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }

    static HttpRequest multipart(String path, String field, String filename, byte[] data) {
        return to(path).header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(multipartBody(field, filename, data))).build();
    }

    private static void assertError(Answer a, int status, String code) {
        assertEquals(status, a.status(), String.valueOf(a.json()));
        assertTrue(a.json() != null && a.json().has("error"), "a JSON error body: " + a.json());
        assertEquals(status, a.json().path("error").path("status").asInt());
        assertEquals(code, a.json().path("error").path("code").asText(), a.json().toString());
        assertTrue(a.json().path("error").path("message").asText().length() > 20, "a message that explains");
    }

    @Test
    void rawAndMultipartUploadsGetTheClassifiersAnswer() throws Exception {
        Path photo = PetsClassifier.photo("beagle");
        byte[] bytes = Files.readAllBytes(photo);
        Classification expected = classifier.classify(photo);

        Answer raw = send(raw(bytes, "image/jpeg"));
        assertEquals(200, raw.status(), String.valueOf(raw.json()));
        assertEquals("multiclass", raw.json().path("task").asText());
        assertEquals(4, raw.json().path("top").size(), "the default top 5, bounded by the 4 labels");
        Answer form = send(multipart("predict?top_k=2", "image", "beagle photo.jpg", bytes));
        assertEquals(200, form.status(), String.valueOf(form.json()));
        assertEquals("beagle photo.jpg", form.json().path("file").asText());
        assertEquals(2, form.json().path("top").size());
        for (Answer a : List.of(raw, form)) {
            assertEquals(expected.best().label(), a.json().path("top").get(0).path("label").asText());
            assertEquals(expected.best().score(), a.json().path("top").get(0).path("score").floatValue(), 1e-6);
            assertEquals(1, a.json().path("labels").size());
            assertEquals(expected.best().label(), a.json().path("labels").get(0).asText());
            BufferedImage decoded = ImageIO.read(photo.toFile());
            assertEquals(decoded.getWidth(), a.json().path("image").path("width").asInt());
        }
        assertEquals("beagle", expected.best().label(), "the head trained on beagles names a beagle photo");

        Answer octet = send(raw(bytes, "application/octet-stream"));
        assertEquals(200, octet.status());
    }

    @Test
    void infoHealthAndThePage() throws Exception {
        Answer info = send(to("info").GET().build());
        assertEquals(200, info.status());
        assertEquals(PetsClassifier.BREEDS.stream().sorted().toList(),
                JSON.convertValue(info.json().path("labels"), List.class).stream().sorted().toList());
        assertEquals(MAX_UPLOAD, info.json().path("maxUploadBytes").asLong());
        assertEquals("vit_tiny_patch16_224", info.json().path("backbone").asText());
        assertEquals("ok", send(to("health").GET().build()).json().path("status").asText());

        HttpResponse<String> page = http.send(to("").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, page.statusCode());
        assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        assertTrue(page.body().contains("id=\"file-input\"") && page.body().contains("app.js"), page.body());
        for (String asset : List.of("app.js", "style.css")) {
            assertEquals(200, http.send(to(asset).GET().build(), HttpResponse.BodyHandlers.discarding()).statusCode());
        }
    }

    @Test
    void emptyBodiesAreRefused() throws Exception {
        assertError(send(raw(new byte[0], "image/jpeg")), 400, "empty_body");
        assertError(send(multipart("predict", "image", "empty.jpg", new byte[0])), 400, "empty_body");
    }

    @Test
    void nonImagesAreRefusedWithTheDecodersReason() throws Exception {
        byte[] text = "name,breed\nrex,beagle\n".getBytes(StandardCharsets.UTF_8);
        Answer a = send(raw(text, "image/png"));
        assertError(a, 422, "not_an_image");
        assertTrue(a.json().path("error").path("message").asText().contains("not an image"), a.json().toString());
        Answer part = send(multipart("predict", "image", "notes.csv", text));
        assertError(part, 422, "not_an_image");
        assertTrue(part.json().path("error").path("message").asText().contains("notes.csv"), "names the uploaded file");
        byte[] photo = Files.readAllBytes(PetsClassifier.photo("pug"));
        byte[] truncated = Arrays.copyOf(photo, photo.length / 3);
        assertEquals(422, send(raw(truncated, "image/jpeg")).status());
    }

    @Test
    void oversizedUploadsAndImagesAreRefused() throws Exception {
        byte[] big = new byte[(int) MAX_UPLOAD + 1];
        assertError(send(raw(big, "image/jpeg")), 413, "too_large");
        assertError(send(multipart("predict", "image", "big.jpg", big)), 413, "too_large");
        // Within the byte limit but over the pixel limit: a 1200x1000 flat PNG is a few kB.
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(1200, 1000, BufferedImage.TYPE_3BYTE_BGR), "png", png);
        assertTrue(png.size() < MAX_UPLOAD);
        assertError(send(raw(png.toByteArray(), "image/png")), 413, "too_many_pixels");
    }

    @Test
    void wrongContentTypesAreRefused() throws Exception {
        byte[] photo = Files.readAllBytes(PetsClassifier.photo("pug"));
        assertError(send(raw(photo, "text/plain")), 415, "unsupported_media_type");
        assertError(send(raw(photo, "application/json")), 415, "unsupported_media_type");
        assertError(send(raw(photo, null)), 415, "unsupported_media_type");
        assertError(send(raw(photo, "multipart/form-data")), 400, "malformed_multipart");
        assertError(send(to("predict").header("Content-Type", "multipart/form-data; boundary=elsewhere")
                .POST(HttpRequest.BodyPublishers.ofByteArray(photo)).build()), 400, "malformed_multipart");
        // A file field with another name is still the image when it is the only file.
        assertEquals(200, send(multipart("predict", "picture", "x.jpg", photo)).status());
        byte[] fieldsOnly = ("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--"
                + BOUNDARY + "--\r\n").getBytes(StandardCharsets.UTF_8);
        assertError(send(to("predict").header("Content-Type", "multipart/form-data; boundary=\"" + BOUNDARY + "\"")
                .POST(HttpRequest.BodyPublishers.ofByteArray(fieldsOnly)).build()), 400, "no_image_part");
    }

    /** What browsers send: a quoted boundary, a plain field first, a file name with ';' and spaces, binary bytes. */
    @Test
    void multipartAsBrowsersSendIt() throws Exception {
        byte[] photo = Files.readAllBytes(PetsClassifier.photo("Abyssinian"));
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--"
                + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a;b c.jpg\"\r\n"
                + "Content-Type: image/jpeg\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(photo);
        body.writeBytes(("\r\n--" + BOUNDARY + "--\r\nepilogue").getBytes(StandardCharsets.UTF_8));
        Answer a = send(to("predict").header("Content-Type", "multipart/form-data; boundary=\"" + BOUNDARY + "\"")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build());
        assertEquals(200, a.status(), String.valueOf(a.json()));
        assertEquals("a;b c.jpg", a.json().path("file").asText());
        assertEquals(classifier.classify(PetsClassifier.photo("Abyssinian")).best().label(),
                a.json().path("top").get(0).path("label").asText());
        // Truncated: the closing boundary never comes.
        byte[] truncated = Arrays.copyOf(body.toByteArray(), body.size() / 2);
        assertError(send(to("predict").header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(truncated)).build()), 400, "malformed_multipart");
    }

    @Test
    void wrongRoutesMethodsAndParametersAreRefused() throws Exception {
        Answer get = send(to("predict").GET().build());
        assertError(get, 405, "method_not_allowed");
        assertError(send(to("nothing-here").GET().build()), 404, "not_found");
        byte[] photo = Files.readAllBytes(PetsClassifier.photo("pug"));
        for (String k : List.of("0", "-3", "many", "")) {
            assertError(send(to("predict?top_k=" + k).header("Content-Type", "image/jpeg")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(photo)).build()), 400, "bad_top_k");
        }
    }

    /**
     * 48 requests in flight at once over 8 different images, 4 inference threads: every answer must be exactly the one
     * its own image gets alone (all labels' scores and the echoed file name), so no request saw another's data.
     */
    @Test
    void concurrentRequestsGetTheirOwnAnswers() throws Exception {
        List<float[]> expected = new ArrayList<>();
        List<byte[]> bodies = new ArrayList<>();
        for (Path p : images) {
            expected.add(classifier.classify(p).probabilities());
            bodies.add(Files.readAllBytes(p));
        }
        List<String> labels = classifier.labels();
        List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
        List<Integer> which = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            int image = (i * 5) % images.size();
            which.add(image);
            inFlight.add(http.sendAsync(multipart("predict?top_k=" + labels.size(), "image", "img-" + image + "-req-" + i,
                    bodies.get(image)), HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < inFlight.size(); i++) {
            HttpResponse<String> r = inFlight.get(i).get();
            assertEquals(200, r.statusCode(), r.body());
            JsonNode json = JSON.readTree(r.body());
            int image = which.get(i);
            assertEquals("img-" + image + "-req-" + i, json.path("file").asText());
            float[] want = expected.get(image);
            for (JsonNode entry : json.path("top")) {
                int j = labels.indexOf(entry.path("label").asText());
                assertEquals(want[j], entry.path("score").floatValue(), 1e-6, "request " + i + ", " + entry);
            }
        }
    }
}
