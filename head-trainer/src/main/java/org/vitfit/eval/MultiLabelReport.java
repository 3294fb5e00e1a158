package org.vitfit.eval;

import java.util.List;
import java.util.Locale;

/**
 * Multi-label metrics at the head's thresholds (Tribuo's {@code MultiLabelEvaluation}), plus micro ROC-AUC of the
 * raw scores.
 *
 * @param thresholdMode how the thresholds behind these figures were chosen
 */
public record MultiLabelReport(String split, int examples, double microF1, double macroF1, double microPrecision,
                               double microRecall, double jaccard, double microRocAuc, String thresholdMode,
                               List<ClassStats> perLabel) implements EvaluationReport {

    @Override
    public String headline() {
        return String.format(Locale.ROOT, "%s: micro-F1 %.4f, macro-F1 %.4f, Jaccard %.4f, micro ROC-AUC %.4f "
                + "(%d examples, %s thresholds)", split, microF1, macroF1, jaccard, microRocAuc, examples, thresholdMode);
    }

    @Override
    public String toTable() {
        int width = Math.max(12, perLabel.stream().mapToInt(c -> c.label().length()).max().orElse(5));
        StringBuilder sb = new StringBuilder();
        sb.append(headline()).append('\n');
        sb.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %8s%n", "label", "precision", "recall", "f1",
                "support"));
        for (ClassStats c : perLabel) {
            sb.append(String.format(Locale.ROOT, "%-" + width + "s %9.4f %9.4f %9.4f %8d%n", c.label(), c.precision(),
                    c.recall(), c.f1(), c.support()));
        }
        return sb.toString();
    }
}
