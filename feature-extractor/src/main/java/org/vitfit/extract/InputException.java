package org.vitfit.extract;

import java.io.IOException;

/** The input folder or manifest cannot be used as given; the message names the file and line. */
public class InputException extends IOException {

    public InputException(String message) {
        super(message);
    }
}
