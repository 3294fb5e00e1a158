package org.vitfit.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.vitfit.io.Durable;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The huggingface_hub cache layout for one repository, so that caches filled by either tool serve both:
 * <pre>
 * models--{org}--{name}/
 *   blobs/{etag}                 file contents, named by the Hub's ETag (sha256 for LFS files)
 *   snapshots/{commit}/{file}    relative symlink to ../../blobs/{etag} (a copy where links are not allowed)
 *   refs/{revision}              the commit a branch or tag resolved to when last downloaded
 *   .no_exist/{commit}/{file}    empty marker: the Hub said the file does not exist at that commit
 *   .vitfit-verified/blobs/{etag}.sha256   vitfit only: sha256 of a blob not named by its sha256, recorded when
 *                                it was verified, checked before every later use
 * </pre>
 */
final class HubCache {

    static final String CONFIG = "config.json";
    static final String PREPROCESSOR_CONFIG = "preprocessor_config.json";
    static final String WEIGHTS = "model.safetensors";
    static final String WEIGHTS_INDEX = "model.safetensors.index.json";

    /** Where vitfit keeps the sha256 of cached files that are not named by it; huggingface_hub ignores it. */
    static final String VERIFIED = ".vitfit-verified";
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    /** Shard names come from a downloaded file, so they must not be able to name paths outside the snapshot. */
    private static final Pattern PLAIN_FILE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]*");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path repoDir;

    HubCache(Path cacheDir, RepoRef repo) {
        this.repoDir = cacheDir.resolve(repo.cacheFolderName());
    }

    Path repoDir() {
        return repoDir;
    }

    Path blob(String etag) {
        return blobsDir().resolve(etag);
    }

    Path blobsDir() {
        return repoDir.resolve("blobs");
    }

    Path snapshotDir(String commit) {
        return repoDir.resolve("snapshots").resolve(commit);
    }

    private Path ref(String revision) {
        return repoDir.resolve("refs").resolve(revision);
    }

    /** The commit the revision is known to be, or null: a commit is itself, a branch or tag needs its ref file. */
    String commitFor(String revision) throws IOException {
        if (RepoRef.isCommit(revision)) {
            return revision;
        }
        Path ref = ref(revision);
        if (!Files.isRegularFile(ref)) {
            return null;
        }
        String commit = Files.readString(ref, StandardCharsets.UTF_8).trim();
        return RepoRef.isCommit(commit) ? commit : null;
    }

    void writeRef(String revision, String commit) throws IOException {
        if (revision.equals(commit)) {
            return;
        }
        Path ref = ref(revision);
        Files.createDirectories(ref.getParent());
        Durable.writeAtomically(ref, commit.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The file snapshots/{commit}/{file} stands for: the blob its link points to, or the file itself where the
     * snapshot holds a copy.
     */
    Path contentOf(String commit, String file) throws IOException {
        Path entry = snapshotDir(commit).resolve(file);
        return Files.isSymbolicLink(entry) ? entry.resolveSibling(Files.readSymbolicLink(entry)).normalize() : entry;
    }

    /** Removes snapshots/{commit}/{file} (a link, or a copy of a blob) so the file is fetched again. */
    void unlink(String commit, String file) throws IOException {
        Files.deleteIfExists(snapshotDir(commit).resolve(file));
    }

    /**
     * The sha256 recorded for a cached file whose name is not its sha256 (a git blob id, an opaque ETag, a copy),
     * when it was first verified; null when none was recorded.
     */
    String recordedSha256(Path content) throws IOException {
        Path record = recordFile(content);
        if (record == null || !Files.isRegularFile(record) || Files.size(record) > 128) {
            return null;
        }
        String sha = Files.readString(record, StandardCharsets.UTF_8).trim();
        return SHA256.matcher(sha).matches() ? sha : null;
    }

    void recordSha256(Path content, String sha256) throws IOException {
        Path record = recordFile(content);
        if (record != null) {
            Files.createDirectories(record.getParent());
            Durable.writeAtomically(record, (sha256 + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** {@value #VERIFIED}/{path below the repository folder}; null for a path outside it. */
    private Path recordFile(Path content) {
        Path rel = repoDir.toAbsolutePath().normalize().relativize(content.toAbsolutePath().normalize());
        if (rel.startsWith("..") || rel.isAbsolute()) {
            return null;
        }
        return repoDir.resolve(VERIFIED).resolve(rel.toString() + ".sha256");
    }

    /** Points snapshots/{commit}/{file} at the blob: a relative symlink like huggingface_hub's, else a copy. */
    void link(String commit, String file, Path blob) throws IOException {
        Path target = snapshotDir(commit).resolve(file);
        Files.createDirectories(target.getParent());
        Files.deleteIfExists(target);
        try {
            Files.createSymbolicLink(target, target.getParent().relativize(blob));
        } catch (UnsupportedOperationException | FileSystemException e) {
            // Windows without developer mode refuses symlinks; huggingface_hub copies there too.
            Files.copy(blob, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Records that the file does not exist at the commit, so that it need not be asked for again. */
    void markAbsent(String commit, String file) throws IOException {
        Path marker = repoDir.resolve(".no_exist").resolve(commit).resolve(file);
        Files.createDirectories(marker.getParent());
        if (!Files.exists(marker)) {
            Files.createFile(marker);
        }
    }

    boolean knownAbsent(String commit, String file) {
        return Files.exists(repoDir.resolve(".no_exist").resolve(commit).resolve(file));
    }

    /** Whether the file is present, or known not to exist at the commit. */
    boolean resolved(String commit, String file) {
        return has(commit, file) || knownAbsent(commit, file);
    }

    /** Whether snapshots/{commit}/{file} is present (a dangling link is not). */
    boolean has(String commit, String file) {
        return Files.isRegularFile(snapshotDir(commit).resolve(file));
    }

    /**
     * What the snapshot lacks for a converter: config.json and the weights (model.safetensors, or the index and every
     * shard it names). Empty when usable. preprocessor_config.json is optional, so it is not listed; a snapshot made
     * by other tools may lack it without a .no_exist marker.
     */
    List<String> missing(String commit) throws IOException {
        List<String> missing = new ArrayList<>();
        if (!has(commit, CONFIG)) {
            missing.add(CONFIG);
        }
        if (!has(commit, WEIGHTS)) {
            if (!has(commit, WEIGHTS_INDEX)) {
                missing.add(WEIGHTS + " (or " + WEIGHTS_INDEX + " and its shards)");
            } else {
                for (String shard : shardNames(snapshotDir(commit).resolve(WEIGHTS_INDEX))) {
                    if (!has(commit, shard)) {
                        missing.add(shard);
                    }
                }
            }
        }
        return missing;
    }

    /**
     * The files of a snapshot a converter reads that are present: config, preprocessor config, and the weights or
     * their index (the shards an index names are listed by {@link #shardNames}).
     */
    List<String> presentFiles(String commit) {
        List<String> present = new ArrayList<>();
        for (String file : List.of(CONFIG, PREPROCESSOR_CONFIG, WEIGHTS, WEIGHTS_INDEX)) {
            if (has(commit, file)) {
                present.add(file);
            }
        }
        return present;
    }

    /** The distinct shard files a sharded index's weight_map names, sorted. */
    static List<String> shardNames(Path index) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(index.toFile());
        } catch (IOException e) {
            throw new HubException(index + " is not valid JSON (" + e.getMessage() + "); delete it and download again", e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
            throw new HubException(index + " has no non-empty \"weight_map\"; the repository's index is broken");
        }
        TreeSet<String> shards = new TreeSet<>();
        for (Iterator<JsonNode> it = weightMap.elements(); it.hasNext(); ) {
            JsonNode shard = it.next();
            if (!shard.isTextual() || !PLAIN_FILE_NAME.matcher(shard.textValue()).matches()) {
                throw new HubException(index + " names shard " + shard + ", which is not a plain file name;"
                        + " vitfit only downloads shards that sit beside the index");
            }
            shards.add(shard.textValue());
        }
        return List.copyOf(shards);
    }
}
