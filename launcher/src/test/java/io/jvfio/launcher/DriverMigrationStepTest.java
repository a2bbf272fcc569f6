package io.jvfio.launcher;

import io.jvfio.launcher.driver.DriverReport;
import io.jvfio.launcher.driver.DriverStep;
import io.jvfio.launcher.driver.GuestDriver;
import io.jvfio.launcher.driver.StepResult;
import io.jvfio.memory.GuestRam;
import io.jvfio.memory.MemoryBackendConfig;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.device.DeviceRegistry;
import io.jvfio.vmm.options.OptionString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The built-in driver's migration step, host-side ({@code -accel none}), across a migration simulated
 * inside one machine: the step starts (edu's state left, the soak writing guest RAM), the machine pauses
 * as for the last round, and the machine goes on as the destination would, from what is in RAM and the
 * device. The step PASSes and so do the steps after it; a soak page changed while paused makes it FAIL,
 * naming the page.
 */
@Timeout(120)
class DriverMigrationStepTest {

    /** Soak writes before the machine pauses. */
    static final long WRITES = 100;

    @TempDir
    Path dir;

    @Test
    void theStepPassesAcrossAMigrationAndTheStepsRunAgain() throws Exception {
        DriverReport after = migrate(ram -> { });
        StepResult migration = after.result(DriverStep.MIGRATION);
        assertNotNull(migration, after.render());
        assertEquals(StepResult.Status.PASS, migration.status(), after.render());
        assertTrue(migration.detail().contains("RAM ") && migration.detail().contains("pages as left, edu liveness/"
                + "factorial/DMA buffer as left, MSI-X vector 0x41 taken after the migration"), migration.detail());
        assertTrue(after.passed(), after.render());
        for (DriverStep s : DriverStep.afterMigration()) {
            assertNotNull(after.result(s), s + " did not run:\n" + after.render());
        }
        assertEquals(null, after.result(DriverStep.FIND), "find does not run again:\n" + after.render());
    }

    @Test
    void aSoakPageChangedWhileStoppedFailsTheStepNamingThePage() throws Exception {
        long[] page = new long[1];
        DriverReport after = migrate(ram -> {
            long last = ram.readU64(GuestDriver.MIGRATION_PROGRESS);
            page[0] = (last / 2) % GuestDriver.MIGRATION_PAGES;
            long at = GuestDriver.MIGRATION_SOAK + page[0] * 4096;
            ram.writeU64(at, ram.readU64(at) ^ 0x5a);
        });
        StepResult migration = after.result(DriverStep.MIGRATION);
        assertNotNull(migration, after.render());
        assertEquals(StepResult.Status.FAIL, migration.status(), after.render());
        assertTrue(migration.detail().contains(String.format("RAM page %d (0x%x) does not hold what its last write "
                + "left there", page[0], GuestDriver.MIGRATION_SOAK + page[0] * 4096)), migration.detail());
        // The steps after it still run, and pass: only the step's own check saw the change.
        for (DriverStep s : DriverStep.afterMigration().subList(1, DriverStep.afterMigration().size())) {
            StepResult r = after.result(s);
            assertNotNull(r, s + " did not run:\n" + after.render());
            assertTrue(r.status() != StepResult.Status.FAIL, after.render());
        }
    }

    /**
     * A machine with the Java edu over vfio-user, driven; the migration step started and left to write
     * {@link #WRITES} times; the machine paused, {@code whilePaused} done to its RAM, and resumed as the
     * destination.
     */
    private DriverReport migrate(java.util.function.Consumer<GuestRam> whilePaused) throws Exception {
        EduDevice edu = new EduDevice();
        try (VfioUserServer server = VfioUserServer.start(dir.resolve("edu.sock"), edu);
             Machine m = Machine.create(new MachineConfig(MemoryBackendConfig.ram(64L << 20), Accelerator.NONE, true,
                     "migration-step", 1, List.of(), List.of(), List.of(), null))) {
            AttachedDevices.Attached a = m.devices().attach(DeviceRegistry.load().configure(OptionString.parse(
                    "vfio-user-pci,socket=" + server.path(), "driver")));
            DriverReport start = m.drive(a.at());
            assertTrue(start.passed(), start.render());
            assertEquals(null, start.result(DriverStep.MIGRATION), "the step runs only across a migration");

            m.migrationStarting();
            GuestRam ram = m.memory.ram();
            awaitWrites(ram, WRITES, 60);
            m.pauseGuest();
            long paused = ram.readU64(GuestDriver.MIGRATION_PROGRESS);
            assertTrue(paused >= WRITES, "progress " + paused);
            whilePaused.accept(ram);
            DriverReport after = m.resumeMigrated(a.at());
            System.err.print(after.render());
            assertEquals(paused, ram.readU64(GuestDriver.MIGRATION_PROGRESS), "no write after the pause");
            return after;
        } finally {
            edu.close();
        }
    }

    /** Until the soak's progress word says {@code n} writes were made, at most {@code seconds}. */
    static void awaitWrites(GuestRam ram, long n, long seconds) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (ram.readU64(GuestDriver.MIGRATION_PROGRESS) < n) {
            assertTrue(System.nanoTime() < deadline, "the soak made " + ram.readU64(GuestDriver.MIGRATION_PROGRESS)
                    + " writes in " + seconds + " s, expected " + n);
            Thread.sleep(5); // a poll of guest RAM for the condition, not a guess at a duration
        }
    }
}
