package org.vitfit.eval;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Multi-label metrics: decisions at the head's thresholds (micro and macro F1, micro precision and recall, Jaccard,
 * by Tribuo's {@code MultiLabelEvaluation}) and the ranking quality of the raw scores (micro and macro ROC-AUC,
 * mAP), plus per-label figures.
 *
 * @param microRocAuc           ROC-AUC over every (row, label) pair, null when undefined (no positive or no negative)
 * @param macroRocAuc           mean ROC-AUC over the labels that have positives and negatives in these rows
 * @param meanAveragePrecision  mAP: mean average precision over the labels that have positives in these rows
 * @param labelsWithoutPositive labels left out of mAP and macro ROC-AUC because no evaluated row has them
 * @param thresholdMode         how the thresholds behind the decisions were chosen
 */
public record MultiLabelReport(String split, int examples, double microF1, double macroF1, double microPrecision,
                               double microRecall, double jaccard, Double microRocAuc, Double macroRocAuc,
                               Double meanAveragePrecision, int labelsWithoutPositive, String thresholdMode,
                               List<LabelStats> perLabel) implements EvaluationReport {

    @Override
    public String headline() {
        return String.format(Locale.ROOT, "%s: micro-F1 %.4f, macro-F1 %.4f, mAP %s, micro ROC-AUC %s, macro ROC-AUC %s "
                        + "(%d examples, %s thresholds%s)", split, microF1, macroF1, format(meanAveragePrecision),
                format(microRocAuc), format(macroRocAuc), examples, thresholdMode, labelsWithoutPositive == 0 ? ""
                        : "; " + labelsWithoutPositive + " label(s) without positives left out of mAP and macro ROC-AUC");
    }

    @Override
    public String toTable() {
        int width = Math.max(12, perLabel.stream().mapToInt(c -> c.label().length()).max().orElse(5));
        StringBuilder sb = new StringBuilder();
        sb.append(headline()).append('\n');
        sb.append(String.format(Locale.ROOT, "%-" + width + "s %9s %9s %9s %9s %9s %9s %8s%n", "label", "threshold",
                "precision", "recall", "f1", "ROC-AUC", "AP", "support"));
        List<LabelStats> sorted = perLabel.stream()
                .sorted(Comparator.comparing(LabelStats::label, String.CASE_INSENSITIVE_ORDER)).toList();
        for (LabelStats c : sorted) {
            sb.append(String.format(Locale.ROOT, "%-" + width + "s %9.2f %9.4f %9.4f %9.4f %9s %9s %8d%n", c.label(),
                    c.threshold(), c.precision(), c.recall(), c.f1(), format(c.rocAuc()), format(c.averagePrecision()),
                    c.support()));
        }
        return sb.toString();
    }

    private static String format(Double v) {
        return v == null ? "n/a" : String.format(Locale.ROOT, "%.4f", v);
    }
}
