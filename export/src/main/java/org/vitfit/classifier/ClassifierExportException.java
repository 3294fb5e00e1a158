package org.vitfit.classifier;

import java.io.IOException;

/** A model and head that cannot be exported as one classifier; the message says which file, what and what to do. */
public class ClassifierExportException extends IOException {

    private static final long serialVersionUID = 1L;

    public ClassifierExportException(String message) {
        super(message);
    }

    public ClassifierExportException(String message, Throwable cause) {
        super(message, cause);
    }
}
