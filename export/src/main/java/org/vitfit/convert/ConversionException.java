package org.vitfit.convert;

import java.io.IOException;

/** A checkpoint that cannot be converted; the message names the file or tensor and what to do. */
public class ConversionException extends IOException {
    public ConversionException(String message) {
        super(message);
    }

    public ConversionException(String message, Throwable cause) {
        super(message, cause);
    }
}
