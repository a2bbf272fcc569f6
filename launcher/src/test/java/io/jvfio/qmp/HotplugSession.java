package io.jvfio.qmp;

import io.jvfio.launcher.MainRunner;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.user.server.VfioUserServer;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * jvfio run in process as a management layer runs it: a machine with the edu device written in Java
 * (served over vfio-user in this process) at the start and an empty {@code pcie-root-port}, and a QMP
 * monitor on a UNIX socket; the test adds a second edu onto the port with {@code device_add}, waits for
 * the built-in driver's block on it in jvfio's output (every step passed), removes it with
 * {@code device_del}, waits for {@code DEVICE_DELETED} and for the device's server to see its client
 * leave, and again. The driver's output is watched as it is written: each wait is for what it waits for,
 * bounded.
 */
final class HotplugSession implements AutoCloseable {

    /** A device's block ends with this line (HotplugReport's words), whether every step passed or some failed. */
    static final Pattern ENDED = Pattern.compile("hotplug: (\\S+) behind root port (\\S+) \\(slot 1\\): (every step "
            + "passed|\\d+ steps? failed)\n");
    private static final Pattern FAILED_STEP = Pattern.compile("\n  FAIL  (\\S+) ");

    private final Path dir;
    private final Output out = new Output();
    private final Output err = new Output();
    private final EduDevice startEdu = new EduDevice();
    private final EduDevice hotEdu = new EduDevice();
    private final VfioUserServer startServer;
    private final VfioUserServer hotServer;
    private final Path qmp;
    private final Thread jvfio;
    private volatile int status = -1;

    /** Output that a test waits on: each write wakes the waiters. */
    static final class Output extends OutputStream {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        @Override
        public synchronized void write(int b) {
            bytes.write(b);
            notifyAll();
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            bytes.write(b, off, len);
            notifyAll();
        }

