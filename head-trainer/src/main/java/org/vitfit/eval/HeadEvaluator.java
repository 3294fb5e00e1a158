package org.vitfit.eval;

import org.tribuo.Model;
import org.tribuo.Prediction;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.classification.evaluation.ConfusionMatrix;
import org.tribuo.classification.evaluation.LabelEvaluation;
import org.tribuo.classification.evaluation.LabelEvaluator;
import org.tribuo.impl.ArrayExample;
import org.tribuo.multilabel.MultiLabel;
import org.tribuo.multilabel.MultiLabelFactory;
import org.tribuo.multilabel.evaluation.MultiLabelEvaluation;
import org.tribuo.multilabel.evaluation.MultiLabelEvaluator;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.vitfit.heads.EmbeddingSet;
import org.vitfit.heads.Head;
import org.vitfit.heads.HeadTask;
import org.vitfit.runtime.Finite;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Scores rows of an {@link EmbeddingSet} with a {@link Head} and computes the metrics through Tribuo's evaluators
 * ({@link LabelEvaluator}, {@link MultiLabelEvaluator}); the head's own decisions (argmax, or its tuned thresholds)
 * are what gets evaluated.
 */
public final class HeadEvaluator {

    private HeadEvaluator() {
    }

    /** Evaluates {@code head} on {@code rows} of {@code set}, labelling the report with {@code split}. */
    public static EvaluationReport evaluate(Head head, EmbeddingSet set, int[] rows, String split) {
        checkRows(head, set, rows, split);
        return evaluateScores(head, set, rows, head.scores(set, rows), split);
    }

    /**
     * Evaluates scores already computed for {@code rows} ({@code [rows.length][labels]} in the head's label order),
     * for example out-of-fold scores of a cross-validation, with the head's decision rule.
     */
    public static EvaluationReport evaluateScores(Head head, EmbeddingSet set, int[] rows, float[] scores,
                                                  String split) {
        checkRows(head, set, rows, split);
        if (scores.length != rows.length * head.labels().size()) {
            throw new IllegalArgumentException(scores.length + " scores for " + rows.length + " rows of "
                    + head.labels().size() + " labels");
        }
        // A NaN score is never "wrong by chance": it would be evaluated as a (wrong) argmax or a below-threshold label.
        Finite.require(scores, "the head's scores on the " + split + " rows of " + set.source(),
                "the head or the embeddings are damaged; train the head again (or extract the embeddings again)");
        return head.task() == HeadTask.MULTICLASS
                ? classification(head, set, rows, scores, split)
                : multiLabel(head, set, rows, scores, split);
    }

    /** Refuses rows a head cannot be evaluated on: none, unlabelled (multi-class) or with labels it does not know. */
    public static void checkRows(Head head, EmbeddingSet set, int[] rows, String split) {
        if (rows.length == 0) {
            throw new IllegalArgumentException("the " + split + " split of " + set.source() + " has no rows to evaluate");
        }
        Set<String> known = new HashSet<>(head.labels());
        for (int r : rows) {
            List<String> labels = set.labels(r);
            if (head.task() == HeadTask.MULTICLASS && labels.size() != 1) {
                throw new IllegalArgumentException(set.source() + ": " + set.describeRow(r) + " has "
                        + (labels.isEmpty() ? "no label" : labels.size() + " labels " + labels)
                        + "; a multi-class head is evaluated on images with exactly one label");
            }
            for (String l : labels) {
                if (!known.contains(l)) {
                    throw new IllegalArgumentException(set.source() + ": " + set.describeRow(r) + " has label '" + l
                            + "', which the head was not trained on (it knows " + head.labels() + ")");
                }
            }
        }
    }

