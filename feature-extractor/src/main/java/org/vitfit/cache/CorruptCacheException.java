package org.vitfit.cache;

import java.io.IOException;

/** A cache file does not hold what its last commit says: damaged on disk or edited by hand. */
public class CorruptCacheException extends IOException {

    public CorruptCacheException(String message) {
        super(message);
    }
}
