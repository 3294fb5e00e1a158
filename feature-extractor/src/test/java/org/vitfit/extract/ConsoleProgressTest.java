package org.vitfit.extract;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Redirected output gets plain progress lines: no carriage returns, no escape codes, a line every interval. */
class ConsoleProgressTest {

    private static String run(long intervalMillis, long... steps) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
             ConsoleProgress p = new ConsoleProgress(out, false, intervalMillis)) {
            p.recovered(List.of("discarded what an interrupted run wrote after its last commit"));
            p.started(4, "cpu");
            for (long s : steps) {
                p.progress(s, 4);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void plainLinesWhenNotATerminal() {
        String log = run(0, 2, 4);
        assertFalse(log.contains("\r") || log.contains("\u001b"), log);
        List<String> lines = log.lines().toList();
        assertEquals("cache recovery: discarded what an interrupted run wrote after its last commit", lines.get(0));
        assertEquals("extracting 4 images, running on cpu", lines.get(1));
        assertTrue(lines.get(2).matches("extract: 2/4 images \\(50%\\), [0-9.]+ img/s, about 0:00:0[0-9] left"),
                lines.get(2));
        assertTrue(lines.get(3).matches("extract: 4/4 images \\(100%\\), [0-9.]+ img/s"), lines.get(3));
        assertEquals(4, lines.size(), "the final count is not printed twice: " + lines);
    }

    @Test
    void linesAreThrottledAndTheLastOneAlwaysPrinted() {
        List<String> lines = run(60_000, 1, 2, 3, 4).lines().toList();
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.get(2).startsWith("extract: 4/4 images (100%)"), lines.toString());
    }
}
