package io.jvfio.benchmarks.suite;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One benchmark's result, in nanoseconds per operation. Sampled (operations timed one by one, or a
 * round at a time): median, p99 and the distribution of the samples, for the plots. Averaged (an
 * operation too short to time alone): the mean and its 99.9% confidence half-width, in
 * {@code medianNs} and {@code errorNs}. Also the bytes allocated per operation ({@code -prof gc};
 * NaN if not measured) and how many operations each sample timed.
 */
public record Measured(String id, boolean sampled, double medianNs, double p99Ns, double errorNs,
                       double[] valuesNs, long[] counts, double allocBytesPerOp, int opsPerSample) {

    /**
     * One benchmark measured in several rounds, as one result: sampled, every round's samples pooled,
     * the median and p99 of them all (nearest rank); averaged, the mean of the rounds' means and the
     * widest of their errors. The allocation is the rounds' mean.
     */
    static Measured pooled(List<Measured> rounds) {
        Measured first = rounds.get(0);
        double alloc = rounds.stream().mapToDouble(Measured::allocBytesPerOp).average().orElse(Double.NaN);
        if (!first.sampled()) {
            return new Measured(first.id(), false, rounds.stream().mapToDouble(Measured::medianNs).average().orElseThrow(),
                    Double.NaN, rounds.stream().mapToDouble(Measured::errorNs).max().orElseThrow(), new double[0],
                    new long[0], alloc, first.opsPerSample());
        }
        TreeMap<Double, Long> histogram = new TreeMap<>();
        for (Measured m : rounds) {
            for (int i = 0; i < m.valuesNs().length; i++) {
                histogram.merge(m.valuesNs()[i], m.counts()[i], Long::sum);
            }
        }
        double[] values = new double[histogram.size()];
        long[] counts = new long[histogram.size()];
        int i = 0;
        for (Map.Entry<Double, Long> e : histogram.entrySet()) {
            values[i] = e.getKey();
            counts[i++] = e.getValue();
        }
        return new Measured(first.id(), true, percentile(values, counts, 0.50), percentile(values, counts, 0.99), 0,
                values, counts, alloc, first.opsPerSample());
    }

    /** The nearest-rank percentile {@code p} (0 to 1) of samples {@code values} (ascending) seen {@code counts} times. */
    static double percentile(double[] values, long[] counts, double p) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        if (total == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(p * total));
        long seen = 0;
        for (int i = 0; i < values.length; i++) {
            seen += counts[i];
            if (seen >= rank) {
                return values[i];
            }
        }
        return values[values.length - 1];
    }
}
