package org.vitfit.cache;

import java.io.IOException;

/** The cache was made with another model, preprocessing, width or dtype than the run asks for. */
public class CacheMismatchException extends IOException {

    public CacheMismatchException(String message) {
        super(message);
    }
}
