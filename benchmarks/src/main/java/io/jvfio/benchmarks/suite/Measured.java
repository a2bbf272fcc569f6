package io.jvfio.benchmarks.suite;

/**
 * One benchmark's result, in nanoseconds per operation. Sampled (operations timed one by one, or a
 * round at a time): median, p99 and the distribution of the samples, for the plots. Averaged (an
 * operation too short to time alone): the mean and its 99.9% confidence half-width, in
 * {@code medianNs} and {@code errorNs}. Also the bytes allocated per operation ({@code -prof gc};
 * NaN if not measured) and how many operations each sample timed.
 */
public record Measured(String id, boolean sampled, double medianNs, double p99Ns, double errorNs,
                       double[] valuesNs, long[] counts, double allocBytesPerOp, int opsPerSample) {
}
