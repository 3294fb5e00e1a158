package org.vitfit.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A loopback Hugging Face Hub: the resolve endpoint with the real Hub's headers, LFS files redirected to a CDN path
 * that honours Range requests, and switches to cut, stall or corrupt the next CDN download.
 */
final class FakeHub implements AutoCloseable {

    record Request(String method, String path, String range, String authorization) {
    }

    private final HttpServer server;
    /** The CDN is another origin, as on the real Hub, so that tests can see where the token goes. */
    private final HttpServer cdnServer;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);
    private final CountDownLatch closing = new CountDownLatch(1);
    private final List<Request> requests = java.util.Collections.synchronizedList(new ArrayList<>());
    /** repo -> branch/tag -> commit */
    private final Map<String, Map<String, String>> refs = new ConcurrentHashMap<>();
    /** commit -> file -> bytes */
    private final Map<String, Map<String, byte[]>> trees = new ConcurrentHashMap<>();
    /** sha256 -> bytes, the CDN's content */
    private final Map<String, byte[]> cdn = new ConcurrentHashMap<>();
    /** repo -> X-Error-Code answered for every request to it */
    private final Map<String, String> repoErrors = new ConcurrentHashMap<>();
    /** old repo id -> new repo id, answered with relative redirects */
    private final Map<String, String> renamed = new ConcurrentHashMap<>();

    volatile int cutNextDownloadAfter = -1;
    volatile int stallNextDownloadAfter = -1;
    volatile boolean corruptDownloads;
    volatile boolean ignoreRange;
    volatile int resolveStatus = -1;
    /** The next this many resolve requests are answered 503, as an overloaded Hub does. */
    final java.util.concurrent.atomic.AtomicInteger failNextResolves = new java.util.concurrent.atomic.AtomicInteger();
    /** Files kept in git are served without any size (chunked, no Content-Length on HEAD). */
    volatile boolean sizelessSmallFiles;
    /** Files kept in git are served cut to half their length (a complete-looking chunked response). */
    volatile boolean truncateSmallFiles;
    /** Files kept in git get an ETag that is neither a sha256 nor a git blob id, as some mirrors send. */
    volatile boolean opaqueEtags;
    /** CDN downloads send this many bytes more than the file has, without a Content-Length. */
    volatile long extraBytesOnDownload;

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor);
        server.start();
        cdnServer = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        cdnServer.createContext("/", this::handle);
        cdnServer.setExecutor(executor);
        cdnServer.start();
    }

    String url() {
        return url(server);
    }

    private static String url(HttpServer s) {
        return "http://" + s.getAddress().getAddress().getHostAddress() + ":" + s.getAddress().getPort();
    }

    /** Adds a commit of {@code repo} reachable from {@code branch}; files ending in .safetensors are LFS files. */
    void commit(String repo, String branch, String commit, Map<String, byte[]> files) {
        refs.computeIfAbsent(repo, r -> new ConcurrentHashMap<>()).put(branch, commit);
        trees.put(commit, new HashMap<>(files));
        for (Map.Entry<String, byte[]> f : files.entrySet()) {
            if (isLfs(f.getKey())) {
                cdn.put(sha256(f.getValue()), f.getValue());
            }
        }
    }

    void failRepo(String repo, String errorCode) {
        repoErrors.put(repo, errorCode);
    }

    void rename(String oldRepo, String newRepo) {
        renamed.put(oldRepo, newRepo);
    }

    List<Request> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    long count(String method, String pathPrefix) {
        return requests().stream().filter(r -> r.method().equals(method) && r.path().startsWith(pathPrefix)).count();
    }

    private static boolean isLfs(String file) {
        return file.endsWith(".safetensors");
    }

    private void handle(HttpExchange ex) throws IOException {
        // Recorded before answering, so that a test sees every request its client call made.
        requests.add(new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(),
                ex.getRequestHeaders().getFirst("Range"), ex.getRequestHeaders().getFirst("Authorization")));
        try {
            String path = ex.getRequestURI().getPath();
            if (path.startsWith("/cdn/")) {
                serveCdn(ex, path.substring(5));
            } else {
                serveResolve(ex, path);
            }
        } finally {
            ex.close();
        }
    }

    private int serveResolve(HttpExchange ex, String path) throws IOException {
        // /{org}/{name}/resolve/{revision}/{file}
        String[] parts = path.substring(1).split("/", 5);
        if (parts.length < 5 || !parts[2].equals("resolve")) {
            return reply(ex, 404, "NotFound");
        }
        String repo = parts[0] + "/" + parts[1];
        String revision = java.net.URLDecoder.decode(parts[3], StandardCharsets.UTF_8);
        String file = parts[4];
        if (renamed.containsKey(repo)) {
            ex.getResponseHeaders().add("Location", "/" + renamed.get(repo) + "/resolve/" + parts[3] + "/" + file);
            return reply(ex, 307, null);
        }
        if (resolveStatus > 0) {
            return reply(ex, resolveStatus, null);
        }
        if (failNextResolves.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            return reply(ex, 503, null);
        }
        if (repoErrors.containsKey(repo)) {
            return reply(ex, repoErrors.get(repo).equals("GatedRepo") ? 403 : 401, repoErrors.get(repo));
        }
        Map<String, String> repoRefs = refs.get(repo);
        if (repoRefs == null) {
            return reply(ex, 401, "RepoNotFound");
        }
        String commit = repoRefs.containsKey(revision) ? repoRefs.get(revision)
                : repoRefs.containsValue(revision) ? revision : null;
        if (commit == null) {
            return reply(ex, 404, "RevisionNotFound");
        }
        byte[] content = trees.get(commit).get(file);
        ex.getResponseHeaders().add("X-Repo-Commit", commit);
        if (content == null) {
            return reply(ex, 404, "EntryNotFound");
        }
        ex.getResponseHeaders().add("ETag", "\"" + (opaqueEtags && !isLfs(file) ? "v1-" + gitBlobSha1(content).substring(0, 12)
                : gitBlobSha1(content)) + "\"");
        if (isLfs(file)) {
            String sha = sha256(content);
            ex.getResponseHeaders().add("X-Linked-Etag", "\"" + sha + "\"");
            ex.getResponseHeaders().add("X-Linked-Size", Long.toString(content.length));
            ex.getResponseHeaders().add("Location", url(cdnServer) + "/cdn/" + sha);
            return reply(ex, 302, null);
        }
        boolean head = ex.getRequestMethod().equals("HEAD");
        byte[] body = truncateSmallFiles ? java.util.Arrays.copyOf(content, content.length / 2) : content;
        if (sizelessSmallFiles) {
            ex.sendResponseHeaders(200, head ? -1 : 0); // chunked: no size anywhere
        } else {
            ex.getResponseHeaders().add("Content-Length", Integer.toString(content.length));
            ex.sendResponseHeaders(200, head ? -1 : body.length);
        }
        if (!head) {
            ex.getResponseBody().write(body);
        }
        return 200;
    }

    private int serveCdn(HttpExchange ex, String sha) throws IOException {
        byte[] content = cdn.get(sha);
        if (content == null) {
            return reply(ex, 404, null);
        }
        if (corruptDownloads) {
            content = content.clone();
            content[content.length / 2] ^= 0x40;
        }
        int start = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        int status = 200;
        if (range != null && !ignoreRange) {
            start = Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
            if (start >= content.length) {
                ex.getResponseHeaders().add("Content-Range", "bytes */" + content.length);
                return reply(ex, 416, null);
            }
            status = 206;
            ex.getResponseHeaders().add("Content-Range", "bytes " + start + "-" + (content.length - 1) + "/" + content.length);
        }
        long extra = extraBytesOnDownload;
        ex.sendResponseHeaders(status, extra > 0 ? 0 : content.length - start);
        OutputStream out = ex.getResponseBody();
        if (extra > 0) {
            out.write(content, start, content.length - start);
            byte[] junk = new byte[1 << 16];
            for (long sent = 0; sent < extra; sent += junk.length) {
                out.write(junk); // fails once the client hangs up, as it should
            }
            return status;
        }
        int cut = cutNextDownloadAfter;
        int stall = stallNextDownloadAfter;
        cutNextDownloadAfter = -1;
        stallNextDownloadAfter = -1;
        if (cut >= 0 || stall >= 0) {
            out.write(content, start, Math.max(cut, stall));
            out.flush();
            if (stall >= 0) {
                try {
                    closing.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            // Dropping the connection mid-body, as a flaky network does.
            throw new IOException("connection cut by the test");
        }
        out.write(content, start, content.length - start);
        return status;
    }

    private static int reply(HttpExchange ex, int status, String errorCode) throws IOException {
        if (errorCode != null) {
            ex.getResponseHeaders().add("X-Error-Code", errorCode);
        }
        ex.sendResponseHeaders(status, -1);
        return status;
    }

    static String sha256(byte[] bytes) {
        return digest("SHA-256", bytes);
    }

    private static String gitBlobSha1(byte[] content) {
        byte[] prefix = ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[prefix.length + content.length];
        System.arraycopy(prefix, 0, all, 0, prefix.length);
        System.arraycopy(content, 0, all, prefix.length, content.length);
        return digest("SHA-1", all);
    }

    private static String digest(String algorithm, byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        closing.countDown();
        server.stop(0);
        cdnServer.stop(0);
        executor.shutdownNow();
    }
}
