package io.jvfio.benchmarks.suite;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The KVM groups' rows from a nested run: benchmark and baseline both from that run (the raw eventfd
 * wake-up too, which the host measures for its own group), and the group says where it was measured.
 */
class ReportTest {

    private static final String RAW = "InterruptLatencyBenchmark.rawEventfd";
    private static final String POLLER_KVM = "InterruptLatencyBenchmark.kvmGuest[path=poller]";
    private static final String POLLER_APIC = "InterruptLatencyBenchmark.ring[wait=poller]";

    @Test
    void theKvmGroupsTakeBothSidesOfEachRowFromTheNestedRunAndSaySo() {
        RunResults host = run("the host", Map.of(RAW, 1_000, POLLER_APIC, 1_500));
        RunResults nested = run("the nested VM, Linux 6.12.57", Map.of(RAW, 40_000, POLLER_KVM, 60_000));
        String md = new Report(Catalogue.rows(), new SuiteResults(host, nested), Map.of()).markdown("", "");

        String kvm = section(md, Catalogue.IRQ_KVM);
        assertTrue(kvm.contains("Measured in the nested VM"), kvm);
        assertTrue(kvm.contains("the nested VM, Linux 6.12.57"), "the VM's machine line, its kernel in it:\n" + kvm);
        assertTrue(kvm.contains("| poller delivers (no ring), KVM_SIGNAL_MSI, guest handler | 60.00 us | 60.00 us | "
                + "raw eventfd wake-up | 40.00 us | 40.00 us | 1.50x |"), kvm);
        String apic = section(md, Catalogue.IRQ_APIC);
        assertTrue(!apic.contains("nested VM"), apic);
        assertTrue(apic.contains("| poller delivers (no ring), APIC | 1.50 us | 1.50 us | raw eventfd wake-up | 1.00 us "
                + "| 1.00 us | 1.50x |"), apic);
        assertTrue(md.contains("were measured in a nested VM"), md);
    }

    @Test
    void withoutANestedRunTheKvmRowsAreNotRunAndNothingMentionsAVm() {
        RunResults host = run("the host", Map.of(RAW, 1_000));
        String md = new Report(Catalogue.rows(), new SuiteResults(host, null), Map.of()).markdown("", "");
        String kvm = section(md, Catalogue.IRQ_KVM);
        assertTrue(kvm.contains("| poller delivers (no ring), KVM_SIGNAL_MSI, guest handler | not run | not run |"), kvm);
        assertTrue(!md.contains("nested VM"), md);
    }

    @Test
    void aGroupMeasuredInRoundsGivesTheMedianOfTheRoundsRatiosWithTheirRange() {
        String client = "VfioUserBenchmark.regionRead4";
        String floor = "VfioUserBenchmark.rawSocketPingPongC";
        Map<String, Measured> measured = new HashMap<>();
        measured.put(client, new Measured(client, true, 15_000, 30_000, 0, new double[] {15_000}, new long[] {1}, 0, 1));
        measured.put(floor, new Measured(floor, true, 10_000, 20_000, 0, new double[] {10_000}, new long[] {1}, 0, 1));
        // Round 3's load slowed the floor alone: its ratio is 0.60x. The ratios 1.30, 1.20, 0.60, 1.60, 1.32:
        // their median is round 1's 1.30x, not the pooled medians' 1.50x.
        Map<String, double[]> rounds = Map.of(client, new double[] {13_000, 12_000, 15_000, 16_000, 13_200},
                floor, new double[] {10_000, 10_000, 25_000, 10_000, 10_000});
        RunResults host = new RunResults("the host", "settings", Duration.ofSeconds(61), measured, new HashMap<>(),
                rounds);
        String md = new Report(Catalogue.rows(), new SuiteResults(host, null), Map.of()).markdown("", "");

        String group = section(md, Catalogue.VFIO_USER);
        assertTrue(group.contains("**Measured in 5 rounds:**"), group);
        assertTrue(group.contains("| Java client to jvfio's server, edu's ID register | 15.00 us | 30.00 us | raw "
                + "UNIX-socket ping-pong in C, same sizes | 10.00 us | 20.00 us | 1.30x (0.60x to 1.60x) |"), group);
        assertTrue(!section(md, Catalogue.CONFIG).contains("rounds"), "a group not measured in rounds says nothing of them");
    }

    private static RunResults run(String machine, Map<String, Integer> medians) {
        Map<String, Measured> measured = new HashMap<>();
        medians.forEach((id, ns) -> measured.put(id, new Measured(id, true, ns, ns, 0, new double[] {ns},
                new long[] {1}, 0, 1)));
        return new RunResults(machine, "settings", Duration.ofSeconds(61), measured, new HashMap<>());
    }

    private static String section(String md, String group) {
        int start = md.indexOf("### " + group);
        assertTrue(start >= 0, group + " missing:\n" + md);
        int end = md.indexOf("\n### ", start + 1);
        return md.substring(start, end < 0 ? md.length() : end);
    }
}
