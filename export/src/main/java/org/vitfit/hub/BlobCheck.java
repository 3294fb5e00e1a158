package org.vitfit.hub;

import org.vitfit.runtime.Hashing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What a downloaded or cached file must hash to, checked before it is used: an LFS file's sha256 (its ETag, and its
 * blob's name), a regular file's git blob id (the Hub's ETag for files kept in git), or else the sha256 recorded when
 * the file was first verified. One instance per {@link HubClient#snapshot} call, so each file is hashed once.
 */
final class BlobCheck {

    private static final System.Logger LOG = System.getLogger(BlobCheck.class.getName());
    static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    static final Pattern GIT_OID = Pattern.compile("[0-9a-f]{40}");

    private final HubCache cache;
    private final Map<Path, String> sha256s = new HashMap<>();

    BlobCheck(HubCache cache) {
        this.cache = cache;
    }

    /**
     * Why a fresh download does not match what the Hub announced ({@code etag}, {@code size} or -1), or null when it
     * matches. Only an ETag that is neither a sha256 nor a git blob id, with no size, leaves nothing to check.
     */
    String downloadMismatch(Path file, String etag, long size) throws IOException {
        long actual = Files.size(file);
        if (size >= 0 && actual != size) {
            return actual + " bytes but the Hub says " + size;
        }
        return contentMismatch(file, etag);
    }

    /**
     * Why a cached file (a blob, or a copy in a snapshot) is not what it must be, or null when it is. A file with
     * nothing to check it against (another tool's blob named by an opaque ETag) is trusted once and its sha256
     * recorded, so any later change is caught.
     */
    String cachedMismatch(Path content, String etag, long size) throws IOException {
        long actual = Files.size(content);
        if (size >= 0 && actual != size) {
            return actual + " bytes but the Hub says " + size;
        }
        String mismatch = contentMismatch(content, etag);
        if (mismatch != null || SHA256.matcher(etag).matches() || GIT_OID.matcher(etag).matches()) {
            return mismatch;
        }
        String sha = sha256(content);
        String recorded = cache.recordedSha256(content);
        if (recorded == null) {
            LOG.log(System.Logger.Level.WARNING, "{0} has no content hash to check it against; recording its sha256 {1}"
                    + " so that later changes are caught", content, sha);
            cache.recordSha256(content, sha);
            return null;
        }
        return recorded.equals(sha) ? null
                : "sha256 " + sha + ", not the " + recorded + " recorded when it was first verified";
    }

    /** After a verified download is renamed into place: its hash moves with it, and is recorded where needed. */
    void committed(Path incomplete, Path blob, String etag) throws IOException {
        String sha = sha256s.remove(incomplete);
        if (sha == null) {
            sha = sha256(blob);
        }
        sha256s.put(blob, sha);
        if (!SHA256.matcher(etag).matches() && !GIT_OID.matcher(etag).matches()) {
            cache.recordSha256(blob, sha);
        }
    }

    /** Records the sha256 of a snapshot entry that is a copy of {@code blob} (where links are refused). */
    void copied(Path blob, Path copy) throws IOException {
        if (!Files.isSymbolicLink(copy)) {
            String sha = sha256(blob);
            sha256s.put(copy, sha);
            cache.recordSha256(copy, sha);
        }
    }

    void forget(Path file) {
        sha256s.remove(file);
    }

    private String contentMismatch(Path file, String etag) throws IOException {
        if (SHA256.matcher(etag).matches()) {
            String actual = sha256(file);
            return actual.equals(etag) ? null : "sha256 " + actual + " but the Hub says " + etag;
        }
        if (GIT_OID.matcher(etag).matches()) {
            String actual = gitBlobId(file);
            return actual.equals(etag) ? null : "git blob id " + actual + " but the Hub says " + etag;
        }
        return null;
    }

    private String sha256(Path file) throws IOException {
        String known = sha256s.get(file);
        if (known == null) {
            known = Hashing.sha256(file);
            sha256s.put(file, known);
        }
        return known;
    }

    /** git's object id of a file: sha1 of "blob {size}\0" + content, what the Hub sends as the ETag of git files. */
    private static String gitBlobId(Path file) throws IOException {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-1", e);
        }
        sha1.update(("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.US_ASCII));
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                sha1.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha1.digest());
    }
}
