package io.jvfio.qmp;

import io.jvfio.launcher.ServerProcess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Two jvfio processes, each a JVM of its own with the edu device written in Java served over vfio-user on a
 * private socket (no {@code -device}: the launcher's default), migrating as a management layer drives QEMU: the
 * source runs the built-in driver's steps and goes on under a QMP monitor; {@code migrate} moves the machine
 * while the driver's migration step keeps writing; the destination, started with {@code -incoming}, loads it
 * and the driver goes on there: the migration step's checks and the steps again, in its report.
 */
final class VmMigrationSession implements AutoCloseable {

    /** A step line of the report: "  PASS  migration  ...". */
    private static final Pattern STEP = Pattern.compile("^  (PASS|FAIL|SKIP)  (\\S+) (.*)$", Pattern.MULTILINE);

    private final Path dir;
    private final String accel;
    private final Duration wait;
    private final Map<String, ServerProcess> processes = new java.util.LinkedHashMap<>();
    private final List<QmpTestClient> clients = new ArrayList<>();

    VmMigrationSession(Path dir, String accel, Duration wait) {
        this.dir = dir;
        this.accel = accel;
        this.wait = wait;
    }

    /**
     * A jvfio on the session's accelerator with {@code more} (64 MiB of RAM unless {@code more} has its own
     * {@code -m}); its output in NAME.log.
     */
    ServerProcess start(String name, String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("-accel", accel));
        if (!List.of(more).contains("-m")) {
            args.addAll(List.of("-m", "64M"));
        }
        args.addAll(List.of(more));
        ServerProcess p = ServerProcess.startMain(dir.resolve(name + ".log"), args.toArray(String[]::new));
        processes.put(name, p);
        return p;
    }

    /** The process started as {@code name}. */
    ServerProcess process(String name) {
        return processes.get(name);
    }

    /** The QMP option for a monitor on {@code dir/NAME.qmp}. */
    String[] qmp(String name) {
        return new String[] {"-qmp", "unix:" + dir.resolve(name + ".qmp") + ",server=on,wait=off"};
    }

    /** A source whose steps have run (its report is out) and whose monitor is negotiated. */
    QmpTestClient source(String name) throws Exception {
        ServerProcess p = start(name, qmp(name));
        p.awaitOutput("\ndevices:\n", wait.toSeconds());
        return client(name);
    }

    QmpTestClient client(String name) throws Exception {
        Path socket = dir.resolve(name + ".qmp");
        ServerProcess.await(socket + " to listen", () -> Files.exists(socket), wait.toSeconds());
        QmpTestClient c = QmpTestClient.negotiated(socket);
        clients.add(c);
        return c;
    }

    /** {@code migrate} to {@code uri}, then its events to {@code completed}; query-migrate's answer. */
    Map<String, Object> migrate(QmpTestClient c, String uri) throws Exception {
        assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"" + uri + "\"}}")
                .text());
        List<String> statuses = awaitMigration(c, "completed");
        assertTrue(statuses.containsAll(List.of("setup", "active", "device", "completed")), statuses.toString());
        Map<String, Object> info = answer(c, "{\"execute\":\"query-migrate\"}");
        assertEquals("completed", info.get("status"), info.toString());
        assertEquals("postmigrate", answer(c, "{\"execute\":\"query-status\"}").get("status"));
        return info;
    }

    /** The statuses of MIGRATION events until {@code last} (or failed/cancelled, which fail unless asked for). */
    List<String> awaitMigration(QmpTestClient c, String last) throws Exception {
        List<String> statuses = new ArrayList<>();
        long deadline = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < deadline) {
            QmpTestClient.Message m = c.event();
            if (!"MIGRATION".equals(m.map().get("event"))) {
                continue;
            }
            @SuppressWarnings("unchecked")
            String status = (String) ((Map<String, Object>) m.map().get("data")).get("status");
            statuses.add(status);
            if (status.equals(last)) {
                return statuses;
            }
            if (status.equals("failed") || status.equals("cancelled")) {
                fail("the migration ended " + status + " (" + statuses + "): "
                        + answer(c, "{\"execute\":\"query-migrate\"}"));
            }
        }
        throw new AssertionError("no MIGRATION " + last + " within " + wait.toSeconds() + " s: " + statuses);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> answer(QmpTestClient c, String request) throws Exception {
        QmpTestClient.Message m = c.execute(request);
        Object r = m.map().get("return");
        if (r == null) {
            fail(request + ": " + m.text());
        }
        return (Map<String, Object>) r;
    }

    /**
     * The destination's report once it is out: the steps after the migration, each PASS but those in
     * {@code mayFail} (which are told on stderr when they fail), the migration step first. Returns the output.
     */
    String assertStepsPassedAfterMigration(ServerProcess destination, Set<String> mayFail) {
        destination.awaitOutput("the machine came in by migration", wait.toSeconds());
        destination.awaitOutput("the destination's report", () -> {
            String out = destination.output();
            int from = out.indexOf("the machine came in by migration");
            return out.indexOf("\ndevices:\n", from) > 0;
        }, wait.toSeconds());
        String out = destination.output();
        String block = out.substring(out.indexOf("the machine came in by migration"));
        Matcher m = STEP.matcher(block.substring(0, block.indexOf("\ndevices:\n")));
        List<String> steps = new ArrayList<>();
        while (m.find()) {
            steps.add(m.group(2));
            if (m.group(2).equals("migration")) {
                System.err.println("VmMigration: on the destination: " + m.group());
            }
            if (!m.group(1).equals("PASS")) {
                if (mayFail.contains(m.group(2))) {
                    System.err.println("VmMigration: the step " + m.group(2) + " may fail here, and did: " + m.group());
                } else {
                    fail("after the migration the step " + m.group(2) + " did not pass: " + m.group() + "\n" + out);
                }
            }
        }
        assertEquals(List.of("migration", "enable", "id", "liveness", "factorial", "dma", "interrupt", "storm",
                "trapped", "direct", "intx"), steps, out);
        return out;
    }

    /** Downtime, a number of milliseconds above 0, as query-migrate reports it. */
    static long downtime(Map<String, Object> info) {
        Object d = info.get("downtime");
        assertTrue(d instanceof QmpJson.Number n && n.asLong() != null && n.asLong() > 0, "query-migrate's downtime: "
                + info);
        return number(d);
    }

    /** A number of a QMP answer (read as its text). */
    static long number(Object n) {
        return Long.parseLong(((QmpJson.Number) n).text());
    }

    void quit(QmpTestClient c) throws Exception {
        c.send("{\"execute\":\"quit\"}");
    }

    @Override
    public void close() throws Exception {
        for (QmpTestClient c : clients) {
            c.close();
        }
        for (ServerProcess p : processes.values()) {
            p.close();
        }
    }
}
