package org.vitfit.serve;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.http.MultiPart;
import org.eclipse.jetty.http.MultiPartFormData;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.content.ByteBufferContentSource;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.vitfit.classify.Classification;
import org.vitfit.classify.ClassifierDescriptor;
import org.vitfit.classify.VitClassifier;
import org.vitfit.preprocess.ImageDecodeException;
import org.vitfit.preprocess.ImageDecoder;
import org.vitfit.runtime.Finite;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Serves one {@link VitClassifier} over HTTP: {@code POST /predict} (an image as {@code multipart/form-data} or as
 * the raw body; JSON answer), {@code GET /} (a page to drop or pick an image and see the top labels), {@code GET /info}
 * and {@code GET /health}. Every error, including requests the HTTP parser refuses, is a JSON object
 * {@code {"error": {"status", "code", "message"}}}.
 *
 * <p>Two separate bounds keep a slow client from stalling anyone else. Requests are read by Jetty's non-blocking
 * connector: a connection waiting for its headers or body holds no thread, and one that sends nothing for
 * {@link Options#idleTimeoutMillis} is answered 408 (or closed, before its headers). Only a request whose body has
 * fully arrived is handed to the fixed pool of {@link Options#threads} inference threads, where it is decoded and
 * classified; the classifier is shared (it is thread-safe), each request's bytes and pixels are its own.
 *
 * <p>Memory is bounded before anything is decoded: a body over {@link Options#maxUploadBytes} is refused (from its
 * {@code Content-Length}, or when the count passes the limit), the bodies held at once by all requests are bounded
 * by {@link Options#maxBufferedBytes} (503 beyond), connections by {@link Options#maxConnections}, and images by
 * {@link Options#maxPixels} from their header.
 */
public final class ClassifierServer implements AutoCloseable {

    /**
     * @param host              address to bind; {@code 127.0.0.1} keeps the server local, {@code 0.0.0.0} exposes it
     * @param port              TCP port, 0 for any free one
     * @param maxUploadBytes    largest accepted request body
     * @param maxPixels         largest accepted image (width x height), checked from the header before decoding
     * @param threads           inference threads: images decoded and classified at once
     * @param defaultTopK       labels per answer when the request has no {@code top_k}
     * @param idleTimeoutMillis a connection that sends nothing for this long, mid-request or between requests, is
     *                          answered 408 or closed
     * @param maxConnections    connections open at once; further ones wait in the accept queue
     * @param maxBufferedBytes  request bytes held in memory by all requests together; 0 for the default
     *                          (the larger of 4 uploads and a quarter of the heap)
     * @param accessLog         where to print one line per request, or null for none
     */
    public record Options(String host, int port, long maxUploadBytes, long maxPixels, int threads, int defaultTopK,
                          long idleTimeoutMillis, int maxConnections, long maxBufferedBytes, PrintStream accessLog) {

        public static final long DEFAULT_MAX_UPLOAD_BYTES = 20L << 20;
        /** 50 megapixels: any camera photo, but not a decompression bomb. */
        public static final long DEFAULT_MAX_PIXELS = 50_000_000L;
        public static final long DEFAULT_IDLE_TIMEOUT_MILLIS = 10_000;
        public static final int DEFAULT_MAX_CONNECTIONS = 512;

        public Options {
            if (port < 0 || port > 65535 || maxUploadBytes < 1 || maxPixels < 1 || threads < 1 || defaultTopK < 1
                    || idleTimeoutMillis < 1 || maxConnections < 1 || maxBufferedBytes < 0) {
                throw new IllegalArgumentException("need 0 <= port <= 65535 and positive upload limit, pixel limit, "
                        + "threads, top-k, idle timeout and connection limit; got port " + port + ", upload "
                        + maxUploadBytes + ", pixels " + maxPixels + ", threads " + threads + ", top-k " + defaultTopK
                        + ", idle timeout " + idleTimeoutMillis + " ms, connections " + maxConnections
                        + ", buffered bytes " + maxBufferedBytes);
            }
        }

        public static Options defaults() {
            return new Options("127.0.0.1", 8080, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_PIXELS,
                    Math.max(2, Runtime.getRuntime().availableProcessors()), 5, DEFAULT_IDLE_TIMEOUT_MILLIS,
                    DEFAULT_MAX_CONNECTIONS, 0, null);
        }

        /** {@link #maxBufferedBytes}, with 0 resolved to the default; never below one upload. */
        public long bufferedBytesLimit() {
            long limit = maxBufferedBytes > 0 ? maxBufferedBytes
                    : Math.max(4 * maxUploadBytes, Runtime.getRuntime().maxMemory() / 4);
            return Math.max(limit, maxUploadBytes);
        }

        public Options withHost(String h) {
            return new Options(h, port, maxUploadBytes, maxPixels, threads, defaultTopK, idleTimeoutMillis,
                    maxConnections, maxBufferedBytes, accessLog);
        }

        public Options withPort(int p) {
            return new Options(host, p, maxUploadBytes, maxPixels, threads, defaultTopK, idleTimeoutMillis,
                    maxConnections, maxBufferedBytes, accessLog);
        }

        public Options withMaxUploadBytes(long b) {
            return new Options(host, port, b, maxPixels, threads, defaultTopK, idleTimeoutMillis, maxConnections,
                    maxBufferedBytes, accessLog);
        }

        public Options withMaxPixels(long p) {
            return new Options(host, port, maxUploadBytes, p, threads, defaultTopK, idleTimeoutMillis, maxConnections,
                    maxBufferedBytes, accessLog);
        }

        public Options withThreads(int t) {
            return new Options(host, port, maxUploadBytes, maxPixels, t, defaultTopK, idleTimeoutMillis,
                    maxConnections, maxBufferedBytes, accessLog);
        }

        public Options withIdleTimeoutMillis(long ms) {
            return new Options(host, port, maxUploadBytes, maxPixels, threads, defaultTopK, ms, maxConnections,
                    maxBufferedBytes, accessLog);
        }

        public Options withMaxConnections(int n) {
            return new Options(host, port, maxUploadBytes, maxPixels, threads, defaultTopK, idleTimeoutMillis, n,
                    maxBufferedBytes, accessLog);
        }

        public Options withMaxBufferedBytes(long b) {
            return new Options(host, port, maxUploadBytes, maxPixels, threads, defaultTopK, idleTimeoutMillis,
                    maxConnections, b, accessLog);
        }

        public Options withAccessLog(PrintStream log) {
            return new Options(host, port, maxUploadBytes, maxPixels, threads, defaultTopK, idleTimeoutMillis,
                    maxConnections, maxBufferedBytes, log);
        }
    }

    /** After refusing a request, read and discard at most this much of its body so the client sees the answer. */
    private static final long DRAIN_LIMIT = 64L << 20;
    /** Headers beyond this are answered 431; browsers and curl send well under 2 KB. */
    private static final int MAX_HEADER_BYTES = 16 << 10;
    /** Jetty's threads only parse, route and write; decoding and inference run on the separate inference pool. */
    private static final int HTTP_THREADS = 16;
    private static final int MAX_MULTIPART_PARTS = 32;
    private static final String JSON_TYPE = "application/json";
    /** The page loads nothing from elsewhere; previews are blob: URLs of the user's own file. */
    private static final String CSP = "default-src 'self'; img-src 'self' blob: data:";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, String> STATIC = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css");

    private final VitClassifier classifier;
    private final Options options;
    private final ImageDecoder decoder;
    private final Map<String, byte[]> resources = new HashMap<>();
    private final Server server;
    private final ServerConnector connector;
    private final ExecutorService inference;
    private final long bufferedLimit;
    private final AtomicLong buffered = new AtomicLong();

    private ClassifierServer(VitClassifier classifier, Options options) throws IOException {
        this.classifier = classifier;
        this.options = options;
        this.decoder = new ImageDecoder(classifier.descriptor().preprocessing().applyExifOrientation(), options.maxPixels());
        this.bufferedLimit = options.bufferedBytesLimit();
        for (String name : STATIC.values()) {
            resources.computeIfAbsent(name, ClassifierServer::readResource);
        }

        QueuedThreadPool http = new QueuedThreadPool(HTTP_THREADS, 2);
        http.setName("vitfit-http");
        http.setDaemon(true);
        this.server = new Server(http);
        HttpConfiguration config = new HttpConfiguration();
        config.setSendServerVersion(false);
        config.setSendXPoweredBy(false);
        config.setRequestHeaderSize(MAX_HEADER_BYTES);
        this.connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config));
        connector.setHost(options.host());
        connector.setPort(options.port());
        connector.setIdleTimeout(options.idleTimeoutMillis());
        server.addConnector(connector);
        server.addBean(new NetworkConnectionLimit(options.maxConnections(), connector));
        server.setHandler(new Routes());
        server.setErrorHandler(new JsonErrors());
        if (options.accessLog() != null) {
            PrintStream log = options.accessLog();
            server.setRequestLog((request, response) -> log.printf(Locale.ROOT, "%s %s %d %.1f ms%n",
                    request.getMethod(), request.getHttpURI().getPath(), response.getStatus(),
                    (System.nanoTime() - request.getBeginNanoTime()) / 1e6));
        }
        server.setStopTimeout(5_000);

        AtomicInteger n = new AtomicInteger();
        this.inference = new ThreadPoolExecutor(options.threads(), options.threads(), 0, TimeUnit.MILLISECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "vitfit-infer-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
    }

    /** Binds and starts serving; the caller keeps ownership of {@code classifier} and closes it after this server. */
    public static ClassifierServer start(VitClassifier classifier, Options options) throws IOException {
        ClassifierServer s = new ClassifierServer(classifier, options);
        try {
            s.server.start();
        } catch (Exception e) {
            s.close();
            throw new IOException("cannot serve on " + options.host() + ":" + options.port() + ": " + e.getMessage()
                    + (e instanceof BindException ? " (another process may use the port; choose another "
                    + "--port, or 0 for any free one)" : ""), e);
        }
        return s;
    }

    /** The port actually bound (useful with port 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** The page's address, e.g. {@code http://127.0.0.1:8080/}. */
    public URI uri() {
        String host = options.host().contains(":") ? "[" + options.host() + "]" : options.host();
        return URI.create("http://" + host + ":" + port() + "/");
    }

    /** Stops accepting requests, lets running ones finish (up to a few seconds) and stops the inference threads. */
    @Override
    public void close() {
        // Often called on an interrupted thread (Ctrl-C, a stopped command): stop cleanly first, then restore it.
        boolean interrupted = Thread.interrupted();
        try {
            server.stop();
        } catch (Exception e) {
            System.err.println("vitfit serve: stopping the HTTP server: " + e);
        }
        inference.shutdown();
        try {
            if (!inference.awaitTermination(5, TimeUnit.SECONDS)) {
                inference.shutdownNow();
            }
        } catch (InterruptedException e) {
            inference.shutdownNow();
            interrupted = true;
        }
        if (interrupted) {
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

    private static byte[] errorBody(int status, String code, String message) {
        ObjectNode o = JSON.createObjectNode();
        o.putObject("error").put("status", status).put("code", code).put("message", message);
        try {
            return JSON.writeValueAsBytes(o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Response response, Callback callback, int status, String type, byte[] body) {
        response.setStatus(status);
        HttpFields.Mutable h = response.getHeaders();
        h.put(HttpHeader.CONTENT_TYPE, type);
        h.put(HttpHeader.CACHE_CONTROL, "no-store");
        h.put("X-Content-Type-Options", "nosniff");
        h.put("Content-Security-Policy", CSP);
        h.put(HttpHeader.CONTENT_LENGTH, body.length);
        // For HEAD, Jetty sends the headers (Content-Length included) and drops the body.
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** All routes. Nothing here blocks: bodies are read asynchronously and classified on the inference pool. */
    private final class Routes extends Handler.Abstract.NonBlocking {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            new Exchange(request, response, callback).route();
            return true;
        }
    }

    /**
     * Answers requests Jetty itself refuses (malformed request line or headers, a {@code Content-Length} that is not
     * a number, ambiguous paths, oversized headers, connections that stall) and failures of a request callback,
     * in the same JSON shape as every other error.
     */
    private final class JsonErrors implements Request.Handler {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            Object s = request.getAttribute(ErrorHandler.ERROR_STATUS);
            int status = s instanceof Integer i ? i : response.getStatus();
            Object m = request.getAttribute(ErrorHandler.ERROR_MESSAGE);
            String reason = m == null ? "" : m.toString();
            String code;
            String message;
            switch (status) {
                case 400 -> {
                    boolean length = reason.toLowerCase(Locale.ROOT).contains("content-length");
                    code = length ? "bad_content_length" : "bad_request";
                    message = "the request is not valid HTTP/1.1 (" + (reason.isEmpty() ? "unparsable" : reason)
                            + ")" + (length ? "; Content-Length must be the body's size in bytes" : "")
                            + "; see GET / for the page and the README for the API";
                }
                case 408 -> {
                    code = "request_timeout";
                    message = "the request did not arrive in time: nothing was received for "
                            + seconds(options.idleTimeoutMillis()) + "; send the whole request without pausing";
                }
                case 413 -> {
                    code = "too_large";
                    message = "the request is too large (" + reason + ")";
                }
                case 414 -> {
                    code = "uri_too_long";
                    message = "the request path and query are longer than this server accepts";
                }
                case 431 -> {
                    code = "headers_too_large";
                    message = "the request headers are larger than the " + (MAX_HEADER_BYTES >> 10)
                            + " KB this server accepts";
                }
                case 501 -> {
                    code = "not_implemented";
                    message = "this server does not implement what the request asks for (" + reason + ")";
                }
                case 505 -> {
                    code = "http_version_not_supported";
                    message = "only HTTP/1.0 and HTTP/1.1 are served (" + reason + ")";
                }
                default -> {
                    if (status < 400 || status >= 500) {
                        status = 500;
                        code = "internal_error";
                        message = "the server failed on this request; the server log has the details";
                        Object cause = request.getAttribute(ErrorHandler.ERROR_EXCEPTION);
                        System.err.println("vitfit serve: " + request.getMethod() + " " + request.getHttpURI().getPath()
                                + " failed: " + (cause != null ? cause : reason));
                    } else {
                        code = "bad_request";
                        message = "the request was refused (" + status + (reason.isEmpty() ? "" : ", " + reason) + ")";
                    }
                }
            }
            if (status == 408 || status >= 500 || status == 400) {
                response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
            }
            write(response, callback, status, JSON_TYPE, errorBody(status, code, message));
            return true;
        }
    }

    /** One request on its way through the routes, the body reader and the inference pool. */
    private final class Exchange {
        private final Request request;
        private final Response response;
        private final Callback callback;
        /** Bytes this request holds against {@link #bufferedLimit}, given back once it is answered. */
        private long held;

        Exchange(Request request, Response response, Callback callback) {
            this.request = request;
            this.response = response;
            this.callback = callback;
        }

        void route() {
            String path = request.getHttpURI().getPath();
            try {
                if (path == null) {
                    throw new HttpError(400, "bad_request", "the request has no path");
                }
                switch (path) {
                    case "/predict" -> {
                        requireMethod("POST");
                        startPredict();
                    }
                    case "/info" -> {
                        requireMethod("GET");
                        write(response, callback, 200, JSON_TYPE, JSON.writeValueAsBytes(info()));
                    }
                    case "/health" -> {
                        requireMethod("GET");
                        write(response, callback, 200, JSON_TYPE, "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8));
                    }
                    default -> {
                        String name = STATIC.get(path);
                        if (name == null) {
                            throw new HttpError(404, "not_found", "no " + path + " here; the API is POST /predict, "
                                    + "GET /info, GET /health and the page at /");
                        }
                        requireMethod("GET");
                        write(response, callback, 200, contentType(name), resources.get(name));
                    }
                }
            } catch (HttpError e) {
                refuse(e);
            } catch (RuntimeException | IOException e) {
                internalError(e);
            }
        }

        /** GET routes also answer HEAD: the same status and headers, no body. */
        private void requireMethod(String method) throws HttpError {
            String m = request.getMethod();
            if (m.equals(method) || (method.equals("GET") && m.equals("HEAD"))) {
                return;
            }
            String allow = method.equals("GET") ? "GET, HEAD" : method;
            response.getHeaders().put(HttpHeader.ALLOW, allow);
            throw new HttpError(405, "method_not_allowed", m + " " + request.getHttpURI().getPath()
                    + " is not supported; use " + allow);
        }

        private void startPredict() throws HttpError {
            int topK = topK(request.getHttpURI().getQuery());
            String contentType = request.getHeaders().get(HttpHeader.CONTENT_TYPE);
            String mime = contentType == null ? "" : contentType.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
            boolean multipart = mime.equals("multipart/form-data");
            if (!multipart && !mime.startsWith("image/") && !mime.equals("application/octet-stream")) {
                throw new HttpError(415, "unsupported_media_type", (contentType == null ? "no Content-Type"
                        : "Content-Type '" + contentType + "'") + " is not accepted; send multipart/form-data with "
                        + "the image in a file field named 'image', or the image bytes as the body with Content-Type "
                        + "image/* or application/octet-stream");
            }
            String boundary = null;
            if (multipart) {
                boundary = MultiPart.extractBoundary(contentType);
                if (boundary == null || boundary.isEmpty()) {
                    throw new HttpError(400, "malformed_multipart",
                            "multipart/form-data without a boundary parameter; let the browser or curl -F set it");
                }
            }
            long declared = request.getLength();
            if (declared > options.maxUploadBytes()) {
                throw tooLarge(declared + " bytes");
            }
            // Between reads and writes this request waits for an inference thread or runs on one; the idle
            // timeout is for clients that stall, not for a queue, so it is ignored then.
            request.addIdleTimeoutListener(timeout -> false);
            String b = boundary;
            new BodyReader(declared, body -> accepted(body, b, topK)).run();
        }

        /** The whole body arrived: parse the multipart form if it is one, then queue for inference. */
        private void accepted(byte[] body, String boundary, int topK) {
            if (boundary == null) {
                queue(body, false, null, topK);
                return;
            }
            MultiPartFormData.Parser parser = new MultiPartFormData.Parser(boundary);
            parser.setMaxParts(MAX_MULTIPART_PARTS);
            parser.setMaxLength(options.maxUploadBytes());
            // Parts stay in memory (they are within the upload limit): nothing is written to disk.
            parser.setMaxMemoryFileSize(options.maxUploadBytes());
            parser.setMaxFileSize(options.maxUploadBytes());
            parser.setUseFilesForPartsWithoutFileName(false);
            parser.parse(new ByteBufferContentSource(ByteBuffer.wrap(body))).whenComplete((parts, failure) -> {
                if (failure != null) {
                    answerError(new HttpError(400, "malformed_multipart", "cannot read the multipart body: "
                            + rootMessage(failure)));
                    return;
                }
                try (parts) {
                    MultiPart.Part part = imagePart(parts);
                    ByteBuffer bytes = Content.Source.asByteBuffer(part.createContentSource());
                    byte[] image = new byte[bytes.remaining()];
                    bytes.get(image);
                    queue(image, true, part.getFileName(), topK);
                } catch (HttpError e) {
                    answerError(e);
                } catch (IOException | RuntimeException e) {
                    answerError(new HttpError(400, "malformed_multipart", "cannot read the multipart body: "
                            + rootMessage(e)));
                }
            });
        }

        private MultiPart.Part imagePart(MultiPartFormData.Parts parts) throws HttpError {
            if (parts.size() == 0) {
                throw new HttpError(400, "malformed_multipart", "the body holds no part delimited by its boundary");
            }
            MultiPart.Part image = parts.getFirst("image");
            if (image != null) {
                return image;
            }
            for (MultiPart.Part p : parts) {
                if (p.getFileName() != null) {
                    return p;
                }
            }
            List<String> names = new ArrayList<>();
            parts.forEach(p -> names.add(p.getName()));
            throw new HttpError(400, "no_image_part", "the multipart body has no file field named 'image' (fields: "
                    + names + ")");
        }

        /** @param filename the upload's file name (multipart only, when the form sent one), or null */
        private void queue(byte[] image, boolean multipart, String filename, int topK) {
            if (image.length == 0) {
                answerError(new HttpError(400, "empty_body", multipart ? "the image part is empty (0 bytes)"
                        : "the request body is empty; send the image bytes"));
                return;
            }
            try {
                inference.execute(() -> classify(image, filename, topK));
            } catch (RejectedExecutionException e) {
                answerError(new HttpError(503, "shutting_down", "the server is stopping; send the request again "
                        + "once it is back"));
            }
        }

        /** On an inference thread: decode, classify, answer. */
        private void classify(byte[] image, String filename, int topK) {
            String source = filename != null ? filename : "request body";
            try {
                BufferedImage decoded;
                try {
                    decoded = decoder.decode(image, source);
                } catch (ImageDecodeException e) {
                    throw decodeError(e);
                }
                long start = System.nanoTime();
                // The runtime never answers NaN: it refuses (NonFiniteException) when a score is not finite.
                Classification c = classifier.classify(decoded);
                double millis = (System.nanoTime() - start) / 1e6;

                ObjectNode o = JSON.createObjectNode();
                if (filename != null) {
                    o.put("file", filename);
                }
                o.put("task", classifier.descriptor().task());
                ArrayNode top = o.putArray("top");
                for (Classification.ScoredLabel s : c.top(topK)) {
                    top.addObject().put("index", s.index()).put("label", s.label()).put("score", s.score());
                }
                ArrayNode labels = o.putArray("labels");
                c.activeLabels().forEach(labels::add);
                o.putObject("image").put("width", decoded.getWidth()).put("height", decoded.getHeight());
                o.put("millis", Math.round(millis * 10) / 10.0);
                byte[] answer = JSON.writeValueAsBytes(o);
                releaseHeld();
                write(response, callback, 200, JSON_TYPE, answer);
            } catch (HttpError e) {
                answerError(e);
            } catch (Finite.NonFiniteException e) {
                // The detail names the server's files; the client learns what happened and that the log has it.
                System.err.println("vitfit serve: " + source + ": " + e.getMessage());
                answerError(new HttpError(500, "non_finite_output", "the classifier computed a non-finite score (NaN "
                        + "or an infinity) for this image, so it gives no answer; the classifier may be damaged and "
                        + "need to be re-exported (the server log has the details)"));
            } catch (Throwable e) {
                internalError(e);
            }
        }

        /** Refuses the request; a body still arriving is read and dropped first (bounded), so the client sees why. */
        private void refuse(HttpError e) {
            boolean bodyPending = request.getLength() != 0 && !request.getHeaders().contains(HttpHeader.EXPECT,
                    "100-continue");
            if (!bodyPending) {
                answerError(e);
                return;
            }
            new BodyReader(-1, ignored -> answerError(e)).discardThen(e);
        }

        private void answerError(HttpError e) {
            releaseHeld();
            if (e.status == 503) {
                response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
            }
            write(response, callback, e.status, JSON_TYPE, errorBody(e.status, e.code, e.getMessage()));
        }

        private void internalError(Throwable e) {
            System.err.println("vitfit serve: " + request.getMethod() + " " + request.getHttpURI().getPath()
                    + " failed: " + e);
            // The detail (paths, library messages) goes to the server's log, not to a possibly remote client.
            answerError(new HttpError(500, "internal_error",
                    "the server failed on this request; the server log has the details"));
        }

        private void releaseHeld() {
            long h = held;
            held = 0;
            if (h > 0) {
                buffered.addAndGet(-h);
            }
        }

        /** Reserves {@code n} more bytes against the shared limit, or refuses them. */
        private boolean reserve(long n) {
            while (true) {
                long now = buffered.get();
                if (now + n > bufferedLimit) {
                    return false;
                }
                if (buffered.compareAndSet(now, now + n)) {
                    held += n;
                    return true;
                }
            }
        }

        /**
         * Reads the body chunk by chunk as it arrives, without holding a thread in between: {@link Request#demand}
         * calls back when more bytes are there. Grows its buffer with what actually arrives, never with what
         * {@code Content-Length} promises, so a client that announces 20 MB and stalls costs what it sent.
         */
        private final class BodyReader implements Runnable {
            private final long declared;
            private final Consumer<byte[]> onBody;
            private byte[] buf;
            private int size;
            private boolean discarding;
            private long discarded;
            private HttpError afterDiscard;

            BodyReader(long declared, Consumer<byte[]> onBody) {
                this.declared = declared;
                this.onBody = onBody;
                this.buf = new byte[(int) Math.min(64 << 10, declared > 0 ? declared : 64 << 10)];
            }

            /** Reads and drops the rest of the body (up to {@link #DRAIN_LIMIT}), then answers {@code error}. */
            void discardThen(HttpError error) {
                discarding = true;
                afterDiscard = error;
                buf = null;
                run();
            }

            @Override
            public void run() {
                while (true) {
                    Content.Chunk chunk = request.read();
                    if (chunk == null) {
                        request.demand(this);
                        return;
                    }
                    if (Content.Chunk.isFailure(chunk)) {
                        Throwable failure = chunk.getFailure();
                        chunk.release();
                        answerError(discarding ? afterDiscard : readError(failure));
                        return;
                    }
                    ByteBuffer bytes = chunk.getByteBuffer();
                    int n = bytes.remaining();
                    boolean last = chunk.isLast();
                    if (discarding) {
                        discarded += n;
                        chunk.release();
                        if (last || discarded > DRAIN_LIMIT) {
                            answerError(afterDiscard);
                            return;
                        }
                        continue;
                    }
                    if ((long) size + n > options.maxUploadBytes()) {
                        chunk.release();
                        switchToDiscard(tooLarge("more than " + options.maxUploadBytes() + " bytes"));
                        return;
                    }
                    if (!reserve(n)) {
                        chunk.release();
                        switchToDiscard(new HttpError(503, "busy", "the server holds " + (bufferedLimit >> 20)
                                + " MB of uploads in progress, its limit; send the request again in a moment"));
                        return;
                    }
                    if (size + n > buf.length) {
                        buf = Arrays.copyOf(buf, (int) Math.min(options.maxUploadBytes(),
                                Math.max((long) size + n, 2L * buf.length)));
                    }
                    bytes.get(buf, size, n);
                    size += n;
                    chunk.release();
                    if (last) {
                        byte[] body = size == buf.length ? buf : Arrays.copyOf(buf, size);
                        buf = null;
                        onBody.accept(body);
                        return;
                    }
                }
            }

            private void switchToDiscard(HttpError error) {
                buf = null;
                releaseHeld();
                discardThen(error);
            }

            private HttpError readError(Throwable failure) {
                if (failure instanceof TimeoutException) {
                    return new HttpError(408, "request_timeout", "the body stalled: nothing arrived for "
                            + seconds(options.idleTimeoutMillis()) + " after " + size + " bytes"
                            + (declared >= 0 ? " of " + declared : "") + "; send the whole body without pausing");
                }
                return new HttpError(400, "incomplete_body", "the body ended after " + size + " bytes"
                        + (declared >= 0 ? " of the " + declared + " that Content-Length announced" : "")
                        + " (" + rootMessage(failure) + "); send the whole image");
            }
        }
    }

    private HttpError tooLarge(String size) {
        return new HttpError(413, "too_large", "the upload is " + size + ", over this server's limit of "
                + options.maxUploadBytes() + " bytes; send a smaller image or start the server with a larger "
                + "--max-upload-mb");
    }

    private static String seconds(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + " s" : millis + " ms";
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    }

    private static HttpError decodeError(ImageDecodeException e) {
        return switch (e.reason()) {
            case EMPTY_FILE -> new HttpError(400, "empty_body", e.getMessage());
            case TOO_MANY_PIXELS -> new HttpError(413, "too_many_pixels", e.getMessage());
            case OUT_OF_MEMORY -> new HttpError(413, "out_of_memory", e.getMessage());
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
            String key;
            String value;
            try {
                key = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
                value = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                throw new HttpError(400, "bad_query", "the query '" + rawQuery + "' is not valid URL encoding");
            }
            if (key.equals("top_k")) {
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
        ClassifierDescriptor.Headline h = d.headline();
        if (h != null) {
            o.putObject("metric").put("split", h.split()).put("name", h.name()).put("value", h.value())
                    .put("examples", h.examples());
        }
        return o;
    }

    private static byte[] readResource(String name) {
        try (InputStream in = ClassifierServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) {
                throw new IllegalStateException("resource web/" + name + " is missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String contentType(String name) {
        return name.endsWith(".html") ? "text/html; charset=utf-8"
                : name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
    }
}
