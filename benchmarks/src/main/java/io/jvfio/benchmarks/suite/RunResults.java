package io.jvfio.benchmarks.suite;

import java.time.Duration;
import java.util.Map;

/**
 * What one run of the suite measured, and where: the machine it ran on ({@link MachineInfo}), its
 * JMH settings, how long it took, each benchmark's {@link Measured} by id, and what the benchmarks
 * observed (their notes) by id. The host's run is one; the KVM groups' run in the nested VM, saved
 * by {@link ResultsFile}, is another.
 */
record RunResults(String machine, String settings, Duration took, Map<String, Measured> measured,
                         Map<String, String> notes) {
}
