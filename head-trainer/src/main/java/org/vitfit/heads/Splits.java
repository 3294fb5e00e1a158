package org.vitfit.heads;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.HashSet;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Train / validation / test splits: from the cache's split column when it has one, otherwise seeded and stratified
 * so every class keeps its share in each part (per class for single-label data, iterative stratification of
 * Sechidis, Tsoumakas and Vlahavas 2011 for multi-label data).
 */
public final class Splits {

    private Splits() {
    }

    /**
     * Splits {@code set}. With a split column: rows marked train/val/test are used as marked; when the column has
     * no test rows, the val rows become the held-out test split and the validation split is carved out of train
     * (stratified, {@code validation} of it), so reported metrics never come from rows that tuned the head. Without
     * a column: a stratified split with the given fractions (which must sum to 1).
     */
    public static SplitAssignment assign(LabelledRows set, boolean multiLabel, double train, double validation,
                                         double test, long seed) {
        checkFractions(train, validation, test);
        if (set.hasSplitColumn()) {
            SplitAssignment fromColumn = fromColumn(set, multiLabel, validation / (train + validation), seed);
            if (fromColumn != null) {
                return fromColumn;
            }
        }
        int[] all = range(set.size());
        int[][] parts = stratify(set, all, multiLabel, new double[] {train, validation, test}, seed);
        return new SplitAssignment(parts[0], parts[1], parts[2],
                (multiLabel ? "iterative stratification" : "stratified") + ", seed " + seed + ", fractions "
                        + train + "/" + validation + "/" + test);
    }

    /** Refuses fractions that are not finite, negative, without training rows, or not summing to 1. */
    public static void checkFractions(double train, double validation, double test) {
        boolean ok = Double.isFinite(train) && Double.isFinite(validation) && Double.isFinite(test)
                && train > 0 && validation >= 0 && test >= 0 && Math.abs(train + validation + test - 1) <= 1e-6;
        if (!ok) {
            throw new IllegalArgumentException("split fractions must be three finite numbers TRAIN,VAL,TEST, each >= 0, "
                    + "TRAIN > 0, summing to 1 (e.g. 0.7,0.1,0.2); got " + train + "," + validation + "," + test);
        }
    }

