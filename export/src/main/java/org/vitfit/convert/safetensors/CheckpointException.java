package org.vitfit.convert.safetensors;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A checkpoint that cannot be used as it is. The message names the file and, where known, the tensor,
 * says what is wrong and what to do about it.
 */
public class CheckpointException extends IOException {

    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String tensor;

    public CheckpointException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    public CheckpointException(Path file, String tensor, String problem, Throwable cause) {
        super(describe(file, tensor, problem), cause);
        this.file = file;
        this.tensor = tensor;
    }

    /** The file at fault (a weight file, a shard index or a checkpoint directory). */
    public Path file() {
        return file;
    }

    /** The tensor at fault, or null when the problem is not about one tensor. */
    public String tensor() {
        return tensor;
    }

    private static String describe(Path file, String tensor, String problem) {
        StringBuilder sb = new StringBuilder();
        sb.append(file == null ? "<unknown file>" : file.toString());
        if (tensor != null) {
            sb.append(": tensor '").append(tensor).append('\'');
        }
        return sb.append(": ").append(problem).toString();
    }
}
