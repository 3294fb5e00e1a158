package org.vitfit.hub;

import java.io.IOException;

/**
 * A definitive answer from the Hub or the cache that retrying will not change: a missing repository, revision or
 * file, a refused token, a corrupted download, an offline cache miss. The message says what to do.
 * Other {@link IOException}s from {@link HubClient} are network failures.
 */
public class HubException extends IOException {

    private static final long serialVersionUID = 1L;

    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
