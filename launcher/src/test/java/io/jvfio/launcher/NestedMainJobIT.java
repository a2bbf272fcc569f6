package io.jvfio.launcher;

import io.jvfio.launcher.NestedJvfioRuns.JvfioRun;
import io.jvfio.vfio.nested.NestedVm;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The launcher end to end against real devices through real kernel VFIO: the shaded jar, run as a
 * user would inside the nested VM (shared/nested/README.md, which has VFIO but no KVM), binds QEMU's
 * edu and an ivshmem to vfio-pci with {@code --vfio-bind}, then drives them with {@code -accel none
 * -device vfio-pci,host=...}: edu with its BAR mapped (the direct loop) and with {@code x-no-mmap=on}
 * (the trapped loop), ivshmem, which is not edu, so its register steps are skipped with the
 * reason, QEMU's pci-serial (an I/O BAR and INTx only) and sdhci-pci (a 256-byte memory BAR). Every
 * run exits 0 with each step PASS or SKIP. Skipped without the VM's prerequisites unless
 * {@code -Djvfio.nested=required} ({@code ./run-tests} sets it).
 */
class NestedMainJobIT {

    /** Each jvfio run starts a JVM under TCG (about 40 s on a busy 2-core machine); eleven runs and the boot. */
    private static final int TIMEOUT_SECONDS = 880;
    private static final String EDU = "0000:00:08.0";
    private static final String IVSHMEM = "0000:00:09.0";
    private static final String SERIAL = "0000:00:0b.0";
    private static final String SDHCI = "0000:00:0c.0";

    /** The script's jvfio runs, in order: a name for the tests, and the arguments. */
    private static final String[][] RUNS = {
            {"bind edu", "--vfio-bind " + EDU},
            {"bind ivshmem", "--vfio-bind " + IVSHMEM},
            {"bind serial", "--vfio-bind " + SERIAL},
            {"bind sdhci", "--vfio-bind " + SDHCI},
            {"edu", "-accel none -device vfio-pci,host=" + EDU},
            {"edu x-no-mmap", "-accel none -device vfio-pci,host=" + EDU + ",x-no-mmap=on"},
            {"ivshmem", "-accel none -device vfio-pci,host=" + IVSHMEM},
            {"serial", "-accel none -device vfio-pci,host=" + SERIAL},
            {"sdhci", "-accel none -device vfio-pci,host=" + SDHCI},
            // Issue 15's acceptance line: edu through iommufd and its device cdev (the test kernel has both).
            {"edu iommufd", "-accel none -object iommufd,id=i0 -device vfio-pci,host=" + EDU + ",iommufd=i0"},
            // As libvirt runs it: /dev/iommu and the device's cdev opened by the caller and handed over (the
            // shell's redirections, the third entry, give the JVM fds 4 and 5).
            {"edu fds", "-accel none -object iommufd,id=i0,fd=4 -device vfio-pci,fd=5,iommufd=i0",
                    "4<>/dev/iommu 5<>/dev/vfio/devices/$(ls /sys/bus/pci/devices/" + EDU + "/vfio-dev)"},
    };

    /** The VM's console and the jvfio runs in it, shared by the tests (one boot: it is slow under TCG). */
    private static NestedVm.Run run;
    private static List<JvfioRun> runs;
    private static String console;

    @BeforeAll
    static void bootOnce() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path jar = NestedJvfioRuns.shadedJar();
        Path work = Path.of("target/nested-main-job").toAbsolutePath();
        Files.createDirectories(work);
        Path script = work.resolve("run.sh");
        Files.writeString(script, NestedJvfioRuns.script(jar, RUNS, ""));

