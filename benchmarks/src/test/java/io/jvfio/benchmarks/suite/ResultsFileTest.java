package io.jvfio.benchmarks.suite;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A nested run's results survive the file between the VM's run and the host's: every field, every digit. */
class ResultsFileTest {

    @TempDir
    Path dir;

    @Test
    void aSavedRunReadsBackAsItWas() throws Exception {
        Map<String, Measured> measured = new HashMap<>();
        measured.put("InterruptLatencyBenchmark.kvmGuest[path=poller]", new Measured(
                "InterruptLatencyBenchmark.kvmGuest[path=poller]", true, 123.456789, 9876.5, 0,
                new double[] {100.0, 123.456789, 9876.5}, new long[] {3, 90, 7}, 8.59, 1));
        measured.put("KvmMmioBenchmark.ramRead", new Measured("KvmMmioBenchmark.ramRead", false, 1.0 / 3, Double.NaN,
                0.01, new double[0], new long[0], Double.NaN, 1));
        Map<String, String> notes = new HashMap<>();
        notes.put("KvmMmioBenchmark.ramRead", "a note\twith a tab,\na newline and a \\ backslash");
        Map<String, double[]> rounds = Map.of("InterruptLatencyBenchmark.kvmGuest[path=poller]",
                new double[] {123.456789, 1.0 / 3, 99.5});
        RunResults run = new RunResults("2 CPUs (QEMU), Linux 6.12.57", "JMH 1.37, one fork", Duration.ofMillis(754_321),
                measured, notes, rounds);
        Path file = dir.resolve("sub/kvm-results");

        ResultsFile.save(run, file);
        RunResults back = ResultsFile.load(file);

        assertEquals(run.machine(), back.machine());
        assertEquals(run.settings(), back.settings());
        assertEquals(run.took(), back.took());
        assertEquals(notes, back.notes());
        assertEquals(rounds.keySet(), back.rounds().keySet());
        rounds.forEach((id, medians) -> assertArrayEquals(medians, back.rounds().get(id)));
        assertEquals(measured.keySet(), back.measured().keySet());
        for (Measured m : measured.values()) {
            Measured b = back.measured().get(m.id());
            assertEquals(m.sampled(), b.sampled());
            assertEquals(m.medianNs(), b.medianNs());
            assertEquals(m.p99Ns(), b.p99Ns());
            assertEquals(m.errorNs(), b.errorNs());
            assertArrayEquals(m.valuesNs(), b.valuesNs());
            assertArrayEquals(m.counts(), b.counts());
            assertEquals(m.allocBytesPerOp(), b.allocBytesPerOp());
            assertEquals(m.opsPerSample(), b.opsPerSample());
        }
    }

    @Test
    void aFileThatIsNoSavedRunIsRefusedSayingWhatItShouldBe() throws Exception {
        Path file = dir.resolve("other");
        Files.writeString(file, "something else\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResultsFile.load(file));
        assertTrue(e.getMessage().contains("Suite --kvm-only FILE"), e.getMessage());

        Files.writeString(file, "jvfio benchmark results 1\nmachine\tx\nmeasured\tA.b\ttrue\n");
        e = assertThrows(IllegalArgumentException.class, () -> ResultsFile.load(file));
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
    }
}