    private static ClassificationReport classification(Head head, EmbeddingSet set, int[] rows, float[] scores,
                                                       String split) {
        List<String> labels = head.labels();
        int k = labels.size();
        List<Prediction<Label>> predictions = new ArrayList<>(rows.length);
        for (int i = 0; i < rows.length; i++) {
            Map<String, Label> scoreMap = new LinkedHashMap<>();
            int best = 0;
            for (int j = 0; j < k; j++) {
                scoreMap.put(labels.get(j), new Label(labels.get(j), scores[i * k + j]));
                if (scores[i * k + j] > scores[i * k + best]) {
                    best = j;
                }
            }
            ArrayExample<Label> truth = new ArrayExample<>(new Label(set.labels(rows[i]).get(0)));
            predictions.add(new Prediction<>(scoreMap.get(labels.get(best)), scoreMap, head.dimension(), truth, true));
        }
        Model<Label> model = head.model().castModel(Label.class);
        LabelEvaluation eval = new LabelEvaluator().evaluate(model, predictions,
                new SimpleDataSourceProvenance(set.source() + " [" + split + "]", new LabelFactory()));
        ConfusionMatrix<Label> cm = eval.getConfusionMatrix();
        List<ClassStats> perClass = new ArrayList<>();
        long[][] confusion = new long[k][k];
        for (int t = 0; t < k; t++) {
            Label truth = new Label(labels.get(t));
            perClass.add(new ClassStats(labels.get(t), eval.precision(truth), eval.recall(truth), eval.f1(truth),
                    Math.round(cm.support(truth))));
            for (int p = 0; p < k; p++) {
                confusion[t][p] = Math.round(cm.confusion(new Label(labels.get(p)), truth));
            }
        }
        return new ClassificationReport(split, rows.length, eval.accuracy(), eval.macroAveragedF1(),
                eval.balancedErrorRate(), perClass, labels, confusion);
    }

    private static MultiLabelReport multiLabel(Head head, EmbeddingSet set, int[] rows, float[] scores, String split) {
        List<String> labels = head.labels();
        int k = labels.size();
        float[] thresholds = head.thresholds().values();
        boolean[] truthMatrix = new boolean[rows.length * k];
        List<Prediction<MultiLabel>> predictions = new ArrayList<>(rows.length);
        for (int i = 0; i < rows.length; i++) {
            Set<String> trueNames = new HashSet<>(set.labels(rows[i]));
            Map<String, MultiLabel> scoreMap = new LinkedHashMap<>();
            Set<Label> predicted = new HashSet<>();
            Set<Label> actual = new HashSet<>();
            for (int j = 0; j < k; j++) {
                String name = labels.get(j);
                float s = scores[i * k + j];
                Label scored = new Label(name, s);
                scoreMap.put(name, new MultiLabel(scored));
                if (s > thresholds[j]) {
                    predicted.add(scored);
                }
                if (trueNames.contains(name)) {
                    actual.add(new Label(name));
                    truthMatrix[i * k + j] = true;
                }
            }
            ArrayExample<MultiLabel> truth = new ArrayExample<>(new MultiLabel(actual));
            predictions.add(new Prediction<>(new MultiLabel(predicted), scoreMap, head.dimension(), truth, true));
        }
        Model<MultiLabel> model = head.model().castModel(MultiLabel.class);
        MultiLabelEvaluation eval = new MultiLabelEvaluator().evaluate(model, predictions,
                new SimpleDataSourceProvenance(set.source() + " [" + split + "]", new MultiLabelFactory()));
        ConfusionMatrix<MultiLabel> cm = eval.getConfusionMatrix();
        List<LabelStats> perLabel = new ArrayList<>();
        double aucSum = 0;
        int aucCount = 0;
        double apSum = 0;
        int apCount = 0;
        for (int j = 0; j < k; j++) {
            String name = labels.get(j);
            MultiLabel l = new MultiLabel(name);
            float[] column = AveragePrecision.column(scores, k, j);
            boolean[] truth = AveragePrecision.column(truthMatrix, k, j);
            double auc = RocAuc.binary(column, truth);
            double ap = AveragePrecision.binary(column, truth);
            if (!Double.isNaN(auc)) {
                aucSum += auc;
                aucCount++;
            }
            if (!Double.isNaN(ap)) {
                apSum += ap;
                apCount++;
            }
            perLabel.add(new LabelStats(name, thresholds[j], eval.precision(l), eval.recall(l), eval.f1(l),
                    Math.round(cm.support(l)), Double.isNaN(auc) ? null : auc, Double.isNaN(ap) ? null : ap));
        }
        double microAuc = RocAuc.micro(scores, truthMatrix);
        return new MultiLabelReport(split, rows.length, eval.microAveragedF1(), eval.macroAveragedF1(),
                eval.microAveragedPrecision(), eval.microAveragedRecall(), eval.jaccardScore(), Double.isNaN(microAuc) ? null : microAuc,
                aucCount == 0 ? null : aucSum / aucCount, apCount == 0 ? null : apSum / apCount, k - apCount,
                head.thresholds().mode().jsonName(), perLabel);
    }
}
