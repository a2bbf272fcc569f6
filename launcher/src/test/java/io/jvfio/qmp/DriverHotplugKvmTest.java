package io.jvfio.qmp;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;


/**
 * {@link DriverHotplugTest} on KVM: the built-in guest driver (driver.s) goes on from its steps to its
 * hotplug service, takes the root port's MSI in its IDT handler, powers the slot on, runs its steps on
 * the device behind the port and reports them through its ports; on the attention button it quiesces the
 * device and powers the slot off. Bounds are wide: in the nested VM the guest's code is emulated.
 */
@OnKvm
@Timeout(3600)
class DriverHotplugKvmTest {

    static final Duration WAIT = Duration.ofSeconds(900);

    @TempDir
    Path dir;

    @Test
    void theGuestDriverDrivesADeviceAddedOntoARootPortAndLetsItGoTwice() throws Exception {
        Prerequisites.requireKvm();
        try (HotplugSession s = new HotplugSession(dir, WAIT, "-accel", "kvm");
             QmpTestClient c = QmpTestClient.negotiated(s.qmp())) {
            // Under QEMU's emulated SVM (scripts/nested-kvm: its vCPU is a "QEMU Virtual CPU") the storm
            // loses interrupts now and then (README: the nested VM), as MainTest's does there: the storm may
            // fail on that CPU alone, and says so; every other step must pass. On hardware KVM it must pass.
            java.util.Set<String> mayFail = emulatedSvm() ? java.util.Set.of("storm") : java.util.Set.of();
            if (!mayFail.isEmpty()) {
                System.err.println("DriverHotplugKvmTest: the vCPU is QEMU's emulated one (" + cpuModel() + "), whose "
                        + "SVM loses interrupts in a storm: the storm step may fail here, no other");
            }
            DriverHotplugTest.assertHotplugRounds(s, c, WAIT, List.of("find", "bars", "enable", "id", "liveness",
                    "factorial", "dma", "interrupt", "storm", "trapped", "direct"), mayFail);
            // jvfio's exit status is the start device's steps' (MainTest's subject, not this test's): in the
            // nested VM that storm loses interrupts under QEMU's emulated SVM (README), so only the end is.
            s.quit(c, WAIT);
        }
    }

    /** This machine's CPU model name, from /proc/cpuinfo. */
    static String cpuModel() throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("model name")) {
                return line.substring(line.indexOf(':') + 1).trim();
            }
        }
        return "";
    }

    /** Whether KVM here runs on QEMU's emulated SVM (the nested VM of scripts/nested-kvm). */
    static boolean emulatedSvm() throws java.io.IOException {
        return cpuModel().startsWith("QEMU Virtual CPU");
    }
}
