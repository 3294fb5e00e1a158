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
        return ClassStats.table(headline(), "label", perLabel);
    }
}
