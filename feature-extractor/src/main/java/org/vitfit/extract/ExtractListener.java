package org.vitfit.extract;

import java.util.List;

/** Hears what an extraction run does; every method has a no-op default. Called from the run's threads. */
public interface ExtractListener {

    ExtractListener NONE = new ExtractListener() {
    };

    /** The cache needed recovery when opened (an interrupted run's tail cut off, damaged rows dropped). */
    default void recovered(List<String> notes) {
    }

    /** The model is loaded; {@code images} will be looked at, on {@code device}. */
    default void started(long images, String device) {
    }

    /** {@code done} of the images have been embedded, reused, skipped or failed. */
    default void progress(long done, long images) {
    }

    /** The cache committed; {@code liveRows} rows are now durable. */
    default void committed(long liveRows) {
    }
}
