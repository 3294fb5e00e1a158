package org.vitfit.heads;

import org.vitfit.eval.Charts;
import org.vitfit.eval.ClassificationReport;
import org.vitfit.eval.EvaluationReport;
import org.vitfit.eval.MetricsFile;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The outcome of {@link HeadTrainer#train}: the head, how the rows were split, the training history and the metrics
 * on the validation and test splits (null when a split is empty).
 *
 * @param trainSeconds wall time of the model fit itself (no data loading, splitting or evaluation)
 * @param classes      number of classes (labels) in the training split
 */
public record TrainingRun(Head head, SplitAssignment split, TrainingCurve curve, EvaluationReport validation,
                          EvaluationReport test, double trainSeconds, int classes) {

    public static final String REPORT = "report.txt";
    public static final String CONFUSION_PNG = "confusion_matrix.png";
    public static final String CURVE_PNG = "training_curve.png";

    /** The report printed by {@code vitfit train} and saved as {@code report.txt}. */
    public String report() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%s %s head, %d classes, %d-dim embeddings; split: %s%n",
                head.kind().jsonName(), head.task().jsonName(), classes, head.dimension(), split.origin()));
        sb.append(String.format(Locale.ROOT, "rows: %d train, %d validation, %d test; fit took %.2f s over %d epoch(s), "
                        + "kept epoch %d%n", split.train().length, split.validation().length, split.test().length,
                trainSeconds, curve.trainLoss().size(), curve.bestEpoch()));
        if (head.thresholds() != null) {
            sb.append("thresholds: ").append(head.thresholds().mode().jsonName()).append('\n');
        }
        if (validation != null) {
            sb.append(validation.headline()).append('\n');
        }
        if (test != null) {
            sb.append('\n').append(test.toTable());
        }
        return sb.toString();
    }

    /**
     * Writes the head plus {@code metrics.json}, {@code report.txt}, {@code training_curve.png} and (multi-class)
     * {@code confusion_matrix.png} of the test split (validation when there is no test split) into {@code dir},
     * all at once.
     */
    public void writeTo(Path dir, boolean overwrite) throws IOException {
        AtomicDirectory.write(dir, overwrite, tmp -> {
            head.writeFiles(tmp);
            Map<String, Object> context = new LinkedHashMap<>();
            context.put("head", head.kind().jsonName());
            context.put("task", head.task().jsonName());
            context.put("split", split.origin());
            context.put("trainRows", split.train().length);
            context.put("validationRows", split.validation().length);
            context.put("testRows", split.test().length);
            context.put("trainSeconds", trainSeconds);
            context.put("curve", curve);
            Map<String, EvaluationReport> reports = new LinkedHashMap<>();
            if (validation != null) {
                reports.put("validation", validation);
            }
            if (test != null) {
                reports.put("test", test);
            }
            MetricsFile.write(tmp.resolve(MetricsFile.NAME), context, reports);
            Files.writeString(tmp.resolve(REPORT), report(), StandardCharsets.UTF_8);
            Charts.trainingCurve(curve, head.kind().jsonName() + " head training", tmp.resolve(CURVE_PNG));
            EvaluationReport shown = test != null ? test : validation;
            if (shown instanceof ClassificationReport c) {
                Charts.confusionMatrix(c, tmp.resolve(CONFUSION_PNG));
            }
        });
    }
}
