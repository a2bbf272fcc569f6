package io.jvfio.launcher;

import io.jvfio.launcher.NestedJvfioRuns.JvfioRun;
import io.jvfio.vfio.nested.NestedVm;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * VFIO's no-IOMMU mode end to end, beside {@link NestedMainJobIT}: the nested VM booted without an
 * IOMMU and with {@code vfio.enable_unsafe_noiommu_mode=1}, so that edu bound to vfio-pci gets
 * {@code /dev/vfio/noiommu-N}. edu's DMA mask is widened to 32 bits ({@code dma_mask=0xffffffff}; its
 * default, 28 bits, would clamp the physical addresses of a 2 GiB VM). There the shaded jar shows the
 * group in {@code --iommu-groups}; refuses {@code -device vfio-pci,host=...}, through iommufd too, and
 * the group handed over as {@code fd=}, with the mode's reason; refuses {@code x-no-iommu=on} to a
 * process without CAP_SYS_RAWIO; and runs every edu step, DMA to host physical addresses included,
 * with {@code -accel none} and {@code x-no-iommu=on}, the kernel tainted. Skipped without the VM's prerequisites unless {@code -Djvfio.nested=required}.
 */
class NestedNoIommuIT {

    /** Each jvfio run starts a JVM under TCG (about 40 s on a busy 2-core machine); seven runs and the boot. */
    private static final int TIMEOUT_SECONDS = 600;
    private static final String EDU = "0000:00:08.0";

    /** Without CAP_SYS_RAWIO (root otherwise): what a run of an entry marked "prefixed" is started with. */
    private static final String WITHOUT_RAWIO = "setpriv --inh-caps=-sys_rawio --bounding-set=-sys_rawio";

    private static final String[][] RUNS = {
            {"bind edu", "--vfio-bind " + EDU},
            {"groups", "--iommu-groups"},
            {"plain", "-accel none -device vfio-pci,host=" + EDU},
            {"iommufd", "-accel none -object iommufd,id=i0 -device vfio-pci,host=" + EDU + ",iommufd=i0"},
            // The group opened by the caller and handed over, as a management layer would: refused too.
            {"fd", "-accel none -device vfio-pci,host=" + EDU + ",fd=4", "4<>/dev/vfio/$(ls /dev/vfio | grep noiommu-)"},
            {"no rawio", "-accel none -device vfio-pci,host=" + EDU + ",x-no-iommu=on", "", "prefixed"},
            // Issue 15's acceptance: the built-in driver's steps, DMA included, in no-IOMMU mode.
            {"no-iommu", "-accel none -device vfio-pci,host=" + EDU + ",x-no-iommu=on"},
    };

    private static List<JvfioRun> runs;
    private static String console;

