package org.vitfit.heads;

import java.util.List;
import java.util.Locale;

/**
 * How a head's hyper-parameter was chosen: the regularisation strength C of a linear head, or the epoch count of
 * an MLP trained without a validation split. Written to {@code metrics.json} and the report.
 *
 * @param parameter  {@code "C"} or {@code "epochs"}
 * @param method     {@code "validation split"} or {@code "5-fold cross-validation"}
 * @param rows       rows the choice was scored on (validation rows, or all training rows across the folds)
 * @param candidates values tried, in order (for C, from strongest to weakest regularisation; the path stops once
 *                   the loss has risen twice in a row)
 * @param loss       mean validation (out-of-fold) log-loss of each candidate; for epochs, the best epoch of each fold
 * @param chosen     the value the head was trained with
 */
public record ModelSelection(String parameter, String method, int rows, List<Double> candidates, List<Double> loss,
                             double chosen) {

    public ModelSelection {
        candidates = List.copyOf(candidates);
        loss = List.copyOf(loss);
    }

    /** One line for the report. */
    public String summary() {
        if (parameter.equals("epochs")) {
            return String.format(Locale.ROOT, "epochs: %d, the median best epoch of %s on %d training rows "
                    + "(best epochs per fold %s)", (int) chosen, method, rows, candidates.stream()
                    .map(v -> Integer.toString(v.intValue())).toList());
        }
        int best = candidates.indexOf(chosen);
        return String.format(Locale.ROOT, "C = %s chosen by %s on %d rows (log-loss %.4f; tried %s)", format(chosen),
                method, rows, best >= 0 ? loss.get(best) : Double.NaN,
                String.join(", ", candidates.stream().map(ModelSelection::format).toList()));
    }

    static String format(double c) {
        return String.format(Locale.ROOT, "%.4g", c).replaceAll("\\.?0+(e|$)", "$1");
    }
}
