package org.vitfit.heads;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitsTest {

    @Test
    void singleLabelKeepsEveryClassProportion() {
        List<String> labels = new ArrayList<>();
        for (int c = 0; c < 37; c++) {
            for (int i = 0; i < 10; i++) {
                labels.add("breed" + c);
            }
        }
        int[][] parts = Splits.stratifiedSingleLabel(labels, new double[] {0.5, 0.0, 0.5}, 42);
        assertEquals(185, parts[0].length);
        assertEquals(0, parts[1].length);
        assertEquals(185, parts[2].length);
        for (int c = 0; c < 37; c++) {
            String name = "breed" + c;
            assertEquals(5, Arrays.stream(parts[0]).filter(r -> labels.get(r).equals(name)).count());
            assertEquals(5, Arrays.stream(parts[2]).filter(r -> labels.get(r).equals(name)).count());
        }
        assertPartition(parts, labels.size());
        assertArrayEquals(parts[2], Splits.stratifiedSingleLabel(labels, new double[] {0.5, 0.0, 0.5}, 42)[2]);
        assertTrue(!Arrays.equals(parts[2], Splits.stratifiedSingleLabel(labels, new double[] {0.5, 0.0, 0.5}, 43)[2]));
    }

    @Test
    void apportionUsesLargestRemainderAndKeepsOneForTraining() {
        assertArrayEquals(new int[] {7, 1, 2}, Splits.apportion(10, new double[] {0.7, 0.1, 0.2}));
        // 3 rows at 0.7/0.1/0.2: exact 2.1/0.3/0.6 -> floors 2/0/0, the remaining row goes to the largest remainder
        assertArrayEquals(new int[] {2, 0, 1}, Splits.apportion(3, new double[] {0.7, 0.1, 0.2}));
        // one row always trains
        assertArrayEquals(new int[] {1, 0, 0}, Splits.apportion(1, new double[] {0.2, 0.2, 0.6}));
    }

    @Test
    void iterativeStratificationMatchesEveryLabelsShare() {
        Random rng = new Random(5);
        List<List<String>> sets = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            List<String> l = new ArrayList<>();
            for (int k = 0; k < 12; k++) {
                // label frequencies from 40% down to 2%, with co-occurrence
                if (rng.nextDouble() < 0.4 / (1 + k * 0.15 * k)) {
                    l.add("L" + k);
                }
            }
            sets.add(l);
        }
        double[] fractions = {0.7, 0.1, 0.2};
        int[][] parts = Splits.iterativeStratification(sets, fractions, 11);
        assertPartition(parts, sets.size());
        for (int p = 0; p < 3; p++) {
            assertEquals(1000 * fractions[p], parts[p].length, 3, "part " + p + " size");
        }
        Map<String, int[]> counts = Splits.labelCounts(sets, parts);
        for (Map.Entry<String, int[]> e : counts.entrySet()) {
            int total = Arrays.stream(e.getValue()).sum();
            for (int p = 0; p < 3; p++) {
                // Sechidis et al.'s greedy keeps each label's count within about one example of its desired share
                assertEquals(total * fractions[p], e.getValue()[p], 1.5, e.getKey() + " in part " + p + " of " + total);
            }
        }
        assertArrayEquals(parts[1], Splits.iterativeStratification(sets, fractions, 11)[1]);
    }

    @Test
    void aLabelOnlyOutsideTrainingMovesItsSmallestRowIn() {
        List<List<String>> sets = List.of(List.of("a"), List.of("b"), List.of("a", "b", "c"), List.of("c"), List.of("d"));
        int[][] fixed = Splits.keepEveryLabelInFirstPart(sets, new int[][] {{0, 1}, {2}, {3, 4}});
        // c lives in rows 2 and 3 outside part 0: row 3 (one label) moves; d's only row 4 moves too
        assertArrayEquals(new int[] {0, 1, 3, 4}, fixed[0]);
        assertArrayEquals(new int[] {2}, fixed[1]);
        assertArrayEquals(new int[] {}, fixed[2]);
    }

    @Test
    void splitColumnIsUsedAndValBecomesTestWhenThereIsNoTest() {
        EmbeddingSet base = Synthetic.blobs(2, 10, 3, 1, 1);
        List<String> splits = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            splits.add(i < 14 ? "train" : "val");
        }
        EmbeddingSet set = withSplits(base, splits);
        SplitAssignment a = Splits.assign(set, false, 0.7, 0.1, 0.2, 1);
        assertArrayEquals(new int[] {14, 15, 16, 17, 18, 19}, a.test());
        assertEquals(14, a.train().length + a.validation().length);
        assertTrue(a.validation().length >= 1);
        assertTrue(a.origin().contains("val held out as test"), a.origin());

        for (int i = 16; i < 20; i++) {
            splits.set(i, "test");
        }
        SplitAssignment b = Splits.assign(withSplits(base, splits), false, 0.7, 0.1, 0.2, 1);
        assertArrayEquals(new int[] {14, 15}, b.validation());
        assertArrayEquals(new int[] {16, 17, 18, 19}, b.test());
        assertEquals(14, b.train().length);

        splits.set(3, "holdout");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Splits.assign(withSplits(base, splits), false, 0.7, 0.1, 0.2, 1));
        assertTrue(e.getMessage().contains("row 3") && e.getMessage().contains("holdout"), e.getMessage());
    }

    @Test
    void badFractionsAreRejected() {
        EmbeddingSet set = Synthetic.blobs(2, 10, 3, 1, 1);
        assertThrows(IllegalArgumentException.class, () -> Splits.assign(set, false, 0.5, 0.1, 0.2, 1));
        assertThrows(IllegalArgumentException.class, () -> Splits.assign(set, false, 0.0, 0.5, 0.5, 1));
    }

    static EmbeddingSet withSplits(EmbeddingSet base, List<String> splits) {
        List<List<String>> labels = new ArrayList<>();
        for (int i = 0; i < base.size(); i++) {
            labels.add(base.labels(i));
        }
        return new EmbeddingSet(base.data(), base.dimension(), labels, splits, null, base.modelSha256(), base.source());
    }

    private static void assertPartition(int[][] parts, int n) {
        Set<Integer> seen = new HashSet<>();
        for (int[] p : parts) {
            for (int r : p) {
                assertTrue(seen.add(r), "row " + r + " in two parts");
            }
        }
        assertEquals(n, seen.size());
    }
}
