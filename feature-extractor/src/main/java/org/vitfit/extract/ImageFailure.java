package org.vitfit.extract;

/**
 * Why one image cannot be embedded or classified: a {@code reason} from the vocabulary of {@code errors.jsonl}
 * ({@code missing}, {@code broken_link}, {@code unreadable}, {@code empty_file}, {@code truncated}, {@code corrupt},
 * {@code not_an_image}, {@code unsupported_format}, {@code too_many_pixels}, {@code out_of_memory}) and a message
 * that names the file. Not fatal: the run reports it and goes on.
 */
public final class ImageFailure extends Exception {

    private static final long serialVersionUID = 1L;

    private final String reason;

    public ImageFailure(String reason, String message) {
        super(message);
        this.reason = reason;
    }

    public String reason() {
        return reason;
    }
}
