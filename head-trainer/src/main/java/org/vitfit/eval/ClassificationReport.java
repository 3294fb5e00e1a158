package org.vitfit.eval;

import java.util.List;
import java.util.Locale;

/**
 * Multi-class metrics, as Tribuo's {@code LabelEvaluation} reports them.
 *
 * @param confusion {@code confusion[t][p]} = examples of true class {@code labels[t]} predicted as {@code labels[p]}
 */
public record ClassificationReport(String split, int examples, double accuracy, double macroF1,
                                   double balancedErrorRate, List<ClassStats> perClass, List<String> labels,
                                   long[][] confusion) implements EvaluationReport {

    @Override
    public String headline() {
        return String.format(Locale.ROOT, "%s: accuracy %.4f, macro-F1 %.4f (%d examples)", split, accuracy, macroF1,
                examples);
    }

    @Override
    public String toTable() {
        int width = Math.max(12, perClass.stream().mapToInt(c -> c.label().length()).max().orElse(5));
        StringBuilder sb = new StringBuilder();
        sb.append(headline()).append('\n');
        sb.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %8s%n", "class", "precision", "recall", "f1",
                "support"));
        for (ClassStats c : perClass) {
            sb.append(String.format(Locale.ROOT, "%-" + width + "s %9.4f %9.4f %9.4f %8d%n", c.label(), c.precision(),
                    c.recall(), c.f1(), c.support()));
        }
        return sb.toString();
    }
}
