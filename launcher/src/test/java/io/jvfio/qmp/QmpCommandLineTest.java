package io.jvfio.qmp;

import io.jvfio.launcher.MainRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code jvfio -accel none -qmp unix:PATH,server=on,wait=off -chardev socket,... -mon ...}, run in process:
 * the monitors open as the machine starts, the built-in driver's steps, then the machine under the
 * monitors until {@code quit}; and the bad values of {@code -qmp}, {@code -chardev} and {@code -mon}, each one
 * line.
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
        assertRejected("jvfio: cannot use stdio by multiple character devices: give one monitor stdio, the others "
                + "sockets", "-qmp", "stdio", "-qmp", "stdio");
        assertRejected("jvfio: two monitors on /tmp/q.sock: give each monitor its own socket path",
                "-qmp", "unix:/tmp/q.sock,server=on,wait=off", "-qmp", "unix:/tmp/q.sock,server=on,wait=off");
        assertRejected("jvfio: -qmp: requires an argument (jvfio --help shows its form)", "-qmp");
    }

    @Test
    void badChardevAndMonAreOneLineEach() {
        String mon = "-chardev socket,id=mon0,path=/tmp/m.sock,server=on,wait=off";
        assertRejected("jvfio: -mon chardev=mon1,mode=control: chardev \"mon1\" not found (the chardevs: mon0)",
                (mon + " -mon chardev=mon1,mode=control").split(" "));
        assertRejected("jvfio: -mon chardev=mon0,mode=control: chardev \"mon0\" not found: add -chardev socket,"
                + "id=mon0,path=PATH,server=on,wait=off", "-mon", "chardev=mon0,mode=control");
        assertRejected("jvfio: -mon mon0,mode=readline: Only QMP is supported: jvfio has no human monitor "
                + "(mode=readline, HMP); give mode=control", (mon + " -mon mon0,mode=readline").split(" "));
        assertRejected("jvfio: -mon chardev=mon0,mode=chatty: Parameter 'mode' does not accept value 'chatty' (use readline or "
                + "control)",
                (mon + " -mon chardev=mon0,mode=chatty").split(" "));
        assertRejected("jvfio: -mon mode=control: Parameter 'chardev' is missing: give -mon chardev=ID,mode=control "
                + "with the id of a -chardev", "-mon", "mode=control");
        assertRejected("jvfio: -mon chardev=mon0,mode=control: Device 'mon0' is in use: give each monitor its own "
                + "-chardev", (mon + " -mon chardev=mon0,mode=control -mon chardev=mon0,mode=control").split(" "));
        assertRejected("jvfio: -chardev socket,id=mon0,path=/tmp/m.sock,server=on,wait=off: no -mon uses it (jvfio's "
                + "chardevs are for monitors): add -mon chardev=mon0,mode=control", mon.split(" "));
        assertRejected("jvfio: -chardev socket,path=/tmp/m.sock,server=on,wait=off: chardev: no id specified: give "
                + "id=ID, the name -mon chardev=ID refers to", "-chardev", "socket,path=/tmp/m.sock,server=on,wait=off");
        assertRejected("jvfio: -chardev socket,id=mon0,host=localhost,port=4444,server=on,wait=off: Invalid parameter "
                + "'host' (valid: id, path, server, wait)", "-chardev",
                "socket,id=mon0,host=localhost,port=4444,server=on,wait=off");
        assertRejected("jvfio: -chardev socket,id=mon0,server=on,wait=off: a monitor's socket is a UNIX socket: give "
                + "path=PATH (jvfio does not listen on TCP host= and port=)", "-chardev",
                "socket,id=mon0,server=on,wait=off");
        assertRejected("jvfio: -chardev socket,id=mon0,path=/tmp/m.sock,server=on: wait=on (holding the machine until "
                + "a client connects) is not supported: give wait=off", "-chardev",
                "socket,id=mon0,path=/tmp/m.sock,server=on");
        assertRejected("jvfio: -chardev pty,id=mon0: 'pty' is not a char driver jvfio's monitors take: use socket,"
                + "id=ID,path=PATH,server=on,wait=off or stdio,id=ID", "-chardev", "pty,id=mon0");
        assertRejected("jvfio: -chardev stdio,id=mon0: Duplicate ID 'mon0' for chardev",
                (mon + " -chardev stdio,id=mon0").split(" "));
        assertRejected("jvfio: -mon chardev=mon0,pretty=on: pretty=on (JSON spread over lines) is not supported: give "
                + "pretty=off, or leave it out (management layers read one message a line)",
                (mon + " -mon chardev=mon0,pretty=on").split(" "));
    }

    private static void assertRejected(String line, String... args) {
        MainRunner.Result r = MainRunner.run(args);
        assertEquals(1, r.status(), r.toString());
        assertEquals("", r.out(), "nothing on stdout");
        assertEquals(line + "\n", r.err());
    }

    /**
     * The monitors open as the machine starts: a client queries before the driver's steps run (standard
     * output is a pipe of one byte that the test does not read yet, so jvfio waits in its first lines), sees
     * stop refused while they run, and after them finds the storm's 1000 interrupts on MSI-X 0 in
     * x-query-interrupts, the INTx line's count the same in QMP and JMX; two monitors at once, -qmp and
     * -chardev with -mon, share the events; nothing is left in the MBean server after quit.
     */
    @Test
    void theMonitorsOpenAtStartAndTheMachineRunsUntilQuit() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        Path mon = dir.resolve("mon.sock");
        java.io.PipedInputStream stdout = new java.io.PipedInputStream(1);
        java.io.PipedOutputStream toStdout = new java.io.PipedOutputStream(stdout);
        java.io.ByteArrayOutputStream stderr = new java.io.ByteArrayOutputStream();
        java.util.concurrent.FutureTask<Integer> run = new java.util.concurrent.FutureTask<>(() -> {
            try (java.io.PrintStream out = new java.io.PrintStream(toStdout, true, StandardCharsets.UTF_8)) {
                return MainRunner.run(out, new java.io.PrintStream(stderr, true, StandardCharsets.UTF_8), "-accel",
                        "none", "-name", "qmp-cli", "-qmp", "unix:" + socket + ",server=on,wait=off", "-chardev",
                        "socket,id=mon0,path=" + mon + ",server=on,wait=off", "-mon", "chardev=mon0,mode=control");
            }
        });
        new Thread(run, "jvfio-main").start();
        java.io.BufferedReader lines = new java.io.BufferedReader(new java.io.InputStreamReader(stdout,
                StandardCharsets.UTF_8));
        String header = lines.readLine(); // printed once the monitors are open
        assertTrue(header != null && header.startsWith("jvfio: no KVM (-accel none)"), header);
        javax.management.MBeanServer jmx = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        try (QmpTestClient c = QmpTestClient.negotiated(socket); QmpTestClient other = QmpTestClient.negotiated(mon)) {
            // Before the steps: the machine runs, edu is on the bus, its BAR0 not programmed yet.
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("\"id\":{\"device\":4584,\"vendor\":4660,"), "edu on the bus: " + pci);
            assertTrue(pci.contains("{\"bar\":0,\"type\":\"memory\",\"address\":0,"), "not programmed yet: " + pci);
            assertTrue(c.execute("{\"execute\":\"x-query-interrupts\"}").text().startsWith("{\"return\":[{"));
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"the built-in driver's steps are running: "
                    + "stop is refused until they end; send it again then (query-status and the other queries are "
                    + "answered meanwhile)\"}}", other.execute("{\"execute\":\"stop\"}").text());

            // Let jvfio write its report, and wait for the end of the steps.
            java.util.concurrent.BlockingQueue<String> report = new java.util.concurrent.LinkedBlockingQueue<>();
            Thread drain = new Thread(() -> {
                try {
                    for (String l = lines.readLine(); l != null; l = lines.readLine()) {
                        report.add(l);
                    }
                } catch (java.io.IOException e) {
                    report.add("read failed: " + e);
                }
            }, "jvfio-stdout");
            drain.setDaemon(true);
            drain.start();
            StringBuilder seen = new StringBuilder(header).append('\n');
            for (String l = ""; !l.equals("devices:"); seen.append(l).append('\n')) {
                l = report.poll(120, TimeUnit.SECONDS);
                assertTrue(l != null, "no end of the steps within 120 s: " + seen);
            }
            assertTrue(seen.toString().contains("storm"), seen.toString());

            QmpTestClient.Message irqs = c.execute("{\"execute\":\"x-query-interrupts\"}");
            Map<?, ?> msix0 = vector(irqs, "MSI-X 0");
            // The storm step's 1000 and the interrupt step's one, on the storm's vector, by the poller.
            assertEquals(1001L, ((QmpJson.Number) msix0.get("delivered")).asLong(), irqs.text());
            assertEquals("ring", msix0.get("path"), "without KVM there is no irqfd: " + irqs.text());
            long intx = ((QmpJson.Number) vector(irqs, "INTx").get("delivered")).asLong();
            assertTrue(intx >= 1, irqs.text());
            // JMX shows the same numbers (MSI-X is off after the INTx step: its vectors' MBeans are gone).
            java.util.Set<javax.management.ObjectName> names = jmx.queryNames(new javax.management.ObjectName(
                    "io.jvfio:type=InterruptVector,vm=qmp-cli,*"), null);
            assertEquals(1, names.size(), names.toString());
            javax.management.ObjectName line = names.iterator().next();
            assertEquals("intx", line.getKeyProperty("kind"), line.toString());
            assertEquals(intx, jmx.getAttribute(line, "Delivered"));

            // The hold is gone with the steps: stop and cont, their events at both monitors.
            assertEquals("{\"return\":{}}", other.execute("{\"execute\":\"stop\"}").text());
            assertEquals("STOP", c.event().map().get("event"));
            assertEquals("STOP", other.event().map().get("event"));
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"cont\"}").text());
            assertEquals("RESUME", c.event().map().get("event"));
            assertEquals("RESUME", other.event().map().get("event"));

            assertEquals("{\"return\":{},\"id\":\"bye\"}", c.execute("{\"execute\":\"quit\",\"id\":\"bye\"}").text());
            for (QmpTestClient client : List.of(c, other)) {
                QmpTestClient.Message shutdown = client.event();
                assertEquals("SHUTDOWN", shutdown.map().get("event"));
                assertTrue(shutdown.text().contains("\"data\":{\"guest\":false,\"reason\":\"host-qmp-quit\"}"),
                        shutdown.text());
            }
        }
        assertEquals(0, run.get(60, TimeUnit.SECONDS), stderr.toString(StandardCharsets.UTF_8));
        assertTrue(stderr.toString(StandardCharsets.UTF_8).contains("jvfio: QMP monitors on unix:" + socket
                + ",server=on,wait=off and unix:" + mon + ",server=on,wait=off; the machine runs until quit"),
                stderr.toString(StandardCharsets.UTF_8));
        assertFalse(Files.exists(socket), "the socket is removed at quit");
        assertFalse(Files.exists(mon), "the socket is removed at quit");
        assertEquals(java.util.Set.of(), jmx.queryNames(new javax.management.ObjectName("io.jvfio:vm=qmp-cli,*"),
                null), "nothing of the machine is left in the MBean server");
    }

    /** The vector {@code name} ("MSI-X 0", "INTx") of the first device in an x-query-interrupts answer. */
    private static Map<?, ?> vector(QmpTestClient.Message irqs, String name) {
        for (Object v : (List<?>) ((Map<?, ?>) ((List<?>) irqs.map().get("return")).get(0)).get("vectors")) {
            if (name.equals(((Map<?, ?>) v).get("vector"))) {
                return (Map<?, ?>) v;
            }
        }
        throw new AssertionError("no vector " + name + ": " + irqs.text());
    }
}