        run = new NestedVm(pre, work).boot(List.of(
                "-device", "edu,addr=8",
                "-object", "memory-backend-ram,id=ivshmem,size=16M",
                "-device", "ivshmem-plain,memdev=ivshmem,addr=9",
                // Not edu, each in its own IOMMU group: a 16550 UART (an 8-byte I/O BAR and INTx, no MSI)
                // and an SD host controller (a 256-byte memory BAR, smaller than a page; INTx).
                "-device", "pci-serial,addr=0xb",
                "-device", "sdhci-pci,addr=0xc"), script, TIMEOUT_SECONDS);
        console = "\n--- the VM's console (last 80 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(80);
        if (!run.finished()) {
            fail(run.ending(TIMEOUT_SECONDS) + console);
        }
        runs = NestedJvfioRuns.runs(run.lines());
        assertEquals(RUNS.length, runs.size(), RUNS.length + " jvfio runs" + console);
        System.out.println("nested VM: " + run.millis() + " ms");
    }

    /** The run named {@code name} in {@link #RUNS}; it exited 0 and printed every step PASS or SKIP. */
    private static JvfioRun run(String name) {
        JvfioRun r = NestedJvfioRuns.named(name, RUNS, runs, console);
        assertEquals(0, r.status(), "jvfio " + r.args() + " exited with " + r.status() + ":\n" + r.out());
        assertFalse(r.steps().isEmpty(), "no driver report in\n" + r.out());
        r.steps().forEach((step, result) -> assertTrue(result.startsWith("PASS ") || result.startsWith("SKIP "),
                step + " " + result + " in\n" + r.out()));
        return r;
    }

    @Test
    void theBuiltInDriverPassesAgainstQemusEduThroughKernelVfio() {
        for (int i = 0; i < RUNS.length; i++) {
            JvfioRun r = runs.get(i);
            if (RUNS[i][0].startsWith("bind ")) {
                assertEquals(0, r.status(), "jvfio " + r.args() + " exited with " + r.status() + ":\n" + r.out());
            }
        }
        JvfioRun mapped = run("edu");
        assertTrue(mapped.lines().get(0).startsWith("jvfio: no KVM (-accel none): the built-in driver's steps run from "
                + "the host"), mapped.out());
        assertTrue(mapped.lines().contains("00:01.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)"),
                mapped.out());
        Map<String, String> steps = mapped.steps();
        for (String s : List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma", "interrupt", "storm",
                "direct", "intx")) {
            assertTrue(steps.getOrDefault(s, "").startsWith("PASS "), s + " in\n" + mapped.out());
        }
        assertEquals("PASS MSI vector 0x41 taken by the local APIC (1 interrupt)", steps.get("interrupt"), mapped.out());
        assertEquals("PASS 1000 interrupts raised one at a time, 1000 counted at the local APIC", steps.get("storm"));
        assertEquals("SKIP " + "no BAR of the device traps: each is mapped straight into the guest (x-no-mmap=on would "
                + "trap them)", steps.get("trapped"), mapped.out());

        JvfioRun trappedRun = run("edu x-no-mmap");
        Map<String, String> trapped = trappedRun.steps();
        assertTrue(trapped.getOrDefault("trapped", "").startsWith("PASS 1000 reads of 0xc0000000 (last 0x010000ed)"),
                trappedRun.out());
        assertTrue(trapped.getOrDefault("dma", "").startsWith("PASS "), trappedRun.out());
        assertTrue(trapped.getOrDefault("direct", "").startsWith("SKIP "), trappedRun.out());
        assertTrue(trapped.getOrDefault("intx", "").startsWith("PASS "), trappedRun.out());
    }

    /** The same driver steps through the iommufd back end: the device's cdev bound to an IOAS. */
    @Test
    void theBuiltInDriverPassesThroughIommufdAndTheDeviceCdev() {
        JvfioRun r = run("edu iommufd");
        Map<String, String> steps = r.steps();
        for (String s : List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma", "interrupt", "storm",
                "direct", "intx")) {
            assertTrue(steps.getOrDefault(s, "").startsWith("PASS "), s + " in\n" + r.out());
        }
        assertTrue(r.out().contains("vfio-pci,host=" + EDU + ",iommufd=i0, over kernel VFIO (/dev/vfio/devices/vfio")
                && r.out().contains(" bound to IOAS "), r.out());
        JvfioRun fds = run("edu fds");
        for (String s : List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma", "interrupt")) {
            assertTrue(fds.steps().getOrDefault(s, "").startsWith("PASS "), s + " in\n" + fds.out());
        }
        assertTrue(fds.out().contains("vfio-pci,fd=5,iommufd=i0, over kernel VFIO (/dev/vfio/devices/vfio"), fds.out());
    }

    @Test
    void aDeviceThatIsNotEduHasItsRegisterStepsSkipped() {
        JvfioRun ivshmem = run("ivshmem");
        Map<String, String> iv = ivshmem.steps();
        assertTrue(iv.getOrDefault("find", "").startsWith("PASS 00:01.0 [1af4:1110]"), ivshmem.out());
        for (String s : List.of("id", "liveness", "factorial", "dma", "interrupt", "storm")) {
            assertEquals("SKIP the device [1af4:1110] is not edu-compatible (1234:11e8): edu's registers are not there "
                    + "to drive", iv.get(s), ivshmem.out());
        }
        assertTrue(iv.getOrDefault("direct", "").startsWith("PASS "), ivshmem.out());
        assertTrue(iv.getOrDefault("intx", "").startsWith("SKIP "), ivshmem.out());
    }

    /** QEMU's pci-serial: its only BAR is 8 bytes of I/O space, its only interrupt INTx. */
    @Test
    void aUartWithOnlyAnIoBarAndIntx() {
        JvfioRun serial = run("serial");
        Map<String, String> steps = serial.steps();
        assertTrue(serial.lines().contains("00:01.0 Serial controller [0700]: Device [1b36:0002] (rev 01)"),
                serial.out());
        assertTrue(steps.getOrDefault("find", "").startsWith("PASS 00:01.0 [1b36:0002]"), serial.out());
        assertEquals("PASS 1 I/O BAR sized and placed: BAR0 8B at port 0xc000", steps.get("bars"), serial.out());
        assertTrue(steps.getOrDefault("enable", "").startsWith("PASS command 0x0105: I/O decode"), serial.out());
        // 32-bit reads at the UART's base: RBR 0, IER 0, IIR 0x01 (nothing pending), LCR 0.
        assertTrue(steps.getOrDefault("trapped", "").startsWith("PASS 1000 reads of port 0xc000 (last 0x00010000)"),
                serial.out());
        assertTrue(steps.getOrDefault("direct", "").startsWith("SKIP "), serial.out());
        assertTrue(serial.out().contains("vfio-pci,host=" + SERIAL + ", over kernel VFIO: BAR0 8B I/O"), serial.out());
        // INTx through real VFIO and the emulated IOAPIC: the driver's 16550 recipe (IER 0 then 0x02 raises
        // THR-empty, the IIR read that identifies it acknowledges it), each of the rounds taken once.
        String intx = steps.getOrDefault("intx", "");
        assertTrue(intx.startsWith("PASS INTA# on IOAPIC pin ") && intx.contains("BAR0 I/O: 10 raised one at a time, "
                + "10 taken by the local APIC"), serial.out());
    }

    /** QEMU's sdhci-pci: a 256-byte memory BAR, smaller than a page, so it traps (never a sub-page slot). */
    @Test
    void aBarSmallerThanAPage() {
        JvfioRun sdhci = run("sdhci");
        Map<String, String> steps = sdhci.steps();
        assertTrue(steps.getOrDefault("find", "").startsWith("PASS 00:01.0 [1b36:0007]"), sdhci.out());
        assertEquals("PASS 1 memory BAR sized and placed: BAR0 256B at 0xc0000000", steps.get("bars"), sdhci.out());
        assertTrue(steps.getOrDefault("enable", "").startsWith("PASS "), sdhci.out());
        assertTrue(steps.getOrDefault("trapped", "").startsWith("PASS 1000 reads of 0xc0000000"), sdhci.out());
        assertTrue(steps.getOrDefault("direct", "").startsWith("SKIP "), sdhci.out());
        assertTrue(sdhci.out().contains("BAR0 256B mmap-able but under a page: trapped"), sdhci.out());
        String intx = steps.getOrDefault("intx", "");
        assertTrue(intx.startsWith("PASS INTA# on IOAPIC pin ")
                || intx.startsWith("SKIP no INTx recipe for [1b36:0007]"), sdhci.out());
    }
}
