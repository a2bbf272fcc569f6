package io.jvfio.vfio.nested;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * VFIO migration v2 against a real kernel driver: the nested VM of shared/nested/README.md (its test
 * kernel has the {@code mtty} sample mediated device built in) boots with an edu, and
 * {@link MttyMigrationProbe} runs inside it: two mtty-2 devices A and B (and an mtty-1, C) created
 * through sysfs, A attached with {@code -device vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID} and its
 * UARTs written through the guest's ports, saved by PRE_COPY and STOP_COPY, and loaded into B by a
 * second JVM, which reads the same registers and FIFO bytes back; then the refusals (edu cannot
 * migrate, another type's stream, STOP_COPY to PRE_COPY) and the dirty tracking the kernel offers.
 * Its own test class, so that it runs alone: {@code -Dtest=NestedMttyMigrationTest}.
 *
 * <p>Needs what {@link NestedVfioTest} needs; skipped with the reason without it, unless
 * {@code -Djvfio.nested=required} ({@code ./run-tests} sets it), when it fails instead.
 */
class NestedMttyMigrationTest {

    /** Boot, the probe and its second JVM must fit in this; QEMU is killed after it. */
    private static final int TIMEOUT_SECONDS = 420;

    private static final List<String> CHECKS = List.of("mdev-create", "mdev-attach", "guest-writes",
            "type1-dirty-emulated", "dma-logging", "migration-probe", "precopy", "precopy-stop-copy",
            "stop-copy-to-pre-copy", "stop-copy",
            // the second process
            "resume-load", "resume-registers", "resume-stream", "resume-fifo", "second-process",
            "wrong-type", "incomplete", "reset", "wrong-type-larger", "reset-c", "no-migration", "edu-dma-logging",
            "type1-dirty-iommu");

    private static final Pattern NO_MIGRATION = Pattern.compile("JVFIO-ERROR no-migration 0000:00:08\\.0 cannot be "
            + "migrated: its VFIO driver has no migration support \\(VFIO_DEVICE_FEATURE_MIGRATION answers ENOTTY, "
            + "Inappropriate ioctl for device\\); remove the device from the VM before migrating it, or use a device "
            + "whose driver migrates .*");
    private static final Pattern WRONG_TYPE = Pattern.compile("JVFIO-ERROR wrong-type mdev " + MttyMigrationProbe.A
            + " refused the migration stream after 0 bytes: its driver answered the write with Bad address \\(EFAULT\\) "
            + "\\(mtty answers so when the stream's header is not its own: .*");
    private static final Pattern INCOMPLETE = Pattern.compile("JVFIO-ERROR incomplete mdev " + MttyMigrationProbe.A
            + ": the migration state change from RESUMING to RUNNING \\(STOP -> RUNNING_P2P -> RUNNING\\) failed: "
            + "Invalid argument \\(EINVAL\\) \\(the driver found the state written into RESUMING incomplete or "
            + "inconsistent: .*\\); the device is left in RESUMING, where it was");
    private static final Pattern NO_ARC = Pattern.compile("JVFIO-ERROR stop-copy-to-pre-copy mdev " + MttyMigrationProbe.A
            + " \\(migration STOP_COPY\\|P2P\\|PRE_COPY\\): no migration arc leads from STOP_COPY to PRE_COPY: .*; "
            + "refused before asking the kernel, the device stays in STOP_COPY");

    @Test
    void mttyStateSurvivesAMigrationToASecondProcess() throws Exception {
        NestedVm.Prerequisites pre = NestedVm.prerequisitesOrSkip();
        Path work = Path.of("target/nested-vm-mtty").toAbsolutePath();
        Files.createDirectories(work);
        Path script = work.resolve("run.sh");
        Files.writeString(script, NestedVm.javaScript(MttyMigrationProbe.class.getName(), ""));

        NestedVm.Run run = new NestedVm(pre, work).boot(List.of("-device", "edu,addr=8"), script, TIMEOUT_SECONDS);
        String console = "\n--- the VM's console (last 80 lines; all of it in " + work.resolve("console.log") + ") ---\n"
                + run.tail(80);
        if (!run.finished()) {
            fail(run.ending(TIMEOUT_SECONDS) + console);
        }
        for (String check : CHECKS) {
            String pass = "JVFIO-CHECK " + check + " PASS";
            assertTrue(run.lines().stream().anyMatch(l -> l.startsWith(pass)), "check '" + check + "' did not pass"
                    + console);
        }
        assertTrue(run.lines().stream().noneMatch(l -> l.contains(" FAIL ")), "a check failed" + console);
        for (Pattern p : List.of(NO_MIGRATION, WRONG_TYPE, INCOMPLETE, NO_ARC)) {
            assertTrue(run.lines().stream().anyMatch(l -> p.matcher(l).matches()), "no line matches " + p + console);
        }
        assertTrue(run.exitCode() == 0, "the probe exited with " + run.exitCode() + console);
        System.out.println("nested VM (mtty migration): boot and probe in " + run.millis() + " ms");
        run.lines().stream().filter(l -> l.startsWith("JVFIO-")).forEach(System.out::println);
    }
}
