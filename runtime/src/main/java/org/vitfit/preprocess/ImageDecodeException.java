package org.vitfit.preprocess;

import java.io.IOException;
import java.util.Objects;

/**
 * An image that could not be decoded, with a machine-readable {@link Reason} (the feature extractor
 * writes it to its errors file) and a message that names the source and says what to do.
 */
public class ImageDecodeException extends IOException {

    private static final long serialVersionUID = 1L;

    /** Why decoding failed. */
    public enum Reason {
        /** The file has no bytes. */
        EMPTY_FILE,
        /** The file could not be read at all (missing, unreadable, a directory). */
        UNREADABLE,
        /** No installed decoder recognises the bytes (text, HTML, random data...). */
        NOT_AN_IMAGE,
        /** A recognised image format or variant that no installed decoder handles (HEIF/AVIF, JPEG XL...). */
        UNSUPPORTED_FORMAT,
        /** The data ends before the image does. */
        TRUNCATED,
        /** The header or compressed data is invalid. */
        CORRUPT,
        /** Width x height exceeds the decoder's pixel limit (checked from the header, before decoding). */
        TOO_MANY_PIXELS,
        /** A valid image too large for the memory Java may use (checked from the header, or the decoder ran out). */
        OUT_OF_MEMORY
    }

    private final Reason reason;
    private final String source;

    public ImageDecodeException(Reason reason, String source, String detail, Throwable cause) {
        super(source + ": " + Objects.requireNonNull(reason, "reason") + ": " + detail, cause);
        this.reason = reason;
        this.source = source;
    }

    public ImageDecodeException(Reason reason, String source, String detail) {
        this(reason, source, detail, null);
    }

    public Reason reason() {
        return reason;
    }

    /** The file path or caller-given name of the image. */
    public String source() {
        return source;
    }
}
