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
        return ClassStats.table(headline(), "class", perClass);
    }
}
