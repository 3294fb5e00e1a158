package org.vitfit.extract;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.cache.EmbeddingCache;
import org.vitfit.io.Durable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The images a run could not embed, one JSON object per line ({@code path}, {@code reason}, {@code message}).
 * Written to a {@code .partial} file during the run and renamed over {@code errors.jsonl} at the end, so the file
 * always describes one complete run. Opened only inside a directory proven to be a cache.
 */
final class ErrorLog implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Messages are a sentence or two; a longer one is some library quoting its input, which the log must not copy. */
    static final int MAX_MESSAGE_CHARS = 600;

    private final Path partial;
    private final Path target;
    private final FileChannel channel;
    private long count;

    private ErrorLog(Path dir) throws IOException {
        this.target = dir.resolve(EmbeddingCache.ERRORS_FILE);
        this.partial = dir.resolve(EmbeddingCache.ERRORS_FILE + ".partial");
        try {
            this.channel = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException e) {
            throw Durable.withPath(e, partial);
        }
    }

    static ErrorLog begin(Path cacheDir) throws IOException {
        return new ErrorLog(cacheDir);
    }

    void add(String path, String reason, String message) throws IOException {
        ObjectNode n = JSON.createObjectNode().put("path", path).put("reason", reason).put("message", clean(message));
        ByteBuffer b = ByteBuffer.wrap((JSON.writeValueAsString(n) + "\n").getBytes(StandardCharsets.UTF_8));
        try {
            while (b.hasRemaining()) {
                channel.write(b);
            }
        } catch (IOException e) {
            throw Durable.withPath(e, partial);
        }
        count++;
    }

    /** Control characters replaced, length capped: a message describes the failure, it never quotes a file. */
    static String clean(String message) {
        StringBuilder b = new StringBuilder(Math.min(message.length(), MAX_MESSAGE_CHARS + 3));
        for (int i = 0; i < message.length() && b.length() < MAX_MESSAGE_CHARS; i++) {
            char c = message.charAt(i);
            b.append(Character.isISOControl(c) || Character.getType(c) == Character.FORMAT ? '?' : c);
        }
        if (message.length() > MAX_MESSAGE_CHARS) {
            b.append("...");
        }
        return b.toString();
    }

    long count() {
        return count;
    }

    Path file() {
        return target;
    }

    /** Publishes the log of this (complete) run as {@code errors.jsonl}. */
    void finish() throws IOException {
        try {
            channel.force(true);
            channel.close();
            Durable.moveAtomically(partial, target, true);
            Durable.fsyncDirectory(target.getParent());
        } catch (IOException e) {
            throw Durable.withPath(e, target);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