    @BeforeAll
    static void bootOnce() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path jar = NestedJvfioRuns.shadedJar();
        if (NestedVm.onPath("setpriv") == null) {
            throw io.jvfio.vmm.testing.Prerequisites.missing("jvfio.setpriv", "setpriv (util-linux) is needed to run "
                    + "jvfio without CAP_SYS_RAWIO in the nested VM: install util-linux");
        }
        Path work = Path.of("target/nested-no-iommu").toAbsolutePath();
        Files.createDirectories(work);
        Path script = work.resolve("run.sh");
        Files.writeString(script, NestedJvfioRuns.script(jar, RUNS, WITHOUT_RAWIO)
                + "echo \"JVFIO-IOMMUS $(ls /sys/class/iommu 2>/dev/null | wc -l)\"\n"
                + "echo \"JVFIO-TAINTED $(cat /proc/sys/kernel/tainted)\"\n");
        NestedVm.Run run = new NestedVm(pre, work).bootWithoutIommu(List.of("-device", "edu,addr=8,dma_mask=0xffffffff"),
                script, TIMEOUT_SECONDS);
        console = "\n--- the VM's console (last 80 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(80);
        if (!run.finished()) {
            fail(run.ending(TIMEOUT_SECONDS) + console);
        }
        assertTrue(run.lines().stream().anyMatch(l -> l.endsWith("JVFIO-IOMMUS 0")), "the VM was to have no IOMMU (/sys/class/iommu)" + console);
        runs = NestedJvfioRuns.runs(run.lines());
        assertEquals(RUNS.length, runs.size(), RUNS.length + " jvfio runs" + console);
        // TAINT_USER (bit 6): the kernel's mark for a no-IOMMU group, set when edu was bound.
        String tainted = run.lines().stream().filter(l -> l.startsWith("JVFIO-TAINTED ")).findFirst()
                .orElseThrow(() -> new AssertionError("no taint line" + console)).substring("JVFIO-TAINTED ".length());
        assertNotEquals(0, Long.parseLong(tainted.trim()) & (1 << 6), "the kernel is not tainted (" + tainted + ")");
        System.out.println("nested VM without an IOMMU: " + run.millis() + " ms");
    }

    private static JvfioRun run(String name) {
        return NestedJvfioRuns.named(name, RUNS, runs, console);
    }

    /** The one line a refused run printed on stderr, and its status 1. */
    private static String refusal(JvfioRun r) {
        assertEquals(1, r.status(), "jvfio " + r.args() + " exited with " + r.status() + ":\n" + r.out());
        List<String> errors = r.lines().stream().filter(l -> l.startsWith("jvfio: ")).toList();
        assertEquals(1, errors.size(), r.out());
        return errors.get(0);
    }

    @Test
    void theIommuGroupsReportShowsTheNoIommuGroup() {
        assertEquals(0, run("bind edu").status(), run("bind edu").out());
        JvfioRun r = run("groups");
        assertEquals(0, r.status(), r.out());
        Matcher m = Pattern.compile("IOMMU group (\\d+) \\(/dev/vfio/noiommu-(\\d+)\\): no-IOMMU \\(VFIO's unsafe mode")
                .matcher(r.out());
        assertTrue(m.find() && m.group(1).equals(m.group(2)), r.out());
        assertTrue(r.out().contains("  " + EDU + " [1234:11e8] class 00ff00, driver vfio-pci\n"), r.out());
        assertTrue(r.out().contains("never for a guest; for the host-side driver only, with -accel none and "
                + "x-no-iommu=on"), r.out());
    }

    @Test
    void aPlainVfioPciDeviceIsRefusedWithTheModesReason() {
        String plain = refusal(run("plain"));
        Matcher m = Pattern.compile("jvfio: -device vfio-pci,host=" + Pattern.quote(EDU) + ": " + Pattern.quote(EDU)
                + " is in a no-IOMMU group \\(/dev/vfio/noiommu-\\d+, VFIO's enable_unsafe_noiommu_mode on a host "
                + "without an IOMMU\\): without an IOMMU there is no DMA translation, so a guest cannot be given the "
                + "device safely .*; for a host-side user-space driver use -accel none with x-no-iommu=on, .*")
                .matcher(plain);
        assertTrue(m.matches(), plain);
        String iommufd = refusal(run("iommufd"));
        assertTrue(iommufd.startsWith("jvfio: -device vfio-pci,host=" + EDU + ",iommufd=i0: " + EDU
                + " is in a no-IOMMU group"), iommufd);
        assertTrue(iommufd.contains("use -accel none with x-no-iommu=on"), iommufd);
        String fd = refusal(run("fd"));
        assertTrue(fd.startsWith("jvfio: -device vfio-pci,host=" + EDU + ",fd=4: " + EDU + " is in a no-IOMMU group "
                + "(/dev/vfio/noiommu-"), fd);
        assertTrue(fd.contains("use -accel none with x-no-iommu=on"), fd);
    }

    @Test
    void withoutCapSysRawioTheErrorNamesIt() {
        String e = refusal(run("no rawio"));
        assertTrue(e.matches("jvfio: -device vfio-pci,host=" + Pattern.quote(EDU) + ",x-no-iommu=on: opening "
                + "/dev/vfio/noiommu-\\d+ needs CAP_SYS_RAWIO .*run jvfio as root or with CAP_SYS_RAWIO"), e);
    }

    @Test
    void theBuiltInDriverPassesEveryEduStepInNoIommuMode() {
        JvfioRun r = run("no-iommu");
        assertEquals(0, r.status(), "jvfio " + r.args() + " exited with " + r.status() + ":\n" + r.out());
        assertTrue(r.out().contains("[WARN] KernelVfio - UNSAFE: " + EDU + " runs in VFIO no-IOMMU mode "
                + "(/dev/vfio/noiommu-"), r.out());
        assertTrue(r.out().contains("the kernel is tainted, and the device can reach all of host memory"), r.out());
        Map<String, String> steps = r.steps();
        assertFalse(steps.isEmpty(), "no driver report in\n" + r.out());
        for (String s : List.of("find", "bars", "enable", "id", "liveness", "factorial", "dma", "interrupt", "storm",
                "direct", "intx")) {
            assertTrue(steps.getOrDefault(s, "").startsWith("PASS "), s + " in\n" + r.out());
        }
        steps.forEach((step, result) -> assertTrue(result.startsWith("PASS ") || result.startsWith("SKIP "),
                step + " " + result + " in\n" + r.out()));
        assertTrue(r.out().contains("vfio-pci,host=" + EDU + ",x-no-iommu=on, over kernel VFIO (/dev/vfio/noiommu-"),
                r.out());
        assertTrue(r.out().contains(", no IOMMU: IOVA = host physical address (no IOMMU; guest RAM locked, addresses "
                + "from /proc/self/pagemap)): BAR0 1M mmap"), r.out());
        // The device was given host physical addresses, not the guest physical 0x100000 and 0x101000.
        Matcher dma = Pattern.compile("PASS 256 bytes RAM -> device -> RAM, equal byte for byte \\(DMA addresses "
                + "0x([0-9a-f]+) and 0x([0-9a-f]+): IOVA = host physical address \\(no IOMMU; guest RAM locked, "
                + "addresses from /proc/self/pagemap\\)\\)").matcher(steps.get("dma"));
        assertTrue(dma.matches(), steps.get("dma"));
        long src = Long.parseLong(dma.group(1), 16);
        long dst = Long.parseLong(dma.group(2), 16);
        assertTrue(src != 0x100000 && dst != 0x101000 && src % 4096 == 0 && dst % 4096 == 0
                && src < (4L << 30) && dst < (4L << 30), "host physical addresses of a 2 GiB VM: " + steps.get("dma"));
    }
}
