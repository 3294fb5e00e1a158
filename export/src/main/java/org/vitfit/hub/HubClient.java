package org.vitfit.hub;

import org.vitfit.io.Durable;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads the files a converter needs from a Hugging Face Hub model repository into a cache laid out like
 * huggingface_hub's, speaking the Hub's resolve protocol: {@code HEAD|GET {endpoint}/{repo}/resolve/{revision}/{file}},
 * commit in {@code X-Repo-Commit}, LFS sha256 in {@code X-Linked-Etag}, LFS files redirected to a CDN.
 * Downloads resume with {@code Range} requests and stop at the announced size; every file is checked against its
 * sha256 (LFS), git blob id (files kept in git) or the sha256 recorded when it was first verified, when downloaded and
 * again before every use ({@link BlobCheck}); the cache answers when offline or when the network fails.
 */
public final class HubClient {

    private static final System.Logger LOG = System.getLogger(HubClient.class.getName());
    private static final Pattern SAFE_ETAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    private static final Pattern CONTENT_RANGE_START = Pattern.compile("bytes (\\d+)-");
    private static final int MAX_REDIRECTS = 5;
    private static final int MAX_FRUITLESS_ATTEMPTS = 5;
    /** One JVM-wide monitor per blob, because a FileLock cannot exclude threads of the same JVM. */
    private static final Map<Path, Object> BLOB_MONITORS = new ConcurrentHashMap<>();

    /** Progress of one file's download; total is -1 when the Hub did not say. */
    @FunctionalInterface
    public interface ProgressListener {
        void onProgress(String file, long bytesDone, long bytesTotal);
    }

    private final URI endpoint;
    private final Path cacheDir;
    private final String token;
    private final boolean offline;
    private final Duration readTimeout;
    private final Duration retryDelay;
    private final ProgressListener progress;
    private final HttpClient http;

