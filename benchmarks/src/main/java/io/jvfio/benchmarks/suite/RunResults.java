package io.jvfio.benchmarks.suite;

import java.time.Duration;
import java.util.Map;

/**
 * What one run of the suite measured, and where: the machine it ran on ({@link MachineInfo}), its
 * JMH settings, how long it took, each benchmark's {@link Measured} by id, and what the benchmarks
 * observed (their notes) by id. The host's run is one; the KVM groups' run in the nested VM, saved
 * by {@link ResultsFile}, is another. {@code rounds} holds, for a benchmark of a group measured in
 * rounds ({@link Catalogue#ROUNDS_GROUPS}), each round's median in nanoseconds, in the order the rounds
 * ran; its {@link Measured} then pools every round's samples.
 */
record RunResults(String machine, String settings, Duration took, Map<String, Measured> measured,
                  Map<String, String> notes, Map<String, double[]> rounds) {

    /** A run with no group measured in rounds. */
    RunResults(String machine, String settings, Duration took, Map<String, Measured> measured,
               Map<String, String> notes) {
        this(machine, settings, took, measured, notes, Map.of());
    }
}
