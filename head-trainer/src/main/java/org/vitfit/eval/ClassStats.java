package org.vitfit.eval;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/** Precision, recall, F1 and support of one class or label. */
public record ClassStats(String label, double precision, double recall, double f1, long support) {

    /**
     * The readable report both tasks print: the headline, then one row per class sorted by name (Tribuo's
     * internal label order means nothing to a reader looking for a breed).
     */
    static String table(String headline, String column, List<ClassStats> stats) {
        int width = Math.max(12, stats.stream().mapToInt(c -> c.label().length()).max().orElse(5));
        StringBuilder sb = new StringBuilder();
        sb.append(headline).append('\n');
        sb.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %8s%n", column, "precision", "recall", "f1",
                "support"));
        List<ClassStats> sorted = stats.stream()
                .sorted(Comparator.comparing(ClassStats::label, String.CASE_INSENSITIVE_ORDER)).toList();
        for (ClassStats c : sorted) {
            sb.append(String.format(Locale.ROOT, "%-" + width + "s %9.4f %9.4f %9.4f %8d%n", c.label(), c.precision(),
                    c.recall(), c.f1(), c.support()));
        }
        return sb.toString();
    }
}
