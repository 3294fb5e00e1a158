package org.vitfit.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.vitfit.runtime.VitfitVersion;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * The small file {@value #FILE_NAME} that says "vitfit wrote this directory, as a KIND". It is the only proof of
 * ownership {@link SafeOutput} accepts before replacing or deleting anything. Format (JSON):
 * <pre>{"format": "vitfit-output", "version": 1, "kind": "head", "vitfit": "0.1.0", "created": "2026-...Z"}</pre>
 */
public record OutputMarker(OutputKind kind, String vitfitVersion, String created) {

    public static final String FILE_NAME = ".vitfit-output.json";
    static final String FORMAT = "vitfit-output";
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A marker is a few dozen bytes; anything larger is not one of ours. */
    private static final long MAX_BYTES = 4096;

    static OutputMarker now(OutputKind kind) {
        return new OutputMarker(kind, VitfitVersion.get(), Instant.now().toString());
    }

    /** Writes the marker into {@code dir} (durably: the marker is what later runs trust). */
    public static void write(Path dir, OutputKind kind) throws IOException {
        OutputMarker m = now(kind);
        ObjectNode n = JSON.createObjectNode();
        n.put("format", FORMAT);
        n.put("version", 1);
        n.put("kind", kind.id());
        n.put("vitfit", m.vitfitVersion());
        n.put("created", m.created());
        Durable.writeAtomically(dir.resolve(FILE_NAME),
                (JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The marker in {@code dir}, or empty when there is none or it is not a valid vitfit marker (a user's file of
     * the same name proves nothing).
     */
    public static Optional<OutputMarker> read(Path dir) {
        Path f = dir.resolve(FILE_NAME);
        try {
            if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS) || Files.size(f) > MAX_BYTES) {
                return Optional.empty();
            }
            JsonNode n = JSON.readTree(Files.readAllBytes(f));
            if (n == null || !FORMAT.equals(n.path("format").asText()) || !n.path("kind").isTextual()) {
                return Optional.empty();
            }
            OutputKind kind = OutputKind.fromId(n.path("kind").asText());
            if (kind == null) {
                return Optional.empty();
            }
            return Optional.of(new OutputMarker(kind, n.path("vitfit").asText(""), n.path("created").asText("")));
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
