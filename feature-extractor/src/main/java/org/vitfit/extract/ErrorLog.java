package org.vitfit.extract;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.cache.EmbeddingCache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The images a run could not embed, one JSON object per line ({@code path}, {@code reason}, {@code message}).
 * Written to a {@code .partial} file during the run and renamed over {@code errors.jsonl} at the end, so the file
 * always describes one complete run.
 */
final class ErrorLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path partial;
    private final Path target;
    private final FileChannel channel;
    private long count;

    private ErrorLog(Path dir) throws IOException {
        this.target = dir.resolve(EmbeddingCache.ERRORS_FILE);
        this.partial = dir.resolve(EmbeddingCache.ERRORS_FILE + ".partial");
        this.channel = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
    }

    static ErrorLog begin(Path cacheDir) throws IOException {
        return new ErrorLog(cacheDir);
    }

    void add(String path, String reason, String message) throws IOException {
        ObjectNode n = JSON.createObjectNode().put("path", path).put("reason", reason).put("message", message);
        byte[] line = (JSON.writeValueAsString(n) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.wrap(line);
        while (b.hasRemaining()) {
            channel.write(b);
        }
        count++;
    }

    long count() {
        return count;
    }

    Path file() {
        return target;
    }

    /** Publishes the log of this (complete) run as {@code errors.jsonl}. */
    void finish() throws IOException {
        channel.force(true);
        channel.close();
        Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
