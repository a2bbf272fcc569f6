package io.jvfio.launcher;

import io.jvfio.vfio.nested.NestedVm;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The launcher end to end against real devices through real kernel VFIO: the shaded jar, run as a
 * user would inside the nested VM (shared/nested/README.md, which has VFIO but no KVM), binds QEMU's
 * edu and an ivshmem to vfio-pci with {@code --vfio-bind}, then drives them with {@code -accel none
 * -device vfio-pci,host=...}: edu with its BAR mapped (the direct loop) and with {@code x-no-mmap=on}
 * (the trapped loop), and ivshmem, which is not edu, so its register steps are skipped with the
 * reason. Skipped without the VM's prerequisites unless {@code -Djvfio.nested=required}
 * ({@code ./run-tests} sets it).
 */
class NestedMainJobIT {

    private static final int TIMEOUT_SECONDS = 300;
    private static final String EDU = "0000:00:08.0";
    private static final String IVSHMEM = "0000:00:09.0";

    /** One jvfio run in the VM: its arguments, its status, and what it printed. */
    record JvfioRun(String args, int status, List<String> lines) {
        String out() {
            return String.join("\n", lines);
        }

        Map<String, String> steps() {
            return ReportSteps.of(lines);
        }
    }

    @Test
    void theBuiltInDriverPassesAgainstQemusEduThroughKernelVfio() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar")).toAbsolutePath();
        assertTrue(Files.isRegularFile(jar), "the shaded jar " + jar + " was not built");
        Path work = Path.of("target/nested-main-job").toAbsolutePath();
        Files.createDirectories(work);
        Path script = work.resolve("run.sh");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Files.writeString(script, """
                #!/bin/sh
                # Runs inside the nested VM, chrooted into this machine's (read-only) file system.
                export HOME=/dev/shm
                jvfio() {
                  echo "JVFIO-RUN $*"
                  %s -Djava.io.tmpdir=/dev/shm -Djna.tmpdir=/dev/shm -XX:-UsePerfData -XX:TieredStopAtLevel=1 \\
                    -XX:+UseSerialGC -jar %s "$@" 2>&1
                  echo "JVFIO-STATUS $?"
                }
                jvfio --vfio-bind %s
                jvfio --vfio-bind %s
                jvfio -accel none -device vfio-pci,host=%s
                jvfio -accel none -device vfio-pci,host=%s,x-no-mmap=on
                jvfio -accel none -device vfio-pci,host=%s
                """.formatted(java, jar, EDU, IVSHMEM, EDU, EDU, IVSHMEM));

        NestedVm.Run run = new NestedVm(pre, work).boot(List.of(
                "-device", "edu,addr=8",
                "-object", "memory-backend-ram,id=ivshmem,size=16M",
                "-device", "ivshmem-plain,memdev=ivshmem,addr=9"), script, TIMEOUT_SECONDS);
        String console = "\n--- the VM's console (last 80 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(80);
        if (!run.finished()) {
            fail("the nested VM ended (or was stopped after " + TIMEOUT_SECONDS + " s) before the script finished, "
                    + "after " + run.millis() + " ms" + console);
        }
        List<JvfioRun> runs = runs(run.lines());
        assertEquals(5, runs.size(), "five jvfio runs" + console);
        for (JvfioRun r : runs) {
            assertEquals(0, r.status(), "jvfio " + r.args() + " exited with " + r.status() + ":\n" + r.out());
        }

        JvfioRun mapped = runs.get(2);
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

        Map<String, String> trapped = runs.get(3).steps();
        assertTrue(trapped.getOrDefault("trapped", "").startsWith("PASS 1000 reads of 0xc0000000 (last 0x010000ed)"),
                runs.get(3).out());
        assertTrue(trapped.getOrDefault("dma", "").startsWith("PASS "), runs.get(3).out());
        assertTrue(trapped.getOrDefault("direct", "").startsWith("SKIP "), runs.get(3).out());

        JvfioRun ivshmem = runs.get(4);
        Map<String, String> iv = ivshmem.steps();
        assertTrue(iv.getOrDefault("find", "").startsWith("PASS 00:01.0 [1af4:1110]"), ivshmem.out());
        for (String s : List.of("id", "liveness", "factorial", "dma", "interrupt", "storm")) {
            assertEquals("SKIP the device [1af4:1110] is not edu-compatible (1234:11e8): edu's registers are not there "
                    + "to drive", iv.get(s), ivshmem.out());
        }
        assertTrue(iv.getOrDefault("direct", "").startsWith("PASS "), ivshmem.out());
        assertTrue(iv.getOrDefault("intx", "").startsWith("SKIP "), ivshmem.out());
        System.out.println("nested VM: " + run.millis() + " ms\n" + mapped.out() + "\n" + ivshmem.out());
    }

    /** The console cut into the script's jvfio runs. */
    private static List<JvfioRun> runs(List<String> console) {
        List<JvfioRun> runs = new ArrayList<>();
        String args = null;
        List<String> lines = new ArrayList<>();
        for (String l : console) {
            if (l.startsWith("JVFIO-RUN ")) {
                args = l.substring("JVFIO-RUN ".length());
                lines = new ArrayList<>();
            } else if (l.startsWith("JVFIO-STATUS ") && args != null) {
                runs.add(new JvfioRun(args, Integer.parseInt(l.substring("JVFIO-STATUS ".length()).trim()), lines));
                args = null;
            } else if (args != null) {
                lines.add(l);
            }
        }
        return runs;
    }
}
