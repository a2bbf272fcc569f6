package io.jvfio.qmp;

import io.jvfio.launcher.MainRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code jvfio -accel none -qmp unix:PATH,server=on,wait=off}, run in process: the built-in driver's steps,
 * then the machine under the monitor until {@code quit}; and {@code -qmp}'s bad values, each one line.
 */
@Timeout(300)
class QmpCommandLineTest {

    @TempDir
    Path dir;

    @Test
    void badValuesAreOneLineEach() {
        assertRejected("jvfio: -qmp tcp:localhost:4444: 'tcp:localhost:4444' is not a monitor jvfio can open: use "
                + "unix:PATH,server=on,wait=off (a UNIX socket) or stdio", "-qmp", "tcp:localhost:4444");
        assertRejected("jvfio: -qmp unix:: unix: needs the socket's path, e.g. unix:/tmp/qmp.sock,server=on,wait=off",
                "-qmp", "unix:");
        assertRejected("jvfio: -qmp unix:/tmp/q.sock: the monitor listens for its clients: give server=on,wait=off "
                + "(jvfio does not connect out to a listening management layer)", "-qmp", "unix:/tmp/q.sock");
        assertRejected("jvfio: -qmp unix:/tmp/q.sock,server=on: wait=on (holding the machine until a client "
                + "connects) is not supported: give wait=off", "-qmp", "unix:/tmp/q.sock,server=on");
        assertRejected("jvfio: -qmp unix:/tmp/q.sock,server=on,wait=off,nodelay=on: Invalid parameter 'nodelay' "
                + "(valid: server, wait)", "-qmp", "unix:/tmp/q.sock,server=on,wait=off,nodelay=on");
        assertRejected("jvfio: -qmp unix:/tmp/q.sock,server=maybe,wait=off: Parameter 'server' expects 'on' or 'off'",
                "-qmp", "unix:/tmp/q.sock,server=maybe,wait=off");
        assertRejected("jvfio: -qmp is given twice; give it once", "-qmp", "stdio", "-qmp", "stdio");
        assertRejected("jvfio: -qmp: requires an argument (jvfio --help shows its form)", "-qmp");
    }

    private static void assertRejected(String line, String... args) {
        MainRunner.Result r = MainRunner.run(args);
        assertEquals(1, r.status(), r.toString());
        assertEquals("", r.out(), "nothing on stdout");
        assertEquals(line + "\n", r.err());
    }

    @Test
    void theMachineRunsUntilQuit() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        CompletableFuture<MainRunner.Result> run = CompletableFuture.supplyAsync(() -> MainRunner.run("-accel", "none",
                "-qmp", "unix:" + socket + ",server=on,wait=off"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(socket)) { // the monitor opens once the driver's steps are done
            if (run.isDone()) {
                fail("jvfio ended without opening its monitor: " + run.get());
            }
            if (System.nanoTime() > deadline) {
                fail("no monitor socket within 120 s");
            }
            Thread.sleep(20);
        }
        try (QmpTestClient c = QmpTestClient.negotiated(socket); QmpTestClient other = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("\"id\":{\"device\":4584,\"vendor\":4660,"), "edu on the bus: " + pci);
            // The driver programmed edu's BAR0: its address is no longer 0.
            assertFalse(pci.contains("{\"bar\":0,\"type\":\"memory\",\"address\":0,"), pci);
            QmpTestClient.Message irqs = c.execute("{\"execute\":\"x-query-interrupts\"}");
            long most = 0;
            for (Object d : (List<?>) irqs.map().get("return")) {
                for (Object v : (List<?>) ((Map<?, ?>) d).get("vectors")) {
                    Map<?, ?> vector = (Map<?, ?>) v;
                    most = Math.max(most, ((QmpJson.Number) vector.get("delivered")).asLong());
                    assertEquals("ring", vector.get("path"), "without KVM there is no irqfd: " + irqs.text());
                }
            }
            assertTrue(most >= 1000, "the storm's 1000 interrupts on one vector: " + irqs.text());
            assertEquals("{\"return\":{},\"id\":\"bye\"}", c.execute("{\"execute\":\"quit\",\"id\":\"bye\"}").text());
            for (QmpTestClient client : List.of(c, other)) {
                QmpTestClient.Message shutdown = client.event();
                assertEquals("SHUTDOWN", shutdown.map().get("event"));
                assertTrue(shutdown.text().contains("\"data\":{\"guest\":false,\"reason\":\"host-qmp-quit\"}"),
                        shutdown.text());
            }
        }
        MainRunner.Result r = run.get(60, TimeUnit.SECONDS);
        assertEquals(0, r.status(), r.toString());
        assertTrue(r.err().contains("jvfio: QMP monitor on unix:" + socket + ",server=on,wait=off; the machine runs "
                + "until quit"), r.err());
        assertFalse(Files.exists(socket), "the socket is removed at quit");
    }
}
