package org.vitfit.serve;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.vitfit.classify.VitClassifier;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests no well-behaved client sends, written byte by byte on a loopback socket: every answer must be our JSON
 * error with its documented code (never the HTTP library's HTML, never a 500 for the client's mistake), and HEAD
 * must work on the pages.
 */
class MalformedRequestTest {

    private static final long MAX_UPLOAD = 256 << 10;

    static VitClassifier classifier;
    static ClassifierServer server;
    static byte[] photo;

    @BeforeAll
    static void start() throws IOException {
        classifier = VitClassifier.load(PetsClassifier.file());
        server = ClassifierServer.start(classifier, ClassifierServer.Options.defaults().withPort(0).withThreads(2)
                .withMaxUploadBytes(MAX_UPLOAD).withIdleTimeoutMillis(2_000));
        photo = Files.readAllBytes(PetsClassifier.photo("Bombay"));
        assertTrue(photo.length < MAX_UPLOAD);
    }

    @AfterAll
    static void stop() throws IOException {
        server.close();
        classifier.close();
    }

    private static RawHttp.Answer exchange(String request) throws IOException {
        try (RawHttp c = new RawHttp(server.port())) {
            return c.send(request).read();
        }
    }

    private static void assertJsonError(RawHttp.Answer a, int status, String code) {
        assertEquals(status, a.status(), new String(a.body()));
        assertNotNull(a.json(), "a JSON body, not " + a.header("content-type") + ": " + new String(a.body()));
        assertEquals(status, a.json().path("error").path("status").asInt());
        assertEquals(code, a.code(), a.json().toString());
        assertTrue(a.json().path("error").path("message").asText().length() > 20, "a message that explains");
    }

    @Test
    void contentLengthThatIsNotANumber() throws IOException {
        RawHttp.Answer a = exchange("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                + "Content-Length: abc\r\n\r\n");
        assertJsonError(a, 400, "bad_content_length");
        assertTrue(a.json().path("error").path("message").asText().contains("Content-Length"), a.json().toString());
    }

    @Test
    void backslashesAndOtherOddPaths() throws IOException {
        // Jetty refuses the backslash as a suspicious path character; either way the answer is ours.
        RawHttp.Answer backslash = exchange("GET /..\\..\\etc\\passwd HTTP/1.1\r\nHost: x\r\n\r\n");
        assertJsonError(backslash, 400, "bad_request");
        assertJsonError(exchange("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"), 400, "bad_request");
        assertJsonError(exchange("GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n"), 404, "not_found");
        assertJsonError(exchange("GARBAGE\r\n\r\n"), 400, "bad_request");
        assertJsonError(exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n"), 431,
                "headers_too_large");
    }

    @Test
    void aBodyShorterThanItsContentLengthIs400() throws IOException {
        try (RawHttp c = new RawHttp(server.port())) {
            RawHttp.Answer a = c.send(RawHttp.postHead("/predict", "image/jpeg", photo.length))
                    .send(Arrays.copyOf(photo, 1000)).endOfInput().read();
            assertJsonError(a, 400, "incomplete_body");
            assertTrue(a.json().path("error").path("message").asText().contains("1000 bytes of the " + photo.length),
                    a.json().toString());
        }
    }

    @Test
    void headAnswersLikeGetWithoutABody() throws IOException {
        for (String path : new String[] {"/", "/health", "/info", "/app.js"}) {
            try (RawHttp c = new RawHttp(server.port())) {
                RawHttp.Answer a = c.send("HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").read(true, 10_000);
                assertEquals(200, a.status(), path);
                assertTrue(Integer.parseInt(a.header("content-length")) > 10, path + ": the length GET would send");
                assertTrue(c.silentFor(300), path + ": nothing after the headers, connection kept");
            }
        }
        try (RawHttp c = new RawHttp(server.port())) {
            RawHttp.Answer a = c.send("HEAD /predict HTTP/1.1\r\nHost: x\r\n\r\n").read(true, 10_000);
            assertEquals(405, a.status());
            assertEquals("POST", a.header("allow"));
        }
    }

    @Test
    void oversizedBodiesAre413WhateverTheyAnnounce() throws IOException {
        // Announced: refused from the header; the body that follows is read and dropped so the client sees why.
        byte[] big = new byte[(int) MAX_UPLOAD + 1];
        try (RawHttp c = new RawHttp(server.port())) {
            assertJsonError(c.send(RawHttp.postHead("/predict", "image/jpeg", big.length)).send(big).read(), 413,
                    "too_large");
        }
        // Not announced (chunked): refused when the count passes the limit.
        try (RawHttp c = new RawHttp(server.port())) {
            c.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n");
            byte[] chunk = new byte[64 << 10];
            for (int i = 0; i < 5; i++) {
                c.send(Integer.toHexString(chunk.length) + "\r\n").send(chunk).send("\r\n");
            }
            c.send("0\r\n\r\n");
            assertJsonError(c.read(), 413, "too_large");
        }
        // With Expect: 100-continue the answer comes before any of the body is sent.
        try (RawHttp c = new RawHttp(server.port())) {
            RawHttp.Answer a = c.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + big.length + "\r\nExpect: 100-continue\r\n\r\n").read();
            assertJsonError(a, 413, "too_large");
        }
    }

    @Test
    void wrongMethodsOnPagesAndQueries() throws IOException {
        RawHttp.Answer put = exchange("PUT /info HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assertJsonError(put, 405, "method_not_allowed");
        assertEquals("GET, HEAD", put.header("allow"));
        assertJsonError(exchange("POST /predict?top_k=%zz HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                + "Content-Length: 0\r\n\r\n"), 400, "bad_query");
    }

    @Test
    void aGoodRequestOnTheSameSocketAfterwardsStillWorks() throws IOException {
        try (RawHttp c = new RawHttp(server.port())) {
            RawHttp.Answer missing = c.send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertEquals(404, missing.status());
            assertNull(missing.header("connection"), "a 404 keeps the connection");
            c.send(RawHttp.postHead("/predict", "image/jpeg", photo.length)).send(photo);
            RawHttp.Answer ok = c.read();
            assertEquals(200, ok.status(), new String(ok.body()));
            assertEquals("Bombay", ok.json().path("top").get(0).path("label").asText());
            assertEquals(classifier.labels().indexOf("Bombay"), ok.json().path("top").get(0).path("index").asInt());
        }
    }
}
