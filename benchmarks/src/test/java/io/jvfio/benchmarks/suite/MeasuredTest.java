package io.jvfio.benchmarks.suite;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A benchmark measured in rounds, as one result: the rounds' samples pooled. */
class MeasuredTest {

    @Test
    void roundsPoolTheirSamplesAndTakeTheMedianAndP99OfThemAll() {
        Measured a = new Measured("B.m", true, 10, 12, 0, new double[] {9, 10, 12}, new long[] {40, 20, 40}, 2, 1);
        Measured b = new Measured("B.m", true, 20, 30, 0, new double[] {10, 20, 30}, new long[] {10, 80, 10}, 4, 1);

        Measured p = Measured.pooled(List.of(a, b));

        assertArrayEquals(new double[] {9, 10, 12, 20, 30}, p.valuesNs());
        assertArrayEquals(new long[] {40, 30, 40, 80, 10}, p.counts());
        // 200 samples: the 100th (nearest rank) is a 12, the 198th a 30.
        assertEquals(12, p.medianNs());
        assertEquals(30, p.p99Ns());
        assertEquals(3, p.allocBytesPerOp());
        assertEquals("B.m", p.id());
    }

    @Test
    void averagedRoundsGiveTheMeanOfTheirMeansAndTheWidestError() {
        Measured a = new Measured("B.n", false, 1.0, Double.NaN, 0.1, new double[0], new long[0], 0, 1);
        Measured b = new Measured("B.n", false, 2.0, Double.NaN, 0.3, new double[0], new long[0], 0, 1);

        Measured p = Measured.pooled(List.of(a, b));

        assertEquals(1.5, p.medianNs());
        assertEquals(0.3, p.errorNs());
    }

    @Test
    void theNearestRankPercentile() {
        double[] v = {1, 2, 3, 4};
        long[] c = {1, 1, 1, 1};
        assertEquals(2, Measured.percentile(v, c, 0.5));
        assertEquals(4, Measured.percentile(v, c, 0.99));
        assertEquals(1, Measured.percentile(v, c, 0));
    }
}