    private HubClient(Builder b) {
        this.endpoint = b.endpoint;
        this.cacheDir = b.cacheDir;
        this.token = b.token;
        this.offline = b.offline;
        this.readTimeout = b.readTimeout;
        this.retryDelay = b.retryDelay;
        this.progress = b.progress;
        this.http = HttpClient.newBuilder()
                .connectTimeout(b.connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .version(HttpClient.Version.HTTP_1_1)
                .build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public URI endpoint() {
        return endpoint;
    }

    public Path cacheDir() {
        return cacheDir;
    }

    public boolean offline() {
        return offline;
    }

    /**
     * Resolves {@code repoId[@revision]} (revision defaults to {@code main}) and makes {@code config.json},
     * {@code preprocessor_config.json} when the repository has one, and the safetensors weights (single file or index
     * plus every shard) available locally. Returns {@code <cache>/models--org--name/snapshots/<commit>}; its file name
     * is the resolved commit.
     *
     * @throws IllegalArgumentException when the text is not a repo id
     * @throws HubException             for definitive failures (not found, refused, corrupted, offline cache miss)
     * @throws IOException              for network failures when the cache cannot stand in
     */
    public Path snapshot(String repoIdAtRevision) throws IOException {
        RepoRef repo = RepoRef.parse(repoIdAtRevision);
        HubCache cache = new HubCache(cacheDir, repo);
        BlobCheck check = new BlobCheck(cache);
        if (offline) {
            String commit = offlineCommit(repo, cache);
            refuseDamaged(repo, cache, check, commit, "offline mode is on (HF_HUB_OFFLINE)",
                    "unset HF_HUB_OFFLINE and run again to download it afresh");
            return cache.snapshotDir(commit);
        }
        String knownCommit = cache.commitFor(repo.revision());
        // A commit never changes, so a complete and intact snapshot of one needs no request at all.
        if (RepoRef.isCommit(repo.revision()) && complete(cache, knownCommit)
                && damaged(cache, check, knownCommit).isEmpty()) {
            return cache.snapshotDir(knownCommit);
        }
        try {
            return download(repo, cache, check);
        } catch (HubException e) {
            throw e;
        } catch (IOException e) {
            if (knownCommit != null && cache.missing(knownCommit).isEmpty()) {
                refuseDamaged(repo, cache, check, knownCommit, endpoint + " cannot be reached (" + e.getMessage()
                        + ")", "run again once the network is back to download it afresh");
                LOG.log(System.Logger.Level.WARNING, "cannot reach {0} ({1}); using the cached snapshot {2} of {3}",
                        endpoint, e.toString(), knownCommit, repo);
                return cache.snapshotDir(knownCommit);
            }
            throw new IOException("cannot download " + repo + " from " + endpoint + " (" + e.getMessage()
                    + ") and it is not in the cache " + cacheDir + "; check the network or proxy settings"
                    + " (HF_ENDPOINT for a mirror), or download it on a machine with network and copy "
                    + cache.repoDir() + " here", e);
        }
    }

    /**
     * The snapshot files a converter reads that are not what they must be (file name -> what is wrong): each is
     * checked against its blob's sha256 name, its git blob id, or the sha256 recorded when it was first verified.
     */
    private static Map<String, String> damaged(HubCache cache, BlobCheck check, String commit) throws IOException {
        Map<String, String> damaged = new LinkedHashMap<>();
        List<String> files = new ArrayList<>(cache.presentFiles(commit));
        for (int i = 0; i < files.size(); i++) {
            String file = files.get(i);
            Path content = cache.contentOf(commit, file);
            // A blob is named by its ETag; a copy in the snapshot (where links are refused) has only a recorded hash.
            String etag = content.getParent().equals(cache.blobsDir()) ? content.getFileName().toString() : "";
            String mismatch = check.cachedMismatch(content, etag, -1);
            if (mismatch != null) {
                damaged.put(file, mismatch);
            } else if (file.equals(HubCache.WEIGHTS_INDEX) && !cache.has(commit, HubCache.WEIGHTS)) {
                for (String shard : HubCache.shardNames(cache.snapshotDir(commit).resolve(HubCache.WEIGHTS_INDEX))) {
                    if (cache.has(commit, shard)) {
                        files.add(shard);
                    }
                }
            }
        }
        return damaged;
    }

    /** Where nothing can be downloaded, a damaged cached file is an error rather than silently wrong weights. */
    private static void refuseDamaged(RepoRef repo, HubCache cache, BlobCheck check, String commit, String why,
                                      String fix) throws IOException {
        Map<String, String> damaged = damaged(cache, check, commit);
        if (!damaged.isEmpty()) {
            Map.Entry<String, String> first = damaged.entrySet().iterator().next();
            throw new HubException("the cached " + first.getKey() + " of " + repo + " ("
                    + cache.contentOf(commit, first.getKey()) + ") is damaged: it has " + first.getValue() + "; "
                    + why + ", so it cannot be downloaded again now - " + fix);
        }
    }

    /** Online, a snapshot is complete only once the optional preprocessor config is known present or absent too. */
    private static boolean complete(HubCache cache, String commit) throws IOException {
        return cache.missing(commit).isEmpty() && cache.resolved(commit, HubCache.PREPROCESSOR_CONFIG);
    }

    private String offlineCommit(RepoRef repo, HubCache cache) throws IOException {
        String fix = "unset HF_HUB_OFFLINE to download it, or download it on a machine with network and copy "
                + cache.repoDir() + " into " + cacheDir;
        String commit = cache.commitFor(repo.revision());
        if (commit == null) {
            throw new HubException("offline mode is on (HF_HUB_OFFLINE) and revision '" + repo.revision() + "' of "
                    + repo.repoId() + " is not in the cache " + cacheDir + " (no " + cache.repoDir().resolve("refs")
                    + "/" + repo.revision() + "); " + fix);
        }
        List<String> missing = cache.missing(commit);
        if (!missing.isEmpty()) {
            throw new HubException("offline mode is on (HF_HUB_OFFLINE) and the cached snapshot "
                    + cache.snapshotDir(commit) + " of " + repo + " lacks " + String.join(", ", missing) + "; " + fix);
        }
        return commit;
    }

    private Path download(RepoRef repo, HubCache cache, BlobCheck check) throws IOException {
        FileMeta config = head(repo, repo.revision(), HubCache.CONFIG);
        if (config == null) {
            throw new HubException(repo + " has no " + HubCache.CONFIG + " on " + endpoint
                    + "; it is not a transformers/timm model repository vitfit can convert");
        }
        String commit = config.commit();
        // A damaged cached file is unlinked from the snapshot, so it is fetched again below (its blob replaced).
        for (String file : damaged(cache, check, commit).keySet()) {
            LOG.log(System.Logger.Level.WARNING, "cached {0} of {1} is damaged; downloading it again", file, repo);
            cache.unlink(commit, file);
        }
        if (complete(cache, commit)) {
            cache.writeRef(repo.revision(), commit);
            return cache.snapshotDir(commit);
        }
        // Every further file is asked for at the commit, so that a push during the download cannot mix revisions.
        fetch(repo, cache, check, commit, HubCache.CONFIG, config);
        fetchIfPresent(repo, cache, check, commit, HubCache.PREPROCESSOR_CONFIG);
        if (!fetchIfPresent(repo, cache, check, commit, HubCache.WEIGHTS)) {
            if (!fetchIfPresent(repo, cache, check, commit, HubCache.WEIGHTS_INDEX)) {
                throw new HubException(repo + " (commit " + commit + ") has neither " + HubCache.WEIGHTS + " nor "
                        + HubCache.WEIGHTS_INDEX + "; vitfit reads safetensors weights only - pick a revision that"
                        + " has them (many repositories have a refs/pr/N with an automatic safetensors conversion)");
            }
            for (String shard : HubCache.shardNames(cache.snapshotDir(commit).resolve(HubCache.WEIGHTS_INDEX))) {
                if (!fetchIfPresent(repo, cache, check, commit, shard)) {
                    throw new HubException(repo + " (commit " + commit + "): shard " + shard + " named in "
                            + HubCache.WEIGHTS_INDEX + " does not exist on the Hub; the repository is broken");
                }
            }
        }
        Map<String, String> damaged = damaged(cache, check, commit);
        if (!damaged.isEmpty()) {
            throw new HubException("the snapshot " + cache.snapshotDir(commit) + " of " + repo + " is still damaged after "
                    + "downloading: " + damaged + "; another program may be writing into " + cache.repoDir());
        }
        // The ref moves only once the snapshot is complete, so a failed download leaves the previous one usable.
        cache.writeRef(repo.revision(), commit);
        return cache.snapshotDir(commit);
    }

    private boolean fetchIfPresent(RepoRef repo, HubCache cache, BlobCheck check, String commit, String file)
            throws IOException {
        if (cache.has(commit, file)) {
            return true;
        }
        if (cache.knownAbsent(commit, file)) {
            return false;
        }
        FileMeta meta = head(repo, commit, file);
        if (meta == null) {
            cache.markAbsent(commit, file);
            return false;
        }
        fetch(repo, cache, check, commit, file, meta);
        return true;
    }

    private void fetch(RepoRef repo, HubCache cache, BlobCheck check, String commit, String file, FileMeta meta)
            throws IOException {
        if (cache.has(commit, file)) {
            return;
        }
        Path blob = cache.blob(meta.etag());
        // A blob already there is used only once it checks out; otherwise it is downloaded again and replaced.
        if (!Files.isRegularFile(blob) || check.cachedMismatch(blob, meta.etag(), meta.size()) != null) {
            downloadBlob(repo, file, meta, blob, check);
        }
        cache.link(commit, file, blob);
        check.copied(blob, cache.snapshotDir(commit).resolve(file));
    }

    /** What a HEAD on a resolve URL says about a file; null from {@link #head} when the file does not exist. */
    private record FileMeta(String commit, String etag, long size, URI location) {
    }

    /**
     * HEAD, retried like a download when the server answers 5xx or 429 or the connection breaks; not when nothing
     * answers at all (then the cache can stand in at once).
     */
    private FileMeta head(RepoRef repo, String revision, String file) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return headOnce(repo, revision, file);
            } catch (HubException | ConnectException e) {
                throw e;
            } catch (IOException e) {
                if (attempt >= MAX_FRUITLESS_ATTEMPTS) {
                    throw e;
                }
                LOG.log(System.Logger.Level.INFO, "HEAD {0} of {1} failed ({2}); retrying", file, repo, e.toString());
                sleep(retryDelay.multipliedBy(attempt));
            }
        }
    }

    private FileMeta headOnce(RepoRef repo, String revision, String file) throws IOException {
        URI uri = resolveUri(repo, revision, file);
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpResponse<Void> response = send(request(uri, "HEAD", -1), HttpResponse.BodyHandlers.discarding());
            int status = response.statusCode();
            HttpHeaders headers = response.headers();
            Optional<String> location = headers.firstValue("Location");
            if (status >= 300 && status < 400 && location.isPresent()) {
                URI target = redirectTarget(uri, location.get());
                // Relative redirects are renamed repositories: follow. Absolute ones point at the CDN: download there.
                if (!location.get().contains("://")) {
                    uri = target;
                    continue;
                }
                return meta(uri, headers, false, commit -> target);
            }
            if (status == 200) {
                URI asked = uri;
                // Small files are served directly: fetch them at the commit, in case the branch moves meanwhile.
                return meta(uri, headers, true, commit -> asked.equals(resolveUri(repo, revision, file))
                        ? resolveUri(repo, commit, file) : asked);
            }
            String errorCode = headers.firstValue("X-Error-Code").orElse("");
            if (status == 404 && (errorCode.isEmpty() || errorCode.equals("EntryNotFound"))) {
                return null;
            }
            throw statusFailure(repo, file, uri, status, errorCode);
        }
        throw new HubException("more than " + MAX_REDIRECTS + " redirects resolving " + file + " of " + repo
                + " at " + endpoint + "; check HF_ENDPOINT");
    }

    private FileMeta meta(URI uri, HttpHeaders headers, boolean isContent, Function<String, URI> locationForCommit)
            throws HubException {
        String commit = headers.firstValue("X-Repo-Commit").orElse(null);
        String etag = headers.firstValue("X-Linked-Etag").or(() -> headers.firstValue("ETag"))
                .map(HubClient::normalizeEtag).orElse(null);
        if (commit == null || !RepoRef.isCommit(commit) || etag == null) {
            throw new HubException(uri + " answered without " + (commit == null || !RepoRef.isCommit(commit)
                    ? "a commit hash in X-Repo-Commit" : "an ETag") + "; is " + endpoint
                    + " a Hugging Face Hub (check HF_ENDPOINT), or is a proxy stripping headers?");
        }
        if (!SAFE_ETAG.matcher(etag).matches()) {
            throw new HubException(uri + " sent ETag '" + etag + "', which cannot name a cache file; is " + endpoint
                    + " a Hugging Face Hub (check HF_ENDPOINT)?");
        }
        // A redirect's Content-Length is that of the redirect page, not of the file.
        long size = headers.firstValue("X-Linked-Size")
                .or(() -> isContent ? headers.firstValue("Content-Length") : Optional.empty())
                .map(HubClient::parseSize).orElse(-1L);
        return new FileMeta(commit, etag, size, locationForCommit.apply(commit));
    }

    private static URI redirectTarget(URI from, String location) throws HubException {
        try {
            return from.resolve(location);
        } catch (IllegalArgumentException e) {
            throw new HubException(from + " redirected to '" + location + "', which is not a URL; check HF_ENDPOINT", e);
        }
    }

    private static String normalizeEtag(String etag) {
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        return e.replace("\"", "").trim();
    }

    private static long parseSize(String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private HubException statusError(RepoRef repo, String file, URI uri, int status, String errorCode) {
        String tokenHint = token == null ? "set HF_TOKEN to a token that has access"
                : "check that HF_TOKEN has access to it";
        return switch (errorCode) {
            case "GatedRepo" -> new HubException(repo.repoId() + " is gated: accept its conditions at " + endpoint
                    + "/" + repo.repoId() + " and " + tokenHint);
            case "RepoNotFound", "RepositoryNotFound" -> new HubException("repository " + repo.repoId()
                    + " not found on " + endpoint + " (or it is private: " + tokenHint + ")");
            case "RevisionNotFound" -> new HubException("revision '" + repo.revision() + "' not found in "
                    + repo.repoId() + "; use a branch, tag or commit that exists");
            default -> status == 401 || status == 403
                    ? new HubException(endpoint + " refused " + file + " of " + repo + " (HTTP " + status + "); "
                    + tokenHint + " and, for gated models, accept the conditions on the model page")
                    : status >= 500 || status == 429
                    // Not a HubException: the server may recover, and the cache may stand in meanwhile.
                    ? null
                    : new HubException(uri + " answered HTTP " + status + (errorCode.isEmpty() ? "" : " (" + errorCode + ")")
                    + "; check the repository id and revision");
        };
    }

    private IOException statusFailure(RepoRef repo, String file, URI uri, int status, String errorCode) {
        HubException definitive = statusError(repo, file, uri, status, errorCode);
        return definitive != null ? definitive
                : new IOException(uri + " answered HTTP " + status + "; the Hub is unavailable - try again later");
    }

    private void downloadBlob(RepoRef repo, String file, FileMeta meta, Path blob, BlobCheck check)
            throws IOException {
        Files.createDirectories(blob.getParent());
        Path incomplete = blob.resolveSibling(blob.getFileName() + ".incomplete");
        // Where huggingface_hub keeps its locks. They are never deleted: deleting one while another process waits
        // on it would let a third process lock a fresh file and write the same .incomplete concurrently.
        Path lockFile = cacheDir.resolve(".locks").resolve(repo.cacheFolderName()).resolve(blob.getFileName() + ".lock");
        Files.createDirectories(lockFile.getParent());
        synchronized (BLOB_MONITORS.computeIfAbsent(blob, k -> new Object())) {
            // Closing the channel releases the lock.
            try (FileChannel lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                lockChannel.lock();
                check.forget(blob);
                if (Files.isRegularFile(blob) && check.cachedMismatch(blob, meta.etag(), meta.size()) == null) {
                    return; // another process finished it while we waited for the lock
                }
                transferWithRetries(repo, file, meta, incomplete);
                String mismatch = check.downloadMismatch(incomplete, meta.etag(), meta.size());
                if (mismatch != null) {
                    Files.delete(incomplete);
                    check.forget(incomplete);
                    throw new HubException((mismatch.contains(" bytes but ") ? "size" : "checksum") + " mismatch for "
                            + file + " of " + repo + ": the download has " + mismatch + "; deleted it - run again, and "
                            + "if it persists check proxies or HF_ENDPOINT");
                }
                if (meta.size() < 0 && !BlobCheck.SHA256.matcher(meta.etag()).matches()
                        && !BlobCheck.GIT_OID.matcher(meta.etag()).matches()) {
                    LOG.log(System.Logger.Level.WARNING, "{0} of {1}: the server sent neither a size nor a content "
                            + "hash (ETag {2}), so this download cannot be verified; its sha256 is recorded so that "
                            + "later changes are caught", file, repo, meta.etag());
                }
                // Its bytes are on disk before the rename, so a crash cannot leave a complete-looking torn blob; a
                // damaged blob it replaces is gone only once the new one is in place.
                Durable.fsync(incomplete);
                Durable.moveAtomically(incomplete, blob, true);
                Durable.fsyncDirectory(blob.getParent());
                check.committed(incomplete, blob, meta.etag());
            }
        }
    }

    /**
     * Retries failed transfers, resuming each time. Only failures that brought no new bytes count towards the limit,
     * and they back off, so a connection that keeps dropping still finishes while a dead one gives up.
     */
    private void transferWithRetries(RepoRef repo, String file, FileMeta meta, Path incomplete) throws IOException {
        int fruitless = 0;
        while (true) {
            long before = Files.isRegularFile(incomplete) ? Files.size(incomplete) : 0;
            try {
                transfer(repo, file, meta, incomplete);
                return;
            } catch (HubException e) {
                throw e;
            } catch (IOException e) {
                long after = Files.isRegularFile(incomplete) ? Files.size(incomplete) : 0;
                fruitless = after > before ? 0 : fruitless + 1;
                if (fruitless >= MAX_FRUITLESS_ATTEMPTS) {
                    throw new IOException("downloading " + file + " of " + repo + " failed " + fruitless
                            + " times in a row (" + e.getMessage() + "); the partial file " + incomplete
                            + " is kept and the next run resumes it", e);
                }
                LOG.log(System.Logger.Level.INFO, "download of {0} interrupted at byte {1} ({2}); resuming",
                        file, after, e.toString());
                sleep(retryDelay.multipliedBy(fruitless));
            }
        }
    }

    private static void sleep(Duration duration) throws IOException {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting to retry a download");
        }
    }

    /** One GET, resuming from what {@code incomplete} already holds. */
    private void transfer(RepoRef repo, String file, FileMeta meta, Path incomplete) throws IOException {
        long have = Files.isRegularFile(incomplete) ? Files.size(incomplete) : 0;
        if (meta.size() >= 0 && have == meta.size()) {
            return; // a previous run finished the bytes but not the checks
        }
        if (meta.size() >= 0 && have > meta.size()) {
            Files.delete(incomplete);
            have = 0;
        }
        URI uri = meta.location();
        HttpResponse<InputStream> response = null;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            response = send(request(uri, "GET", have), info -> new TimedBody(readTimeout));
            Optional<String> location = response.headers().firstValue("Location");
            if (response.statusCode() >= 300 && response.statusCode() < 400 && location.isPresent()) {
                response.body().close();
                uri = redirectTarget(uri, location.get());
                response = null;
                continue;
            }
            break;
        }
        if (response == null) {
            throw new HubException("more than " + MAX_REDIRECTS + " redirects downloading " + file + " of " + repo);
        }
        try (InputStream body = response.body()) {
            int status = response.statusCode();
            boolean append;
            if (status == 206) {
                String range = response.headers().firstValue("Content-Range").orElse("");
                Matcher m = CONTENT_RANGE_START.matcher(range);
                if (!m.lookingAt() || Long.parseLong(m.group(1)) != have) {
                    Files.deleteIfExists(incomplete);
                    throw new IOException("asked for bytes from " + have + " but the server sent '" + range
                            + "'; restarting from scratch");
                }
                append = true;
            } else if (status == 200) {
                append = false; // the server ignored the Range header: start over
                have = 0;
            } else if (status == 416) {
                Files.deleteIfExists(incomplete);
                throw new IOException("the server cannot resume at byte " + have + " (HTTP 416); restarting");
            } else {
                String errorCode = response.headers().firstValue("X-Error-Code").orElse("");
                throw statusFailure(repo, file, uri, status, errorCode);
            }
            copy(body, incomplete, append, repo, file, have, announcedSize(meta, response));
        }
    }

    /** The size the HEAD announced, else what this response says the whole file is (-1 when nobody said). */
    private static long announcedSize(FileMeta meta, HttpResponse<?> response) {
        if (meta.size() >= 0) {
            return meta.size();
        }
        if (response.statusCode() == 206) {
            String range = response.headers().firstValue("Content-Range").orElse("");
            int slash = range.lastIndexOf('/');
            return slash < 0 ? -1 : parseSize(range.substring(slash + 1));
        }
        return response.headers().firstValue("Content-Length").map(HubClient::parseSize).orElse(-1L);
    }

    /**
     * Appends the body to {@code target}, never past {@code total} (the announced size, -1 when unknown): a server that
     * sends more is refused at that point instead of filling the disk.
     */
    private void copy(InputStream body, Path target, boolean append, RepoRef repo, String file, long have, long total)
            throws IOException {
        StandardOpenOption mode = append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING;
        boolean tooLong = false;
        try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE, StandardOpenOption.WRITE, mode)) {
            byte[] buffer = new byte[1 << 16];
            long done = have;
            for (int n; (n = body.read(buffer)) >= 0; ) {
                if (total >= 0 && done + n > total) {
                    tooLong = true;
                    break;
                }
                out.write(buffer, 0, n);
                done += n;
                if (progress != null) {
                    progress.onProgress(file, done, total);
                }
            }
        }
        if (tooLong) {
            Files.delete(target);
            throw new HubException("the server sent more than the " + total + " bytes it announced for " + file + " of "
                    + repo + "; stopped there and deleted the download - run again, and if it persists check proxies "
                    + "or HF_ENDPOINT");
        }
    }

    private URI resolveUri(RepoRef repo, String revision, String file) {
        return URI.create(endpoint + "/" + repo.repoId() + "/resolve/" + encode(revision) + "/" + encode(file));
    }

    private static String encode(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private HttpRequest request(URI uri, String method, long rangeStart) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                .method(method, HttpRequest.BodyPublishers.noBody())
                .timeout(readTimeout)
                .header("User-Agent", "vitfit-hub-client");
        // The token goes to the Hub only, never to the CDN a download is redirected to.
        if (token != null && sameOrigin(uri, endpoint)) {
            b.header("Authorization", "Bearer " + token);
        }
        if (rangeStart > 0) {
            b.header("Range", "bytes=" + rangeStart + "-");
        }
        return b.build();
    }

    private static boolean sameOrigin(URI a, URI b) {
        return Objects.equals(a.getScheme(), b.getScheme()) && Objects.equals(a.getHost(), b.getHost())
                && a.getPort() == b.getPort();
    }

    private <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler) throws IOException {
        try {
            return http.send(request, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while requesting " + request.uri());
        }
    }

    /** Settings, each defaulting to the environment variable huggingface_hub reads. */
    public static final class Builder {
        private URI endpoint;
        private Path cacheDir;
        private String token;
        private Boolean offlineSetting;
        private boolean offline;
        private Duration connectTimeout = Duration.ofSeconds(10);
        private Duration readTimeout = Duration.ofSeconds(60);
        private Duration retryDelay = Duration.ofMillis(500);
        private ProgressListener progress;
        private Map<String, String> environment = System.getenv();
        private Path home = Path.of(System.getProperty("user.home"));

        private Builder() {
        }

        /** Hub base URL; default {@code HF_ENDPOINT}, else {@code https://huggingface.co}. */
        public Builder endpoint(String url) {
            String trimmed = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
            this.endpoint = URI.create(trimmed);
            if (endpoint.getScheme() == null || endpoint.getHost() == null) {
                throw new IllegalArgumentException("Hub endpoint '" + url + "' is not an http(s) URL");
            }
            return this;
        }

        /** Cache root; default {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}. */
        public Builder cacheDir(Path dir) {
            this.cacheDir = dir;
            return this;
        }

        /** Bearer token for private and gated repositories; default {@code HF_TOKEN}, else the huggingface-cli login file. */
        public Builder token(String token) {
            this.token = token;
            return this;
        }

        /** Use only the cache; default {@code HF_HUB_OFFLINE} in 1/true/yes/on. */
        public Builder offline(boolean offline) {
            this.offlineSetting = offline;
            return this;
        }

        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = timeout;
            return this;
        }

        /** How long to wait for response headers, and for each piece of a body, before giving up. */
        public Builder readTimeout(Duration timeout) {
            this.readTimeout = timeout;
            return this;
        }

        /** The pause before the n-th retry of a failed request is n times this (default 500 ms). */
        public Builder retryDelay(Duration delay) {
            this.retryDelay = delay;
            return this;
        }

        public Builder progress(ProgressListener listener) {
            this.progress = listener;
            return this;
        }

        /** The variables the defaults are read from (the process environment unless set; for tests). */
        public Builder environment(Map<String, String> environment) {
            this.environment = Map.copyOf(environment);
            return this;
        }

        /** The home directory under which the default cache lives (for tests). */
        public Builder home(Path home) {
            this.home = home;
            return this;
        }

        public HubClient build() throws IOException {
            if (endpoint == null) {
                endpoint(env("HF_ENDPOINT").orElse("https://huggingface.co"));
            }
            Path hfHome = env("HF_HOME").map(Path::of)
                    .orElseGet(() -> env("XDG_CACHE_HOME").map(Path::of).orElse(home.resolve(".cache")).resolve("huggingface"));
            if (cacheDir == null) {
                cacheDir = env("HF_HUB_CACHE").map(Path::of).orElse(hfHome.resolve("hub"));
            }
            if (token == null) {
                token = env("HF_TOKEN").orElse(null);
            }
            if (token == null) {
                Path tokenFile = env("HF_TOKEN_PATH").map(Path::of).orElse(hfHome.resolve("token"));
                if (Files.isRegularFile(tokenFile)) {
                    String stored = Files.readString(tokenFile, StandardCharsets.UTF_8).trim();
                    token = stored.isEmpty() ? null : stored;
                }
            }
            offline = offlineSetting != null ? offlineSetting
                    : env("HF_HUB_OFFLINE").map(v -> List.of("1", "true", "yes", "on")
                    .contains(v.trim().toLowerCase(Locale.ROOT))).orElse(false);
            return new HubClient(this);
        }

        private Optional<String> env(String name) {
            return Optional.ofNullable(environment.get(name)).filter(v -> !v.isBlank());
        }
    }
}
