package org.vitfit.serve;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.vitfit.classify.VitClassifier;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Clients that open a connection, send part of a request and stall must cost the server a connection, not a thread:
 * the health check and everybody else's predictions go on, and the stalled request is answered 408 (or closed) once
 * it has been idle for the configured time. Loopback sockets only; every test bounds its own time.
 */
class SlowClientTest {

    static VitClassifier classifier;
    static byte[] photo;
    static String expectedLabel;

    @BeforeAll
    static void load() throws IOException {
        classifier = VitClassifier.load(PetsClassifier.file());
        Path p = PetsClassifier.photo("pug");
        photo = Files.readAllBytes(p);
        expectedLabel = classifier.classify(p).best().label();
        assertEquals("pug", expectedLabel);
    }

    @AfterAll
    static void close() throws IOException {
        classifier.close();
    }

    private static ClassifierServer.Options options() {
        // Two inference threads: the JDK server this replaced froze with two stalled clients on two threads.
        return ClassifierServer.Options.defaults().withPort(0).withThreads(2);
    }

    /**
     * 64 stalled connections (32 inside their headers, 32 inside their body), then /health must answer within 1 s
     * and 50 predictions, 16 at a time, must all succeed with the right label. The README's figures run the same
     * load ({@link StalledClientsLoad}) with 200 requests against the command-line server.
     */
    @Test
    @Timeout(180)
    void sixtyFourStalledConnectionsDoNotStallHealthOrPredictions() throws Exception {
        try (ClassifierServer server = ClassifierServer.start(classifier, options())) {
            String label = "\"label\":\"" + expectedLabel + "\"";
            StalledClientsLoad.Result warm = StalledClientsLoad.run(server.uri(), photo, "image/jpeg",
                    b -> b.contains(label), 0, 4, 2, Duration.ofSeconds(60));
            assertEquals(4, warm.ok(), String.valueOf(warm.errors()));
            StalledClientsLoad.Result r = StalledClientsLoad.run(server.uri(), photo, "image/jpeg",
                    b -> b.contains(label), 64, 50, 16, Duration.ofSeconds(120));
            assertTrue(r.healthMillis() < 1000, "/health took " + r.healthMillis() + " ms with 64 stalled connections");
            assertEquals(List.of(), r.errors());
            assertEquals(50, r.ok());
        }
    }

    @Test
    @Timeout(60)
    void aStalledBodyIsAnswered408AfterTheIdleTimeout() throws Exception {
        try (ClassifierServer server = ClassifierServer.start(classifier, options().withIdleTimeoutMillis(1_500));
             RawHttp c = new RawHttp(server.port())) {
            long t0 = System.nanoTime();
            c.send(RawHttp.postHead("/predict", "image/jpeg", photo.length)).send(Arrays.copyOf(photo, 1000));
            RawHttp.Answer a = c.read(false, 20_000);
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(408, a.status(), new String(a.body()));
            assertNotNull(a.json());
            assertEquals("request_timeout", a.code());
            assertTrue(a.json().path("error").path("message").asText().contains("after 1000 bytes of " + photo.length),
                    a.json().toString());
            assertTrue(seconds >= 1.4 && seconds < 10, "answered after the 1.5 s idle timeout, took " + seconds + " s");
            assertTrue(c.closedWithin(5_000), "and the connection is closed");
        }
    }

    @Test
    @Timeout(60)
    void stalledHeadersAreClosedAfterTheIdleTimeout() throws Exception {
        try (ClassifierServer server = ClassifierServer.start(classifier, options().withIdleTimeoutMillis(1_500));
             RawHttp c = new RawHttp(server.port())) {
            long t0 = System.nanoTime();
            c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc");
            assertTrue(c.closedWithin(20_000), "the server closes a connection whose headers stall");
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertTrue(seconds >= 1.4 && seconds < 10, "closed after the 1.5 s idle timeout, took " + seconds + " s");
        }
    }

    /** Bodies held at once are bounded: beyond the limit a request is told to come back (503), not queued. */
    @Test
    @Timeout(60)
    void uploadsInFlightAreBoundedTogether() throws Exception {
        try (ClassifierServer server = ClassifierServer.start(classifier,
                options().withMaxUploadBytes(photo.length + 1000L).withMaxBufferedBytes(photo.length + 1000L));
             RawHttp first = new RawHttp(server.port());
             RawHttp second = new RawHttp(server.port())) {
            first.send(RawHttp.postHead("/predict", "image/jpeg", photo.length))
                    .send(Arrays.copyOf(photo, photo.length - 10));
            Thread.sleep(300); // the first upload's bytes are held by the server
            RawHttp.Answer busy = second.send(RawHttp.postHead("/predict", "image/jpeg", photo.length)).send(photo).read();
            assertEquals(503, busy.status(), new String(busy.body()));
            assertEquals("busy", busy.code());
            assertEquals("1", busy.header("retry-after"));
            first.send(Arrays.copyOfRange(photo, photo.length - 10, photo.length));
            RawHttp.Answer ok = first.read();
            assertEquals(expectedLabel, ok.json().path("top").get(0).path("label").asText());
            RawHttp.Answer again = second.send(RawHttp.postHead("/predict", "image/jpeg", photo.length)).send(photo).read();
            assertEquals(200, again.status(), "the budget is given back after each answer: " + new String(again.body()));
        }
    }
}
