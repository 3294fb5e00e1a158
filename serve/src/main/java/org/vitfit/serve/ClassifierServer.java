package org.vitfit.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.vitfit.classify.Classification;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.VitClassifier;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serves one {@link VitClassifier} over HTTP: {@code POST /predict} (an image as {@code multipart/form-data} or as
 * the raw body; JSON answer), {@code GET /} (a page to drop or pick an image and see the top labels), {@code GET /info}
 * and {@code GET /health}. Every error is a JSON object {@code {"error": {"status", "code", "message"}}}.
 *
 * <p>Each request is decoded and classified on its own worker thread with its own buffers; the classifier is shared
 * (it is thread-safe), so concurrent requests never see each other's data. Bodies are bounded by
 * {@link Options#maxUploadBytes} before they are read and images by {@link Options#maxPixels} before they are
 * decoded.
 */
public final class ClassifierServer implements AutoCloseable {

    /**
     * @param host           address to bind; {@code 127.0.0.1} keeps the server local, {@code 0.0.0.0} exposes it
     * @param port           TCP port, 0 for any free one
     * @param maxUploadBytes largest accepted request body
     * @param maxPixels      largest accepted image (width x height), checked from the header before decoding
     * @param threads        worker threads, i.e. requests handled at once
     * @param defaultTopK    labels per answer when the request has no {@code top_k}
     * @param accessLog      where to print one line per request, or null for none
     */
    public record Options(String host, int port, long maxUploadBytes, long maxPixels, int threads, int defaultTopK,
                          PrintStream accessLog) {

        public static final long DEFAULT_MAX_UPLOAD_BYTES = 20L << 20;
        /** 50 megapixels: any camera photo, but not a decompression bomb. */
        public static final long DEFAULT_MAX_PIXELS = 50_000_000L;

        public Options {
            if (port < 0 || port > 65535 || maxUploadBytes < 1 || maxPixels < 1 || threads < 1 || defaultTopK < 1) {
                throw new IllegalArgumentException("need 0 <= port <= 65535 and positive upload limit, pixel limit, "
                        + "threads and top-k; got port " + port + ", upload " + maxUploadBytes + ", pixels " + maxPixels
                        + ", threads " + threads + ", top-k " + defaultTopK);
            }
        }

        public static Options defaults() {
            return new Options("127.0.0.1", 8080, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_PIXELS,
                    Math.max(2, Runtime.getRuntime().availableProcessors()), 5, null);
        }

        public Options withHost(String h) {
            return new Options(h, port, maxUploadBytes, maxPixels, threads, defaultTopK, accessLog);
        }

        public Options withPort(int p) {
            return new Options(host, p, maxUploadBytes, maxPixels, threads, defaultTopK, accessLog);
        }

        public Options withMaxUploadBytes(long b) {
            return new Options(host, port, b, maxPixels, threads, defaultTopK, accessLog);
        }

        public Options withMaxPixels(long p) {
            return new Options(host, port, maxUploadBytes, p, threads, defaultTopK, accessLog);
        }

        public Options withThreads(int t) {
            return new Options(host, port, maxUploadBytes, maxPixels, t, defaultTopK, accessLog);
        }

        public Options withAccessLog(PrintStream log) {
            return new Options(host, port, maxUploadBytes, maxPixels, threads, defaultTopK, log);
        }
    }

    /** After refusing an oversized body, read and discard at most this much so the client can see the answer. */
    private static final long DRAIN_LIMIT = 64L << 20;

    static {
        // The JDK server waits forever for a request by default, so a few slow senders could hold every worker;
        // bound the time to receive one request unless the operator chose a value. Must run before the first
        // HttpServer is created, when the JDK reads its configuration.
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null) {
            System.setProperty("sun.net.httpserver.maxReqTime", "60");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, String> STATIC = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css");

    private final VitClassifier classifier;
    private final Options options;
    private final ImageDecoder decoder;
    private final HttpServer server;
    private final ExecutorService workers;

    private ClassifierServer(VitClassifier classifier, Options options) throws IOException {
        this.classifier = classifier;
        this.options = options;
        this.decoder = new ImageDecoder(classifier.descriptor().preprocessing().applyExifOrientation(), options.maxPixels());
        this.server = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 64);
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(options.threads(), r -> {
            Thread t = new Thread(r, "vitfit-serve-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(workers);
        server.createContext("/", this::handle);
    }

    /** Binds and starts serving; the caller keeps ownership of {@code classifier} and closes it after this server. */
    public static ClassifierServer start(VitClassifier classifier, Options options) throws IOException {
        ClassifierServer s = new ClassifierServer(classifier, options);
        s.server.start();
        return s;
    }

    /** The port actually bound (useful with port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    /** The page's address, e.g. {@code http://127.0.0.1:8080/}. */
    public URI uri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + host + ":" + port() + "/");
    }

    /** Stops accepting requests, lets running ones finish (up to a few seconds) and stops the workers. */
    @Override
    public void close() {
        server.stop(1);
        workers.shutdown();
        try {
            if (!workers.awaitTermination(5, TimeUnit.SECONDS)) {
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            workers.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /** An answer other than 200, carried to the one place that writes error bodies. */
    private static final class HttpError extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;
        final String code;

        HttpError(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    private void handle(HttpExchange ex) {
        long start = System.nanoTime();
        int status = 500;
        try {
            String path = ex.getRequestURI().getPath();
            String method = ex.getRequestMethod();
            try {
                if (path.equals("/predict")) {
                    requireMethod(ex, "POST");
                    status = send(ex, 200, "application/json", JSON.writeValueAsBytes(predict(ex)));
                } else if (path.equals("/info")) {
                    requireMethod(ex, "GET");
                    status = send(ex, 200, "application/json", JSON.writeValueAsBytes(info()));
                } else if (path.equals("/health")) {
                    requireMethod(ex, "GET");
                    status = send(ex, 200, "application/json", "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
                } else if (STATIC.containsKey(path)) {
                    requireMethod(ex, "GET");
                    status = sendResource(ex, STATIC.get(path));
                } else {
                    throw new HttpError(404, "not_found", "no " + path + " here; the API is POST /predict, GET /info, "
                            + "GET /health and the page at /");
                }
            } catch (HttpError e) {
                status = sendError(ex, e.status, e.code, e.getMessage());
            } catch (RuntimeException | IOException e) {
                System.err.println("vitfit serve: " + method + " " + path + " failed: " + e);
                // The detail (paths, library messages) goes to the server's log, not to a possibly remote client.
                status = sendError(ex, 500, "internal_error",
                        "the server failed on this request; the server log has the details");
            }
        } catch (IOException e) {
            // The client went away while we answered; nothing left to tell it.
            status = -1;
        } finally {
            ex.close();
            if (options.accessLog() != null) {
                options.accessLog().printf(Locale.ROOT, "%s %s %d %.1f ms%n", ex.getRequestMethod(),
                        ex.getRequestURI().getPath(), status, (System.nanoTime() - start) / 1e6);
            }
        }
    }

    private static void requireMethod(HttpExchange ex, String method) throws HttpError {
        if (!ex.getRequestMethod().equalsIgnoreCase(method)) {
            ex.getResponseHeaders().set("Allow", method);
            throw new HttpError(405, "method_not_allowed", ex.getRequestMethod() + " " + ex.getRequestURI().getPath()
                    + " is not supported; use " + method);
        }
    }

    private ObjectNode predict(HttpExchange ex) throws HttpError, IOException {
        int topK = topK(ex.getRequestURI().getRawQuery());
        String contentType = ex.getRequestHeaders().getFirst("Content-Type");
        String mime = contentType == null ? "" : contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        boolean multipart = mime.equals("multipart/form-data");
        if (!multipart && !mime.startsWith("image/") && !mime.equals("application/octet-stream")) {
            drain(ex.getRequestBody());
            throw new HttpError(415, "unsupported_media_type", (contentType == null ? "no Content-Type"
                    : "Content-Type '" + contentType + "'") + " is not accepted; send multipart/form-data with the "
                    + "image in a file field named 'image', or the image bytes as the body with Content-Type image/* "
                    + "or application/octet-stream");
        }
        byte[] body = readBody(ex);
        byte[] image = body;
        String filename = null;
        if (multipart) {
            String boundary = Multipart.boundary(contentType);
            if (boundary == null) {
                throw new HttpError(400, "malformed_multipart", "multipart/form-data without a valid boundary parameter");
            }
            Multipart.Part part = imagePart(body, boundary);
            image = part.data();
            filename = part.filename();
        }
        if (image.length == 0) {
            throw new HttpError(400, "empty_body", multipart ? "the image part is empty (0 bytes)"
                    : "the request body is empty; send the image bytes");
        }
        BufferedImage decoded;
        String source = filename != null ? filename : "request body";
        try {
            decoded = decoder.decode(image, source);
        } catch (ImageDecodeException e) {
            throw decodeError(e);
        }
        long start = System.nanoTime();
        Classification c = classifier.classify(decoded);
        double millis = (System.nanoTime() - start) / 1e6;

        ObjectNode o = JSON.createObjectNode();
        if (filename != null) {
            o.put("file", filename);
        }
        o.put("task", classifier.descriptor().task());
        ArrayNode top = o.putArray("top");
        for (Classification.ScoredLabel s : c.top(topK)) {
            top.addObject().put("label", s.label()).put("score", s.score());
        }
        ArrayNode labels = o.putArray("labels");
        c.activeLabels().forEach(labels::add);
        o.putObject("image").put("width", decoded.getWidth()).put("height", decoded.getHeight());
        o.put("millis", Math.round(millis * 10) / 10.0);
        return o;
    }

    private Multipart.Part imagePart(byte[] body, String boundary) throws HttpError {
        List<Multipart.Part> parts;
        try {
            parts = Multipart.parse(body, boundary);
        } catch (Multipart.MalformedException e) {
            throw new HttpError(400, "malformed_multipart", "cannot read the multipart body: " + e.getMessage());
        }
        for (Multipart.Part p : parts) {
            if ("image".equals(p.name())) {
                return p;
            }
        }
        for (Multipart.Part p : parts) {
            if (p.filename() != null) {
                return p;
            }
        }
        throw new HttpError(400, "no_image_part", "the multipart body has no file field named 'image' (fields: "
                + parts.stream().map(Multipart.Part::name).toList() + ")");
    }

    private static HttpError decodeError(ImageDecodeException e) {
        return switch (e.reason()) {
            case EMPTY_FILE -> new HttpError(400, "empty_body", e.getMessage());
            case TOO_MANY_PIXELS -> new HttpError(413, "too_many_pixels", e.getMessage());
            case NOT_AN_IMAGE -> new HttpError(422, "not_an_image", e.getMessage());
            case UNSUPPORTED_FORMAT -> new HttpError(422, "unsupported_format", e.getMessage());
            default -> new HttpError(422, "unreadable_image", e.getMessage());
        };
    }

    private int topK(String rawQuery) throws HttpError {
        if (rawQuery == null) {
            return options.defaultTopK();
        }
        for (String kv : rawQuery.split("&")) {
            int eq = kv.indexOf('=');
            String key = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
            if (key.equals("top_k")) {
                String value = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
                try {
                    int k = Integer.parseInt(value.trim());
                    if (k >= 1) {
                        return k;
                    }
                } catch (NumberFormatException e) {
                    // reported below
                }
                throw new HttpError(400, "bad_top_k", "top_k must be a positive integer, got '" + value + "'");
            }
        }
        return options.defaultTopK();
    }

    /** Reads the whole body, refusing one over the limit before reading it when its length is declared. */
    private byte[] readBody(HttpExchange ex) throws HttpError, IOException {
        long max = options.maxUploadBytes();
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        InputStream in = ex.getRequestBody();
        if (declared != null) {
            long length;
            try {
                length = Long.parseLong(declared.trim());
            } catch (NumberFormatException e) {
                throw new HttpError(400, "bad_content_length", "Content-Length '" + declared + "' is not a number");
            }
            if (length > max) {
                drain(in);
                throw tooLarge(length + " bytes");
            }
        }
        byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, max + 1));
        if (body.length > max) {
            drain(in);
            throw tooLarge("more than " + max + " bytes");
        }
        return body;
    }

    private HttpError tooLarge(String size) {
        return new HttpError(413, "too_large", "the upload is " + size + ", over this server's limit of "
                + options.maxUploadBytes() + " bytes; send a smaller image or start the server with a larger "
                + "--max-upload-mb");
    }

    /** Reads what the client still sends (up to a bound), so it finishes its upload and reads our answer. */
    private static void drain(InputStream in) throws IOException {
        long skipped = 0;
        byte[] buf = new byte[1 << 16];
        for (int n; skipped < DRAIN_LIMIT && (n = in.read(buf)) > 0; ) {
            skipped += n;
        }
    }

    private ObjectNode info() {
        ClassifierDescriptor d = classifier.descriptor();
        ObjectNode o = JSON.createObjectNode();
        o.put("task", d.task());
        ArrayNode labels = o.putArray("labels");
        d.labels().forEach(labels::add);
        o.put("imageHeight", d.imageHeight()).put("imageWidth", d.imageWidth());
        o.put("maxUploadBytes", options.maxUploadBytes()).put("maxPixels", options.maxPixels());
        o.put("defaultTopK", options.defaultTopK());
        if (d.provenance() != null) {
            if (d.provenance().backbone() != null) {
                o.put("backbone", d.provenance().backbone().architecture());
            }
            if (d.provenance().head() != null) {
                o.put("head", d.provenance().head().kind());
            }
        }
        JsonNode metrics = d.metrics();
        if (metrics != null) {
            for (String split : new String[] {"test", "validation"}) {
                for (String key : new String[] {"accuracy", "microF1"}) {
                    if (!o.has("metric") && metrics.path(split).path(key).isNumber()) {
                        o.putObject("metric").put("split", split).put("name", key)
                                .put("value", metrics.path(split).path(key).asDouble())
                                .put("examples", metrics.path(split).path("examples").asInt());
                    }
                }
            }
        }
        return o;
    }

    private int sendResource(HttpExchange ex, String name) throws IOException {
        byte[] bytes;
        try (InputStream in = ClassifierServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) {
                throw new UncheckedIOException(new IOException("resource web/" + name + " is missing from the jar"));
            }
            bytes = in.readAllBytes();
        }
        String type = name.endsWith(".html") ? "text/html; charset=utf-8"
                : name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
        return send(ex, 200, type, bytes);
    }

    private static int sendError(HttpExchange ex, int status, String code, String message) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.putObject("error").put("status", status).put("code", code).put("message", message);
        return send(ex, status, "application/json", JSON.writeValueAsBytes(o));
    }

    private static int send(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
        var h = ex.getResponseHeaders();
        h.set("Content-Type", contentType);
        h.set("Cache-Control", "no-store");
        h.set("X-Content-Type-Options", "nosniff");
        // The page loads nothing from elsewhere; previews are blob: URLs of the user's own file.
        h.set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:");
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        return status;
    }
}
