package org.vitfit.cache;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HalfTest {

    @Test
    void everyHalfWidensExactlyAndNarrowsBackToItself() {
        for (int bits = 0; bits < 0x10000; bits++) {
            short h = (short) bits;
            float f = Half.toFloat(h);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(f))), "NaN " + Integer.toHexString(bits));
                continue;
            }
            assertEquals(bits, Half.fromFloat(f) & 0xffff, "half 0x" + Integer.toHexString(bits) + " = " + f);
        }
    }

    /**
     * Between two neighbouring halves, the exact midpoint (representable as a float) must round to the even one
     * and anything one float ulp away from it to the nearer one: that is round-to-nearest-even, numpy's rule.
     */
    @Test
    void midpointsRoundToEvenAndNeighboursToNearest() {
        for (int bits = 0; bits < 0x7bff; bits++) {
            float lo = Half.toFloat((short) bits);
            float hi = Half.toFloat((short) (bits + 1));
            float mid = (lo + hi) / 2;
            int even = (bits & 1) == 0 ? bits : bits + 1;
            assertEquals(even, Half.fromFloat(mid), "midpoint of 0x" + Integer.toHexString(bits));
            assertEquals(bits, Half.fromFloat(Math.nextDown(mid)));
            assertEquals(bits + 1, Half.fromFloat(Math.nextUp(mid)));
            assertEquals(bits | 0x8000, Half.fromFloat(-Math.nextDown(mid)) & 0xffff);
        }
    }

    @Test
    void knownValues() {
        assertEquals(0x3c00, Half.fromFloat(1f));
        assertEquals(0x3555, Half.fromFloat(1f / 3));
        assertEquals(0x7bff, Half.fromFloat(65504f));
        assertEquals(0x7bff, Half.fromFloat(65519.99f));
        assertEquals(0x7c00, Half.fromFloat(65520f));
        assertEquals(0x7c00, Half.fromFloat(1e10f));
        assertEquals(0xfc00, Half.fromFloat(Float.NEGATIVE_INFINITY) & 0xffff);
        assertEquals(0x0001, Half.fromFloat(0x1p-24f));
        assertEquals(0x0000, Half.fromFloat(0x1p-25f));
        assertEquals(0x0001, Half.fromFloat(Math.nextUp(0x1p-25f)));
        assertEquals(0x8000, Half.fromFloat(-0f) & 0xffff);
        assertEquals(0x0400, Half.fromFloat(0x1p-14f));
        assertEquals(0x0400, Half.fromFloat(Math.nextDown(0x1p-14f)));
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
    }
}