        /** Wakes the waiters without a write (jvfio has ended: a condition on that is to be looked at again). */
        synchronized void wake() {
            notifyAll();
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        /** Waits until {@code condition} holds for everything written so far; fails after {@code timeout}. */
        synchronized String await(String what, Predicate<String> condition, Duration timeout)
                throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!condition.test(text())) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    fail("no " + what + " within " + timeout.toSeconds() + " s; the output so far:\n" + text());
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
            return text();
        }
    }

    /** Starts jvfio with {@code accel} (e.g. {@code -accel none}) and waits for its monitor. */
    HotplugSession(Path dir, Duration timeout, String... accel) throws Exception {
        this.dir = dir;
        // The servers wait for their clients as long as the test waits: in the nested VM the JVM is slow to
        // warm up and a negotiation takes longer than the default 10 s.
        ConnectionLimits patient = ConnectionLimits.DEFAULTS.withNegotiationTimeout(timeout.toMillis())
                .withMessageTimeout(timeout.toMillis());
        startServer = VfioUserServer.start(dir.resolve("start.sock"), startEdu, patient);
        hotServer = VfioUserServer.start(dir.resolve("hot.sock"), hotEdu, patient);
        qmp = dir.resolve("qmp.sock");
        List<String> args = new ArrayList<>(List.of(accel));
        args.addAll(List.of("-m", "64M", "-device", "vfio-user-pci,socket=" + startServer.path(),
                "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
                "-qmp", "unix:" + qmp + ",server=on,wait=off"));
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        jvfio = new Thread(() -> {
            status = MainRunner.run(o, e, args.toArray(String[]::new));
            out.wake();
            err.wake();
        }, "jvfio");
        jvfio.start();
        err.await("QMP monitor", t -> t.contains("QMP monitor on") || !jvfio.isAlive(), timeout);
        assertTrue(jvfio.isAlive(), "jvfio ended before its monitor opened: " + out.text() + err.text());
        assertTrue(Files.exists(qmp));
        // The monitor opens as the machine starts; the driver's hotplug service after its steps on the
        // start device: a device_add before that would find no one serving the slot.
        out.await("the driver's hotplug service", t -> t.contains("hotplug: serving ") || !jvfio.isAlive(), timeout);
        assertTrue(jvfio.isAlive(), "jvfio ended before its hotplug service started: " + out.text() + err.text());
    }

    String output() {
        return out.text();
    }

    /**
     * One round: device_add of the hot edu onto rp1, the driver's block on it with every step passed
     * (the {@code round}-th such line), device_del, the driver's quiesce and power off, DEVICE_DELETED,
     * and the server's client gone. Returns the device's block.
     */
    String plugAndUnplug(QmpTestClient c, int round, Duration timeout) throws Exception {
        return plugAndUnplug(c, round, timeout, java.util.Set.of());
    }

    /**
     * {@link #plugAndUnplug(QmpTestClient, int, Duration)}, where the steps named in {@code mayFail} may
     * fail (and only they): for an environment whose defect a step is known to show, named by the caller.
     */
    String plugAndUnplug(QmpTestClient c, int round, Duration timeout, java.util.Set<String> mayFail) throws Exception {
        assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":"
                + "\"vfio-user-pci\",\"socket\":\"" + hotServer.path() + "\",\"bus\":\"rp1\",\"id\":\"hp1\"}}").text());
        String text = out.await("block of the hot-added device's steps (round " + round + ")",
                t -> count(ENDED, t) >= round || t.contains("the run failed\n"), timeout);
        assertEquals(round, count(ENDED, text), "round " + round + ": " + text);
        String block = lastBlock(text);
        Matcher failed = FAILED_STEP.matcher(block);
        while (failed.find()) {
            assertTrue(mayFail.contains(failed.group(1)), "round " + round + ": step " + failed.group(1)
                    + " failed:\n" + block);
        }

        assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hp1\"}}")
                .text());
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            QmpTestClient.Message m = c.event();
            if ("DEVICE_DELETED".equals(m.map().get("event"))
                    && "hp1".equals(((Map<?, ?>) m.map().get("data")).get("device"))) {
                break;
            }
            if (System.nanoTime() > deadline) {
                fail("no DEVICE_DELETED for hp1 within " + timeout.toSeconds() + " s");
            }
        }
        assertTrue(hotServer.awaitNoClient(timeout.toSeconds(), TimeUnit.SECONDS),
                "the hot-added device's server sees its client leave");
        out.await("slot empty (round " + round + ")", t -> count(Pattern.compile("the slot is empty"), t) >= round,
                timeout);
        String after = out.text();
        assertEquals(round, count(Pattern.compile("attention button pressed; 01:00\\.0 quiesced \\(bus mastering, "
                + "memory and I/O decode, MSI and MSI-X off\\); power indicator off and slot powered off in one "
                + "Slot Control write, command completed\n"), after), after);
        return block;
    }

    /** The last hot-added device's block: from its "presence detected" line to its last line. */
    static String lastBlock(String text) {
        Matcher m = ENDED.matcher(text);
        int end = -1;
        while (m.find()) {
            end = m.start();
        }
        int start = text.lastIndexOf("presence detected", end);
        return text.substring(text.lastIndexOf('\n', start) + 1, end);
    }

    static int count(Pattern p, String text) {
        Matcher m = p.matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }

    Path qmp() {
        return qmp;
    }

    /** quit, and jvfio's status. */
    int quit(QmpTestClient c, Duration timeout) throws Exception {
        assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"quit\"}").text());
        jvfio.join(timeout.toMillis());
        assertTrue(!jvfio.isAlive(), "jvfio ended after quit");
        return status;
    }

    @Override
    public void close() throws Exception {
        if (jvfio.isAlive()) {
            try (QmpTestClient c = QmpTestClient.negotiated(qmp)) {
                c.send("{\"execute\":\"quit\"}");
            } catch (Exception | AssertionError e) {
                // the monitor is gone already
            }
            jvfio.join(TimeUnit.SECONDS.toMillis(60));
        }
        hotServer.close();
        startServer.close();
        hotEdu.close();
        startEdu.close();
    }
}
