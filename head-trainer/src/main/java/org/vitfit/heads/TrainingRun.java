package org.vitfit.heads;

import org.vitfit.eval.Charts;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.MetricsFile;
import org.vitfit.io.OutputKind;
import org.vitfit.io.SafeOutput;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The outcome of {@link HeadTrainer#train}: the head, how the rows were split, the training history, how its
 * hyper-parameter was chosen and the metrics on the validation split, the cross-validation folds and the test split
 * (null when not computed).
 *
 * @param crossValidation out-of-fold metrics of the k-fold cross-validation run when there was no validation split
 * @param trainSeconds    wall time of the model fit itself, hyper-parameter search included (no data loading,
 *                        splitting or evaluation)
 * @param classes         number of classes (labels) in the training split
 * @param selection       how C (linear) or the epoch count (MLP without validation rows) was chosen, or null
 * @param checkedBy       which rows the head's reported figures come from, in words
 * @param warnings        things the user must know (no test rows, classes without validation or test rows, unused
 *                        options); printed by {@code vitfit train} and kept in {@code report.txt}
 * @param log             what Tribuo and the trainers logged, kept off the console ({@code training.log})
 */
public record TrainingRun(Head head, SplitAssignment split, TrainingCurve curve, EvaluationReport validation,
                          EvaluationReport crossValidation, EvaluationReport test, double trainSeconds, int classes,
                          ModelSelection selection, String checkedBy, List<String> warnings, List<String> log) {

    public static final String REPORT = "report.txt";
    public static final String CONFUSION_PNG = "confusion_matrix.png";
    public static final String CURVE_PNG = "training_curve.png";
    public static final String LOG = "training.log";

    public TrainingRun {
        warnings = List.copyOf(warnings);
        log = List.copyOf(log);
    }

    TrainingRun withLog(List<String> lines) {
        return new TrainingRun(head, split, curve, validation, crossValidation, test, trainSeconds, classes, selection,
                checkedBy, warnings, lines);
    }

    /** The report printed by {@code vitfit train} and saved as {@code report.txt}, warnings included. */
    public String report() {
        return report(true);
    }

    /** The report; without warnings for a caller that prints them elsewhere (the CLI, on standard error). */
    public String report(boolean withWarnings) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%s %s head, %d classes, %d-dim embeddings; split: %s%n",
                head.kind().jsonName(), head.task().jsonName(), classes, head.dimension(), split.origin()));
        sb.append(String.format(Locale.ROOT, "rows: %d train, %d validation, %d test; fit took %.2f s, %s%n",
                split.train().length, split.validation().length, split.test().length, trainSeconds, steps()));
        if (selection != null) {
            sb.append(selection.summary()).append('\n');
        }
        if (head.thresholds() != null) {
            sb.append(thresholdLine()).append('\n');
        }
        sb.append("checked by: ").append(checkedBy).append('\n');
        if (withWarnings) {
            for (String w : warnings) {
                sb.append("WARNING: ").append(w).append('\n');
            }
        }
        if (validation != null) {
            sb.append(validation.headline()).append('\n');
        }
        if (crossValidation != null) {
            sb.append(crossValidation.headline()).append('\n');
        }
        EvaluationReport table = test != null ? test : crossValidation != null ? crossValidation : validation;
        if (table != null) {
            sb.append('\n').append(table.toTable());
        }
        return sb.toString();
    }

    private String steps() {
        if (curve.unit().equals("iteration")) {
            return String.format(Locale.ROOT, "L-BFGS, %d iterations", curve.trainLoss().size());
        }
        return String.format(Locale.ROOT, "%d epoch(s), kept epoch %d", curve.trainLoss().size(), curve.bestEpoch());
    }

    private String thresholdLine() {
        Thresholds t = head.thresholds();
        String source = validation != null ? "the validation split"
                : crossValidation != null ? "out-of-fold cross-validation scores" : "nothing";
        return switch (t.mode()) {
            case FIXED -> "thresholds: fixed, 0.5 for every label";
            case GLOBAL -> String.format(Locale.ROOT, "thresholds: global, %.2f for every label (best micro-F1 on %s)",
                    t.values()[0], source);
            case PER_LABEL -> "thresholds: per-label, each label's best F1 on " + source
                    + " (column 'threshold' below and in head.json)";
        };
    }

    /** Writes the head and its reports into {@code dir} (see {@link #writeTo(Path, boolean, List)}). */
    public void writeTo(Path dir, boolean overwrite) throws IOException {
        writeTo(dir, overwrite, List.of());
    }

    /**
     * Writes the head plus {@code metrics.json}, {@code report.txt}, {@code training.log},
     * {@code training_curve.png} and (multi-class) {@code confusion_matrix.png} of the test split (else the
     * cross-validation or validation figures) into {@code dir}, all at once, through {@link SafeOutput}: an existing
     * {@code dir} is replaced only with {@code overwrite} and only when it is a head vitfit wrote, and it may not
     * overlap {@code inputs}.
     */
    public void writeTo(Path dir, boolean overwrite, List<SafeOutput.Input> inputs) throws IOException {
        SafeOutput.writeDirectory(dir, OutputKind.HEAD, overwrite, inputs, tmp -> {
            head.writeFiles(tmp);
            Map<String, Object> context = new LinkedHashMap<>();
            context.put("head", head.kind().jsonName());
            context.put("task", head.task().jsonName());
            context.put("split", split.origin());
            context.put("trainRows", split.train().length);
            context.put("validationRows", split.validation().length);
            context.put("testRows", split.test().length);
            context.put("trainSeconds", trainSeconds);
            context.put("checkedBy", checkedBy);
            context.put("warnings", warnings);
            if (selection != null) {
                context.put("selection", selection);
            }
            context.put("curve", curve);
            Map<String, EvaluationReport> reports = new LinkedHashMap<>();
            if (validation != null) {
                reports.put("validation", validation);
            }
            if (crossValidation != null) {
                reports.put("crossValidation", crossValidation);
            }
            if (test != null) {
                reports.put("test", test);
            }
            MetricsFile.write(tmp.resolve(MetricsFile.NAME), context, reports);
            Files.writeString(tmp.resolve(REPORT), report(), StandardCharsets.UTF_8);
            Files.write(tmp.resolve(LOG), log, StandardCharsets.UTF_8);
            Charts.trainingCurve(curve, head.kind().jsonName() + " head training", tmp.resolve(CURVE_PNG));
            EvaluationReport shown = test != null ? test : crossValidation != null ? crossValidation : validation;
            if (shown instanceof ClassificationReport c) {
                Charts.confusionMatrix(c, tmp.resolve(CONFUSION_PNG));
            }
            return null;
        });
    }
}
