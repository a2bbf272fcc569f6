package io.jvfio.qmp;

import io.jvfio.launcher.ServerProcess;
import io.jvfio.vfio.devices.GpioDevice;
import io.jvfio.vfio.user.server.VfioUserServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.time.Duration;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VM migration between two jvfio processes without KVM ({@code -accel none}: the host-side driver is the
 * guest, the virtual local APICs and IOAPIC move with the machine): over a UNIX socket and through a file,
 * the built-in driver's steps after the migration passing on the destination; and each error: a device
 * without migration blocks {@code migrate} with its name and why, a stream of another format or for another
 * machine is refused on load with what differs, and a destination that dies mid-stream leaves the source
 * running (a second migration then completes). {@link VmMigrationKvmTest} is the same on KVM.
 */
@Timeout(900)
class VmMigrationTest {

    static final Duration WAIT = Duration.ofSeconds(240);

    @TempDir
    Path dir;

    @Test
    void aRunningMachineMigratesOverAUnixSocketAndThroughAFile() throws Exception {
        try (VmMigrationSession s = new VmMigrationSession(dir, "none", WAIT)) {
            QmpTestClient source = s.source("source");
            ServerProcess destination = s.start("destination", "-incoming", "unix:" + dir.resolve("in.sock"));
            destination.awaitOutput("waiting for an incoming migration", WAIT.toSeconds());
            Map<String, Object> info = s.migrate(source, "unix:" + dir.resolve("in.sock"));
            long downtime = VmMigrationSession.downtime(info);
            @SuppressWarnings("unchecked")
            Map<String, Object> ram = (Map<String, Object>) info.get("ram");
            assertTrue(VmMigrationSession.number(ram.get("dirty-sync-count")) >= 1, info.toString());
            assertEquals(64L << 20, VmMigrationSession.number(ram.get("total")), info.toString());
            s.assertStepsPassedAfterMigration(destination, Set.of());
            System.err.println("VmMigrationTest: unix: downtime " + downtime + " ms, " + info);
            assertEquals(0, destination.awaitExit(WAIT.toSeconds()), destination.output());

            // The same machine state through a file: a second source, its file loaded by a destination started after.
            QmpTestClient second = s.source("second");
            Path file = dir.resolve("vm.migration");
            Map<String, Object> fileInfo = s.migrate(second, "file:" + file);
            VmMigrationSession.downtime(fileInfo);
            ServerProcess fromFile = s.start("from-file", "-incoming", "file:" + file);
            s.assertStepsPassedAfterMigration(fromFile, Set.of());
            assertEquals(0, fromFile.awaitExit(WAIT.toSeconds()), fromFile.output());

            // That file, refused by a destination with other RAM, with another device, and in another format.
            ServerProcess otherRam = s.start("other-ram", "-m", "128M", "-incoming", "file:" + file);
            assertEquals(1, otherRam.awaitExit(WAIT.toSeconds()), otherRam.output());
            assertTrue(otherRam.output().contains("jvfio: load of migration failed: ")
                    && otherRam.output().contains("128 MiB"), otherRam.output());
            try (VfioUserServer server = VfioUserServer.start(dir.resolve("gpio.sock"), new GpioDevice())) {
                ServerProcess otherDevice = s.start("other-device", "-incoming", "file:" + file, "-device",
                        "vfio-user-pci,socket=" + dir.resolve("gpio.sock"));
                assertEquals(1, otherDevice.awaitExit(WAIT.toSeconds()), otherDevice.output());
                assertTrue(otherDevice.output().contains("jvfio: load of migration failed: ")
                        && otherDevice.output().contains("1234:10f0"), otherDevice.output());
            }
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.allocate(4).putInt(0, 99), 8); // the format version, after the 8-byte magic
            }
            ServerProcess otherFormat = s.start("other-format", "-incoming", "file:" + file);
            assertEquals(1, otherFormat.awaitExit(WAIT.toSeconds()), otherFormat.output());
            assertTrue(otherFormat.output().contains("jvfio: load of migration failed: ")
                    && otherFormat.output().contains("99"), otherFormat.output());
        }
    }

    @Test
    void aDeviceWithoutMigrationBlocksMigrateWithItsNameAndWhy() throws Exception {
        try (VfioUserServer server = VfioUserServer.start(dir.resolve("gpio.sock"), new GpioDevice());
             VmMigrationSession s = new VmMigrationSession(dir, "none", WAIT)) {
            ServerProcess p = s.start("source", "-device", "vfio-user-pci,socket=" + dir.resolve("gpio.sock")
                    + ",id=gpio0", s.qmp("source")[0], s.qmp("source")[1]);
            p.awaitOutput("\ndevices:\n", WAIT.toSeconds());
            QmpTestClient c = s.client("source");
            QmpTestClient.Message m = c.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:"
                    + dir.resolve("nobody.sock") + "\"}}");
            // The blocker's words: the device (its socket and id) and why (its server has no migration).
            assertTrue(m.text().startsWith("{\"error\":{\"class\":\"GenericError\",\"desc\":\"vfio-user-pci ")
                    && m.text().contains("(gpio0): VFIO migration is not supported by the device")
                    && m.text().contains("ENOTTY"), m.text());
            assertEquals("running", VmMigrationSession.answer(c, "{\"execute\":\"query-status\"}").get("status"));
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"query-migrate\"}").text());
        }
    }

    @Test
    void aDestinationThatDiesMidStreamLeavesTheSourceRunning() throws Exception {
        try (VmMigrationSession s = new VmMigrationSession(dir, "none", WAIT)) {
            QmpTestClient source = s.source("source");
            ServerProcess doomed = s.start("doomed", "-incoming", "unix:" + dir.resolve("doomed.sock"));
            doomed.awaitOutput("waiting for an incoming migration", WAIT.toSeconds());
            // Slow enough that the stream is still going when the destination is killed: 1 MiB/s.
            assertEquals("{\"return\":{}}", source.execute("{\"execute\":\"migrate-set-parameters\",\"arguments\":"
                    + "{\"max-bandwidth\":1048576}}").text());
            assertEquals("{\"return\":{}}", source.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:"
                    + dir.resolve("doomed.sock") + "\"}}").text());
            s.awaitMigration(source, "active");
            doomed.signal("KILL");
            s.awaitMigration(source, "failed");
            Map<String, Object> info = VmMigrationSession.answer(source, "{\"execute\":\"query-migrate\"}");
            assertEquals("failed", info.get("status"), info.toString());
            assertTrue(info.get("error-desc") instanceof String, info.toString());
            assertEquals("running", VmMigrationSession.answer(source, "{\"execute\":\"query-status\"}").get("status"));
            assertTrue(s.process("source").output().contains("jvfio: the migration failed"), s.process("source").output());

            // The source is whole: a second migration, at full speed, completes and its steps pass there.
            assertEquals("{\"return\":{}}", source.execute("{\"execute\":\"migrate-set-parameters\",\"arguments\":"
                    + "{\"max-bandwidth\":134217728}}").text());
            ServerProcess destination = s.start("destination", "-incoming", "unix:" + dir.resolve("in.sock"));
            destination.awaitOutput("waiting for an incoming migration", WAIT.toSeconds());
            s.migrate(source, "unix:" + dir.resolve("in.sock"));
            s.assertStepsPassedAfterMigration(destination, Set.of());
        }
    }
}
