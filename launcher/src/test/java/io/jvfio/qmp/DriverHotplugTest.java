package io.jvfio.qmp;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PCIe hotplug driven over the monitor, without KVM (-accel none: the built-in driver's steps and its
 * hotplug service run from the host, through the same configuration cycles, MMIO and local APIC):
 * device_add of an edu served over vfio-user onto an empty root port, the driver taking the port's
 * interrupt, powering the slot on, finding the device behind the port and running its steps on it;
 * device_del, the driver quiescing it and powering the slot off, DEVICE_DELETED; and the same again.
 */
@Timeout(600)
class DriverHotplugTest {

    static final Duration WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void aDeviceAddedOntoARootPortIsDrivenAndItsRemovalQuiescesAndPowersTheSlotOffTwice() throws Exception {
        try (HotplugSession s = new HotplugSession(dir, WAIT, "-accel", "none");
             QmpTestClient c = QmpTestClient.negotiated(s.qmp())) {
            assertHotplugRounds(s, c, WAIT, List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma",
                    "interrupt", "storm"));
            assertEquals(0, s.quit(c, WAIT), s.output());
        }
    }

    /**
     * Two rounds of plug and unplug; each block has {@code passing} PASS, INTx skipped with the reason
     * (a device behind a root port), and the second round's BARs where the first round's were (the port's
     * window is given to the device again).
     */
    static void assertHotplugRounds(HotplugSession s, QmpTestClient c, Duration wait, List<String> passing)
            throws Exception {
        assertHotplugRounds(s, c, wait, passing, java.util.Set.of());
    }

    /** As above, where the steps in {@code mayFail} may fail, each run, and all others must pass. */
    static void assertHotplugRounds(HotplugSession s, QmpTestClient c, Duration wait, List<String> passing,
            java.util.Set<String> mayFail) throws Exception {
        assertTrue(s.output().contains("hotplug: serving 1 root port: "), s.output());
        String first = null;
        for (int round = 1; round <= 2; round++) {
            String block = s.plugAndUnplug(c, round, wait, mayFail);
            assertTrue(block.contains("presence detected; slot powered on (command completed), data link active; "
                    + "01:00.0 driven:\n"), block);
            for (String step : passing) {
                if (mayFail.contains(step)) {
                    continue;
                }
                assertTrue(block.contains(String.format("  PASS  %-10s ", step)), step + " in\n" + block);
            }
            assertTrue(block.contains(String.format("  PASS  %-10s 01:00.0 [1234:11e8], edu-compatible; behind root "
                    + "port ", "find")), block);
            assertTrue(block.contains(String.format("  SKIP  %-10s a device behind a root port", "intx")), block);
            assertTrue(block.contains("the port's memory window 0x"), block);
            String bars = bars(block);
            if (first == null) {
                first = bars;
            } else {
                assertEquals(first, bars, "plugged again, the device's BARs go where they went");
            }
        }
    }

    private static String bars(String block) {
        int at = block.indexOf("  PASS  bars");
        return block.substring(at, block.indexOf('\n', at));
    }
}
