package org.vitfit.runtime;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OptionBoundsTest {

    @Test
    void valuesInsideTheRangePassAndOthersAreNamedWithTheRange() {
        assertEquals(4096, OptionBounds.batchSize(4096));
        assertEquals(1, OptionBounds.decodeThreads(1));
        assertEquals("--batch-size must be between 1 and 4096, got 4097 (images per inference call; the default, 8 "
                + "on cpu and 32 on cuda, is close to the fastest)", message(() -> OptionBounds.batchSize(4097)));
        assertEquals("--threads must be between 1 and 256, got 0 (decode threads; the default, one per core, keeps "
                + "the model busy)", message(() -> OptionBounds.decodeThreads(0)));
        assertEquals("--k must be at least 1, got -3 (things)", message(() -> OptionBounds.requireAtLeast("--k", -3,
                1, "things")));
    }

    @Test
    void nanAndInfinityAreOutsideEveryRealRange() {
        assertEquals(0.1, OptionBounds.require("--t", 0.1, 0.1, 3600, "s"));
        assertEquals("--t must be between 0.1 and 3600, got NaN (s)",
                message(() -> OptionBounds.require("--t", Double.NaN, 0.1, 3600, "s")));
        assertEquals("--t must be between 0.1 and 3600, got Infinity (s)",
                message(() -> OptionBounds.require("--t", Double.POSITIVE_INFINITY, 0.1, 3600, "s")));
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }
}
