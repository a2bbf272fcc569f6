package io.jvfio.benchmarks.suite;

/**
 * One line of the report: a benchmark and the baseline it is compared with, measured in the same run.
 * Benchmarks are named {@code Class.method} with their parameters in brackets:
 * {@code InterruptLatencyBenchmark.ring[wait=blocking]}.
 */
public record Row(String group, String label, String benchmark, String baselineLabel, String baseline) {
}
