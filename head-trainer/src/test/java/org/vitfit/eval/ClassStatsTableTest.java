package org.vitfit.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClassStatsTableTest {

    @Test
    void rowsAreSortedByNameIgnoringCaseWithFourDecimals() {
        List<ClassStats> stats = List.of(
                new ClassStats("samoyed", 1.0, 0.8, 0.8888889, 5),
                new ClassStats("Abyssinian", 0.5, 0.25, 1.0 / 3, 4),
                new ClassStats("beagle", 0.0, 0.0, 0.0, 1));
        String[] lines = ClassStats.table("test: headline", "class", stats).split("\n");
        assertEquals("test: headline", lines[0]);
        assertTrue(lines[1].startsWith("class ") && lines[1].endsWith("support"), lines[1]);
        assertEquals("Abyssinian      0.5000    0.2500    0.3333        4", lines[2]);
        assertTrue(lines[3].startsWith("beagle "), lines[3]);
        assertEquals("samoyed         1.0000    0.8000    0.8889        5", lines[4]);
        assertEquals(5, lines.length);
    }
}
