package org.vitfit.cache;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The commit record a cache directory is at: {@code header.json}, or its copy {@code header.backup.json} when
 * {@code header.json} is damaged. Every commit writes both (one after the other, each atomically), so a damaged,
 * truncated or hand-edited header costs nothing: the vectors are checked against their own checksums anyway.
 *
 * <p>A copy is used only when its checksum matches and it agrees with the intact file header of the vectors file it
 * points to (dtype, dimension, epoch, cache id): a header edited with a recomputed checksum ("forged") is caught there.
 * Reader and writer choose the copy the same way and, when neither can be used, fail with the same message.
 *
 * @param header     the commit record in force
 * @param bytes      its bytes as on disk, to restore the other copy from
 * @param fromBackup true when {@code header.json} could not be used and the backup was
 * @param damage     what is wrong with {@code header.json} when {@code fromBackup}, else null
 */
record CommitPoint(CacheHeader header, byte[] bytes, boolean fromBackup, String damage) {

    private record Candidate(CacheHeader header, byte[] bytes, String problem) {
    }

    /** True when the directory holds either copy of the commit record (intact or not). */
    static boolean exists(Path dir) {
        return Files.exists(dir.resolve(CacheFiles.HEADER)) || Files.exists(dir.resolve(CacheFiles.HEADER_BACKUP));
    }

    static CommitPoint read(Path dir) throws IOException {
        if (!exists(dir)) {
            throw new NoSuchFileException(dir.resolve(CacheFiles.HEADER).toString(), null, "not a vitfit embedding "
                    + "cache (no " + CacheFiles.HEADER + "); create one with 'vitfit extract --output " + dir + "'");
        }
        Candidate main = candidate(dir, CacheFiles.HEADER);
        if (main.problem() == null) {
            return new CommitPoint(main.header(), main.bytes(), false, null);
        }
        Candidate backup = candidate(dir, CacheFiles.HEADER_BACKUP);
        if (backup.problem() == null) {
            return new CommitPoint(backup.header(), backup.bytes(), true, main.problem());
        }
        throw new CorruptCacheException(dir + " cannot be read: " + main.problem() + ", and " + backup.problem()
                + ". The commit record says which rows are valid, so no row can be trusted without it: delete " + dir
                + " and run 'vitfit extract' again.");
    }

    /** One copy of the header, with what makes it unusable (or null). */
    private static Candidate candidate(Path dir, String name) throws IOException {
        Path file = dir.resolve(name);
        if (!Files.isRegularFile(file)) {
            return problem(name.equals(CacheFiles.HEADER_BACKUP)
                    ? "there is no " + name + " (caches written before vitfit kept one have none)"
                    : name + " is missing");
        }
        if (Files.size(file) > CacheFiles.MAX_HEADER_BYTES) {
            return problem(name + " is " + Files.size(file) + " bytes, far larger than a cache header");
        }
        byte[] bytes = Files.readAllBytes(file);
        if (bytes.length == 0) {
            return problem(name + " is empty");
        }
        JsonNode node;
        try {
            node = CacheFiles.JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            return problem(name + " is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (!CacheFiles.checksumMatches(node)) {
            return problem(name + " fails its checksum (damaged or edited)");
        }
        CacheHeader h;
        try {
            h = CacheFiles.JSON.treeToValue(node, CacheHeader.class);
        } catch (JsonProcessingException e) {
            return problem(name + " has a malformed field (" + e.getOriginalMessage() + ")");
        }
        if (!CacheHeader.FORMAT.equals(h.format())) {
            return problem(name + " has format '" + h.format() + "', expected '" + CacheHeader.FORMAT + "'");
        }
        if (h.formatVersion() != CacheHeader.FORMAT_VERSION) {
            // Not damage: a cache from another vitfit version. Its backup would say the same.
            throw new CorruptCacheException(file + ": cache format version " + h.formatVersion() + ", this vitfit "
                    + "reads version " + CacheHeader.FORMAT_VERSION + "; re-extract with this version");
        }
        if (h.dimension() < 1 || h.epoch() < 1 || h.rows() < 0 || h.count() < 0 || h.deletedRows() < 0
                || h.indexBytes() < 0 || h.deletionsBytes() < 0) {
            return problem(name + " holds impossible values (dimension " + h.dimension() + ", epoch " + h.epoch()
                    + ", rows " + h.rows() + ")");
        }
        try {
            h.vectorDtype();
        } catch (IllegalArgumentException e) {
            return problem(name + ": " + e.getMessage());
        }
        ByteBuffer fileHeader = CacheFiles.readVectorsHeader(dir.resolve(CacheFiles.vectorsName(h.epoch())));
        if (fileHeader != null && CacheFiles.isIntactVectorsHeader(fileHeader)) {
            String disagreement = CacheFiles.disagreement(fileHeader, h);
            if (disagreement != null) {
                return problem(name + " disagrees with " + CacheFiles.vectorsName(h.epoch()) + " (" + disagreement
                        + "), so it was edited or damaged");
            }
        }
        return new Candidate(h, bytes, null);
    }

    private static Candidate problem(String what) {
        return new Candidate(null, null, what);
    }
}
