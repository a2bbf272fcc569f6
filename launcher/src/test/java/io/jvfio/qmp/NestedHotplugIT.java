package io.jvfio.qmp;

import io.jvfio.vfio.nested.NestedVm;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Hotplug with a kernel VFIO device, in the nested VM (shared/nested/README.md: VFIO, no KVM):
 * {@link NestedHotplugProbe} hot-adds QEMU's edu with {@code device_add vfio-pci,host=...,bus=rp1}
 * over QMP, drives it behind the root port, removes it with {@code device_del}, and has a second
 * process open the device's VFIO group: refused while the device is attached, opened after
 * {@code DEVICE_DELETED}. Skipped without the VM's prerequisites unless {@code -Djvfio.nested=required}.
 */
class NestedHotplugIT {

    private static final int TIMEOUT_SECONDS = 900;
    private static final String EDU = "0000:00:08.0";
    private static final List<String> CHECKS = List.of("device_add", "busy", "enumerate", "id", "query-pci",
            "device_del", "DEVICE_DELETED", "reopen", "gone");

    @Test
    void aVfioPciDeviceHotAddedAndRemovedLeavesItsGroupToAnotherProcess() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path work = Path.of("target/nested-hotplug").toAbsolutePath();
        Files.createDirectories(work);
        Path script = work.resolve("run.sh");
        Files.writeString(script, NestedVm.javaScript(NestedHotplugProbe.class.getName(), EDU));
        NestedVm.Run run = new NestedVm(pre, work).boot(List.of("-device", "edu,addr=8"), script, TIMEOUT_SECONDS);
        String console = "\n--- the VM's console (last 60 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(60);
        if (!run.finished()) {
            fail(run.ending(TIMEOUT_SECONDS) + console);
        }
        run.lines().stream().filter(l -> l.startsWith("JVFIO-")).forEach(System.out::println);
        for (String check : CHECKS) {
            String pass = "JVFIO-HOTPLUG " + check + " PASS";
            assertTrue(run.lines().stream().anyMatch(l -> l.startsWith(pass)), "check '" + check + "' did not pass"
                    + console);
        }
        assertEquals(0, run.exitCode(), "the probe's exit status" + console);
        System.out.println("nested VM: boot and probe in " + run.millis() + " ms");
    }
}
