package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.migration.MigrationControl;
import io.jvfio.vmm.pci.TestFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The migration commands and events over real QMP sockets, between two machines of this JVM without KVM:
 * migrate, migrate-incoming after -incoming defer, query-migrate, the parameters, migrate_cancel, the run
 * states, and QEMU's errors.
 */
class MigrationQmpTest {

    @TempDir
    Path dir;

    private final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private VirtualMachine machine(VirtualMachine.Builder b) {
        VirtualMachine vm = b.memory("32M").accelerator(VirtualMachine.Accelerator.NONE).build();
        closing.add(vm);
        return vm;
    }

    private Path monitor(String name, VirtualMachine vm, MigrationControl migration) {
        Path socket = dir.resolve(name + ".qmp");
        QmpMonitor m = QmpMonitor.open(vm, migration, List.of(QmpChardev.parse("unix:" + socket
                + ",server=on,wait=off")), "1.2.3-test", null, null);
        closing.add(m);
        return socket;
    }

    private static String event(QmpTestClient c) throws InterruptedException {
        Map<String, Object> e = c.event().map();
        Object data = e.get("data");
        return e.get("event") + (data instanceof Map<?, ?> d && d.get("status") != null ? " " + d.get("status") : "");
    }

    @Test
    void migrateBetweenTwoMonitors() throws Exception {
        VirtualMachine src = machine(VirtualMachine.builder());
        src.memory().ram().write(0x4000, "over QMP".getBytes(), 0, 8);
        VirtualMachine dst = machine(VirtualMachine.builder());
        MigrationControl incoming = new MigrationControl(dst, "1.2.3-test");
        incoming.incoming("defer");
        Path srcQmp = monitor("src", src, new MigrationControl(src, "1.2.3-test"));
        Path dstQmp = monitor("dst", dst, incoming);
        Path stream = dir.resolve("mig.sock");
        try (QmpTestClient s = QmpTestClient.negotiated(srcQmp); QmpTestClient d = QmpTestClient.negotiated(dstQmp)) {
            assertEquals("{\"return\":{\"running\":false,\"status\":\"inmigrate\"}}",
                    d.execute("{\"execute\":\"query-status\"}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Guest is waiting for an incoming migration\"}}",
                    d.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:" + stream + "\"}}").text());
            assertEquals("{\"return\":{}}", d.execute("{\"execute\":\"cont\"}").text()); // QEMU's autostart
            assertEquals("{\"return\":{\"running\":false,\"status\":\"inmigrate\"}}",
                    d.execute("{\"execute\":\"query-status\"}").text());
            assertEquals("{\"return\":{}}", d.execute("{\"execute\":\"migrate-incoming\",\"arguments\":{\"channels\":"
                    + "[{\"channel-type\":\"main\",\"addr\":{\"transport\":\"socket\",\"type\":\"unix\",\"path\":\""
                    + stream + "\"}}]}}").text());
            assertEquals("MIGRATION setup", event(d));
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"The incoming migration has already been "
                    + "started\"}}", d.execute("{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"unix:"
                    + stream + "\"}}").text());

            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"query-migrate\"}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'downtime_limit' expects an "
                    + "integer in the range of 0 to 2000000 ms\"}}", s.execute("{\"execute\":\"migrate-set-parameters\","
                    + "\"arguments\":{\"downtime-limit\":2000001}}").text());
            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"migrate-set-parameters\",\"arguments\":"
                    + "{\"downtime-limit\":100,\"max-bandwidth\":0}}").text());
            assertEquals("{\"return\":{\"downtime-limit\":100,\"max-bandwidth\":0}}",
                    s.execute("{\"execute\":\"query-migrate-parameters\"}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"need either 'uri' or 'channels' argument\"}}",
                    s.execute("{\"execute\":\"migrate\"}").text());

            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:" + stream
                    + "\"}}").text());
            assertEquals("MIGRATION setup", event(s));
            assertEquals("MIGRATION active", event(s));
            assertEquals("STOP", event(s));
            assertEquals("MIGRATION device", event(s));
            assertEquals("MIGRATION completed", event(s));
            assertEquals("{\"return\":{\"running\":false,\"status\":\"postmigrate\"}}",
                    s.execute("{\"execute\":\"query-status\"}").text());
            String info = s.execute("{\"execute\":\"query-migrate\"}").text();
            assertTrue(info.startsWith("{\"return\":{\"status\":\"completed\",\"total-time\":"), info);
            assertTrue(info.contains("\"downtime\":") && info.contains("\"setup-time\":"), info);
            assertTrue(info.contains("\"ram\":{\"transferred\":") && info.contains("\"total\":33554432,")
                    && info.contains("\"normal\":1,\"normal-bytes\":4096,") && info.contains("\"dirty-sync-count\":")
                    && info.contains("\"mbps\":") && info.contains("\"pages-per-second\":"), info);
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Can't migrate the vm that was paused due to "
                    + "previous migration\"}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:"
                    + dir.resolve("f") + "\"}}").text());

            assertEquals("MIGRATION active", event(d));
            assertEquals("MIGRATION completed", event(d));
            assertEquals("RESUME", event(d));
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    d.execute("{\"execute\":\"query-status\"}").text());
            assertTrue(d.execute("{\"execute\":\"query-migrate\"}").text().startsWith(
                    "{\"return\":{\"status\":\"completed\",\"total-time\":"));
            byte[] moved = new byte[8];
            dst.memory().ram().read(0x4000, moved, 0, 8);
            assertEquals("over QMP", new String(moved));

            // The source runs again on cont, as QEMU's does after a completed migration.
            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"cont\"}").text());
            assertEquals("RESUME", event(s));
        }
    }

    @Test
    void aBlockerRefusesMigrate() throws Exception {
        VirtualMachine src = machine(VirtualMachine.builder().device("mine", m -> new TestFunction(256)));
        Path qmp = monitor("src", src, new MigrationControl(src, "1.2.3-test"));
        try (QmpTestClient s = QmpTestClient.negotiated(qmp)) {
            String answer = s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:" + dir.resolve("x")
                    + "\"}}").text();
            assertTrue(answer.startsWith("{\"error\":{\"class\":\"GenericError\",\"desc\":\"device '00:01.0' (mine) cannot "
                    + "migrate: "), answer);
            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"query-migrate\"}").text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"unknown migration protocol: x:y (give "
                    + "unix:PATH or file:PATH)\"}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"x:y\"}}")
                    .text());
        }
    }

    @Test
    void aFailedAndACancelledMigrationLeaveTheSourceRunning() throws Exception {
        VirtualMachine src = machine(VirtualMachine.builder());
        Path qmp = monitor("src", src, new MigrationControl(src, "1.2.3-test"));
        try (QmpTestClient s = QmpTestClient.negotiated(qmp)) {
            Path nobody = dir.resolve("nobody.sock");
            assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:" + nobody
                    + "\"}}").text());
            assertEquals("MIGRATION setup", event(s));
            assertEquals("MIGRATION failed", event(s));
            String info = s.execute("{\"execute\":\"query-migrate\"}").text();
            assertTrue(info.startsWith("{\"return\":{\"status\":\"failed\",") && info.contains("\"error-desc\":\"Failed to "
                    + "connect to '" + nobody + "': "), info);
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    s.execute("{\"execute\":\"query-status\"}").text());

            // A destination that takes the connection and never reads: the migration stays under way.
            Path silent = dir.resolve("silent.sock");
            try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
                server.bind(UnixDomainSocketAddress.of(silent));
                assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:"
                        + silent + "\"}}").text());
                try (SocketChannel accepted = server.accept()) {
                    assertEquals("MIGRATION setup", event(s));
                    assertEquals("MIGRATION active", event(s));
                    assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"There's a migration process in "
                            + "progress\"}}", s.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:" + silent
                            + "\"}}").text());
                    assertEquals("{\"return\":{}}", s.execute("{\"execute\":\"migrate_cancel\"}").text());
                    List<String> seen = new ArrayList<>();
                    for (String e = event(s); !e.equals("MIGRATION cancelled"); e = event(s)) {
                        seen.add(e);
                    }
                    // Cancelled in pre-copy, or in the last round: then stopped, and running again before cancelled.
                    assertTrue(seen.contains("MIGRATION cancelling"), seen.toString());
                    assertEquals(seen.contains("STOP"), seen.contains("RESUME"), seen.toString());
                }
            }
            assertTrue(s.execute("{\"execute\":\"query-migrate\"}").text().startsWith(
                    "{\"return\":{\"status\":\"cancelled\","));
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    s.execute("{\"execute\":\"query-status\"}").text());
        }
    }
}
