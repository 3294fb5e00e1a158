package org.vitfit.heads;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How a head's hyper-parameter was chosen: the regularisation strength C of a linear head, or the epoch count of
 * an MLP trained without a validation split. Written to {@code metrics.json} and the report.
 *
 * @param parameter  {@code "C"} or {@code "epochs"}
 * @param method     {@code "validation split"} or {@code "5-fold cross-validation"}
 * @param metric     what decided: {@code accuracy} or {@code micro ROC-AUC} for C (ties go to the smaller C), the
 *                   validation loss for epochs
 * @param rows       rows the choice was scored on (validation rows, or all training rows across the folds)
 * @param candidates C values tried, from strongest to weakest regularisation (the path stops after two values that
 *                   do not beat the best); for epochs, the best epoch of each fold
 * @param scores     the metric of each candidate (validation or out-of-fold); for epochs, each fold's best loss
 * @param loss       mean validation (out-of-fold) log-loss of each candidate
 * @param chosen     the value the head was trained with (for epochs, the median of the folds' best epochs)
 */
public record ModelSelection(String parameter, String method, String metric, int rows, List<Double> candidates,
                             List<Double> scores, List<Double> loss, double chosen) {

    public ModelSelection {
        candidates = List.copyOf(candidates);
        scores = List.copyOf(scores);
        loss = List.copyOf(loss);
    }

    /** The report's lines. */
    public String summary() {
        if (parameter.equals("epochs")) {
            return String.format(Locale.ROOT, "epochs: %d, the median best epoch of %s on %d training rows "
                    + "(best epoch per fold: %s)", (int) chosen, method, rows, candidates.stream()
                    .map(v -> Integer.toString(v.intValue())).toList());
        }
        List<String> tried = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            tried.add(String.format(Locale.ROOT, "%s: %.4f", format(candidates.get(i)), scores.get(i)));
        }
        return String.format(Locale.ROOT, "C = %s chosen by %s %s on %d rows (%s)", format(chosen), method, metric, rows,
                String.join(", ", tried));
    }

    /** 4 significant digits without trailing zeros: 0.01, 100, 1e-300 (only the mantissa loses its zeros). */
    static String format(double c) {
        String s = String.format(Locale.ROOT, "%.4g", c);
        int e = s.indexOf('e');
        String mantissa = (e < 0 ? s : s.substring(0, e)).replaceAll("\\.0*$|(\\.\\d*?)0+$", "$1");
        return e < 0 ? mantissa : mantissa + s.substring(e);
    }
}
