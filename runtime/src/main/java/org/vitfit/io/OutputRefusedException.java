package org.vitfit.io;

import java.io.IOException;

/**
 * An output vitfit will not write because doing so could destroy something that is not its own, or because the
 * output overlaps an input. The message says what is there and what to do; nothing was changed on disk.
 */
public final class OutputRefusedException extends IOException {
    public OutputRefusedException(String message) {
        super(message);
    }
}