    /** The split column's assignment, or null when it marks only training rows (then fractions decide). */
    private static SplitAssignment fromColumn(LabelledRows set, boolean multiLabel, double carveFraction, long seed) {
        List<Integer> train = new ArrayList<>();
        List<Integer> val = new ArrayList<>();
        List<Integer> test = new ArrayList<>();
        for (int i = 0; i < set.size(); i++) {
            String s = set.split(i);
            if (s == null || s.isBlank()) {
                throw new IllegalArgumentException(set.source() + ": " + set.describeRow(i) + " has no split although "
                        + "other rows do; give every row a split (train, val or test) or none at all");
            }
            switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "train", "training" -> train.add(i);
                case "val", "valid", "validation", "dev" -> val.add(i);
                case "test", "testing" -> test.add(i);
                default -> throw new IllegalArgumentException(set.source() + ": " + set.describeRow(i)
                        + " has split '" + s + "'; expected train, val (or validation) or test");
            }
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException(set.source() + ": the split column marks no row as train");
        }
        if (val.isEmpty() && test.isEmpty()) {
            return null;
        }
        int[] trainRows = toArray(train);
        if (!test.isEmpty() && !val.isEmpty()) {
            return new SplitAssignment(trainRows, toArray(val), toArray(test), "split column");
        }
        int[] heldOut = toArray(test.isEmpty() ? val : test);
        if (carveFraction <= 0) {
            return new SplitAssignment(trainRows, new int[0], heldOut, "split column");
        }
        int[][] carved = stratify(set, trainRows, multiLabel, new double[] {1 - carveFraction, carveFraction}, seed);
        String what = test.isEmpty() ? "split column (val held out as test; validation " : "split column (validation ";
        return new SplitAssignment(carved[0], carved[1], heldOut,
                what + "carved from train, seed " + seed + ")");
    }

    /**
     * Stratified k-fold partition of {@code rows} (indices into {@code set}): {@code k} disjoint parts of about equal
     * size that together hold every row, each keeping the class (label) shares, seeded. Fold {@code i} validates on
     * part {@code i} and trains on the others ({@link #foldTraining}).
     */
    public static int[][] kFold(EmbeddingSet set, int[] rows, boolean multiLabel, int k, long seed) {
        if (k < 2 || k > rows.length) {
            throw new IllegalArgumentException(rows.length + " training rows cannot be cross-validated in " + k
                    + " folds (2 to " + rows.length + " are possible); choose fewer folds (--folds), add a validation "
                    + "split, or add images");
        }
        List<List<String>> labels = new ArrayList<>(rows.length);
        for (int r : rows) {
            labels.add(set.labels(r));
        }
        int[][] local;
        if (multiLabel) {
            double[] fractions = new double[k];
            Arrays.fill(fractions, 1.0 / k);
            local = iterativeStratification(labels, fractions, seed);
        } else {
            // Deal each class's shuffled rows round-robin, carrying the position on from class to class, so small
            // classes do not all land in the first folds and fold sizes differ by at most one.
            SplittableRandom rng = new SplittableRandom(seed);
            Map<String, List<Integer>> byClass = new TreeMap<>();
            for (int i = 0; i < labels.size(); i++) {
                byClass.computeIfAbsent(labels.get(i).isEmpty() ? "" : labels.get(i).get(0), c -> new ArrayList<>())
                        .add(i);
            }
            List<List<Integer>> parts = new ArrayList<>();
            for (int p = 0; p < k; p++) {
                parts.add(new ArrayList<>());
            }
            int next = 0;
            for (List<Integer> members : byClass.values()) {
                shuffle(members, rng);
                for (int i : members) {
                    parts.get(next).add(i);
                    next = (next + 1) % k;
                }
            }
            local = sortedArrays(parts);
        }
        int[][] out = new int[k][];
        for (int p = 0; p < k; p++) {
            out[p] = new int[local[p].length];
            for (int i = 0; i < local[p].length; i++) {
                out[p][i] = rows[local[p][i]];
            }
            Arrays.sort(out[p]);
        }
        return out;
    }

    /** The training rows of fold {@code i}: every part but {@code parts[i]}, sorted. */
    public static int[] foldTraining(int[][] parts, int i) {
        int n = 0;
        for (int p = 0; p < parts.length; p++) {
            n += p == i ? 0 : parts[p].length;
        }
        int[] out = new int[n];
        int at = 0;
        for (int p = 0; p < parts.length; p++) {
            if (p != i) {
                System.arraycopy(parts[p], 0, out, at, parts[p].length);
                at += parts[p].length;
            }
        }
        Arrays.sort(out);
        return out;
    }

    private static int[][] stratify(LabelledRows set, int[] rows, boolean multiLabel, double[] fractions, long seed) {
        List<List<String>> labels = new ArrayList<>(rows.length);
        for (int r : rows) {
            labels.add(set.labels(r));
        }
        int[][] local = multiLabel
                ? keepEveryLabelInFirstPart(labels, iterativeStratification(labels, fractions, seed))
                : stratifiedSingleLabel(labels.stream().map(l -> l.isEmpty() ? "" : l.get(0)).toList(), fractions, seed);
        int[][] out = new int[local.length][];
        for (int p = 0; p < local.length; p++) {
            out[p] = new int[local[p].length];
            for (int i = 0; i < local[p].length; i++) {
                out[p][i] = rows[local[p][i]];
            }
            Arrays.sort(out[p]);
        }
        return out;
    }

    /**
     * Per class, shuffles its rows with {@code seed} and deals {@code fractions} of them to each part (largest
     * remainder rounding, so a class of 10 split 0.5/0/0.5 gives exactly 5 and 5); the first part keeps at least one
     * row of every class. Returns indices into {@code labels}, sorted, one array per fraction.
     */
    public static int[][] stratifiedSingleLabel(List<String> labels, double[] fractions, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, List<Integer>> byClass = new TreeMap<>();
        for (int i = 0; i < labels.size(); i++) {
            byClass.computeIfAbsent(labels.get(i), k -> new ArrayList<>()).add(i);
        }
        List<List<Integer>> parts = new ArrayList<>();
        for (int p = 0; p < fractions.length; p++) {
            parts.add(new ArrayList<>());
        }
        for (List<Integer> members : byClass.values()) {
            shuffle(members, rng);
            int[] counts = apportion(members.size(), fractions);
            int at = 0;
            for (int p = 0; p < fractions.length; p++) {
                for (int c = 0; c < counts[p]; c++) {
                    parts.get(p).add(members.get(at++));
                }
            }
        }
        return sortedArrays(parts);
    }

    /** Largest-remainder apportionment of {@code n} items by {@code fractions}, keeping one in part 0 when n >= 1. */
    static int[] apportion(int n, double[] fractions) {
        int[] counts = new int[fractions.length];
        double[] remainder = new double[fractions.length];
        int assigned = 0;
        for (int p = 0; p < fractions.length; p++) {
            double exact = n * fractions[p];
            counts[p] = (int) Math.floor(exact + 1e-9);
            remainder[p] = exact - counts[p];
            assigned += counts[p];
        }
        while (assigned < n) {
            int best = 0;
            for (int p = 1; p < fractions.length; p++) {
                if (remainder[p] > remainder[best] + 1e-9) {
                    best = p;
                }
            }
            counts[best]++;
            remainder[best] = -1;
            assigned++;
        }
        if (n >= 1 && counts[0] == 0) {
            int donor = 1;
            for (int p = 2; p < counts.length; p++) {
                if (counts[p] > counts[donor]) {
                    donor = p;
                }
            }
            counts[donor]--;
            counts[0]++;
        }
        return counts;
    }

    /**
     * Iterative stratification (Sechidis et al., "On the stratification of multi-label data", ECML PKDD 2011):
     * repeatedly takes the label with the fewest unassigned rows and hands each of its rows to the part that still
     * wants most of that label (ties: the part that wants most rows overall, then random). Rows without labels fill
     * the parts' remaining demand. Returns indices into {@code labelSets}, sorted, one array per fraction.
     */
    public static int[][] iterativeStratification(List<List<String>> labelSets, double[] fractions, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int n = labelSets.size();
        int parts = fractions.length;
        Map<String, Integer> labelIds = new TreeMap<>();
        for (List<String> set : labelSets) {
            for (String l : set) {
                labelIds.putIfAbsent(l, 0);
            }
        }
        int id = 0;
        for (Map.Entry<String, Integer> e : labelIds.entrySet()) {
            e.setValue(id++);
        }
        int numLabels = labelIds.size();
        int[][] rowLabels = new int[n][];
        int[] remainingPerLabel = new int[numLabels];
        List<List<Integer>> rowsPerLabel = new ArrayList<>();
        for (int l = 0; l < numLabels; l++) {
            rowsPerLabel.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            rowLabels[i] = labelSets.get(i).stream().distinct().mapToInt(labelIds::get).toArray();
            for (int l : rowLabels[i]) {
                remainingPerLabel[l]++;
                rowsPerLabel.get(l).add(i);
            }
        }
        double[] desired = new double[parts];
        double[][] desiredPerLabel = new double[numLabels][parts];
        for (int p = 0; p < parts; p++) {
            desired[p] = n * fractions[p];
            for (int l = 0; l < numLabels; l++) {
                desiredPerLabel[l][p] = remainingPerLabel[l] * fractions[p];
            }
        }
        int[] assignment = new int[n];
        Arrays.fill(assignment, -1);
        while (true) {
            int label = -1;
            for (int l = 0; l < numLabels; l++) {
                if (remainingPerLabel[l] > 0 && (label < 0 || remainingPerLabel[l] < remainingPerLabel[label])) {
                    label = l;
                }
            }
            if (label < 0) {
                break;
            }
            List<Integer> rows = new ArrayList<>();
            for (int r : rowsPerLabel.get(label)) {
                if (assignment[r] < 0) {
                    rows.add(r);
                }
            }
            shuffle(rows, rng);
            for (int r : rows) {
                int part = choose(desiredPerLabel[label], desired, rng);
                assignment[r] = part;
                desired[part]--;
                for (int l : rowLabels[r]) {
                    desiredPerLabel[l][part]--;
                    remainingPerLabel[l]--;
                }
            }
        }
        List<Integer> unlabelled = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (assignment[i] < 0) {
                unlabelled.add(i);
            }
        }
        shuffle(unlabelled, rng);
        for (int r : unlabelled) {
            int part = choose(desired, desired, rng);
            assignment[r] = part;
            desired[part]--;
        }
        List<List<Integer>> out = new ArrayList<>();
        for (int p = 0; p < parts; p++) {
            out.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            out.get(assignment[i]).add(i);
        }
        return sortedArrays(out);
    }

    /**
     * A label whose few rows all landed outside the training part could never be learned (and training would
     * refuse it), so one of its rows, the one with the fewest labels, is moved into part 0.
     */
    static int[][] keepEveryLabelInFirstPart(List<List<String>> labelSets, int[][] parts) {
        List<List<Integer>> lists = new ArrayList<>();
        for (int[] p : parts) {
            List<Integer> l = new ArrayList<>();
            for (int r : p) {
                l.add(r);
            }
            lists.add(l);
        }
        Set<String> inFirst = new HashSet<>();
        for (int r : lists.get(0)) {
            inFirst.addAll(labelSets.get(r));
        }
        for (int p = 1; p < lists.size(); p++) {
            for (int r : new ArrayList<>(lists.get(p))) {
                for (String label : labelSets.get(r)) {
                    if (inFirst.contains(label)) {
                        continue;
                    }
                    int donorPart = -1;
                    int donor = -1;
                    for (int q = 1; q < lists.size(); q++) {
                        for (int candidate : lists.get(q)) {
                            if (labelSets.get(candidate).contains(label)
                                    && (donor < 0 || labelSets.get(candidate).size() < labelSets.get(donor).size())) {
                                donor = candidate;
                                donorPart = q;
                            }
                        }
                    }
                    lists.get(donorPart).remove(Integer.valueOf(donor));
                    lists.get(0).add(donor);
                    inFirst.addAll(labelSets.get(donor));
                }
            }
        }
        return sortedArrays(lists);
    }

    private static int choose(double[] primary, double[] secondary, SplittableRandom rng) {
        List<Integer> best = new ArrayList<>();
        for (int p = 0; p < primary.length; p++) {
            if (best.isEmpty() || primary[p] > primary[best.get(0)] + 1e-9) {
                best.clear();
                best.add(p);
            } else if (Math.abs(primary[p] - primary[best.get(0)]) <= 1e-9) {
                best.add(p);
            }
        }
        if (best.size() > 1 && primary != secondary) {
            List<Integer> tie = new ArrayList<>();
            for (int p : best) {
                if (tie.isEmpty() || secondary[p] > secondary[tie.get(0)] + 1e-9) {
                    tie.clear();
                    tie.add(p);
                } else if (Math.abs(secondary[p] - secondary[tie.get(0)]) <= 1e-9) {
                    tie.add(p);
                }
            }
            best = tie;
        }
        return best.get(best.size() == 1 ? 0 : rng.nextInt(best.size()));
    }

    private static void shuffle(List<Integer> list, SplittableRandom rng) {
        for (int i = list.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            Integer t = list.get(i);
            list.set(i, list.get(j));
            list.set(j, t);
        }
    }

    private static int[][] sortedArrays(List<List<Integer>> parts) {
        int[][] out = new int[parts.size()][];
        for (int p = 0; p < out.length; p++) {
            out[p] = toArray(parts.get(p));
            Arrays.sort(out[p]);
        }
        return out;
    }

    private static int[] toArray(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }

    /** Label frequency per part, for tests and reports. */
    static Map<String, int[]> labelCounts(List<List<String>> labelSets, int[][] parts) {
        Map<String, int[]> counts = new HashMap<>();
        for (int p = 0; p < parts.length; p++) {
            for (int r : parts[p]) {
                for (String l : labelSets.get(r)) {
                    counts.computeIfAbsent(l, k -> new int[parts.length])[p]++;
                }
            }
        }
        return counts;
    }
}
