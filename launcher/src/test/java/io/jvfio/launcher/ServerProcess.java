package io.jvfio.launcher;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@code jvfio} of the shaded jar in its own process, its output (stdout and stderr) in a log
 * file, and what /proc says of it: for tests that signal it or watch what it holds.
 */
public final class ServerProcess implements AutoCloseable {

    /**
     * The JVM options the {@code jvfio} script gives java before JVFIO_JAVA_OPTS (keep the two the
     * same): the heap bound, which bounds the heap's share of the RSS (see the script).
     */
    static final long MAX_HEAP_MIB = 256;
    static final List<String> JVM_OPTIONS = List.of("-Xmx" + MAX_HEAP_MIB + "m");

    final Process process;
    final Path log;

    private ServerProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code java -jar jvfio.jar args...}, its output to {@code log}. */
    static ServerProcess start(Path log, String... args) throws IOException {
        return startUnder(log, null, args);
    }

    /**
     * Starts {@code java -jar jvfio.jar args...} through {@code wrapper} (a command the java command
     * line is appended to, e.g. a shell that changes a signal's disposition and execs it), or
     * directly if null.
     */
    static ServerProcess startUnder(Path log, List<String> wrapper, String... args) throws IOException {
        Path jar = Path.of(System.getProperty("jvfio.jar", "target/jvfio.jar"));
        assertTrue(Files.isRegularFile(jar), "the shaded jar " + jar + " was not built");
        List<String> cmd = new ArrayList<>(wrapper == null ? List.of() : wrapper);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // As the jvfio script runs it: its heap bound, then JVFIO_JAVA_OPTS (e.g. Native Memory
        // Tracking, or another -Xmx, which wins as the later one).
        cmd.addAll(JVM_OPTIONS);
        String opts = System.getenv().getOrDefault("JVFIO_JAVA_OPTS", "").strip();
        if (!opts.isEmpty()) {
            cmd.addAll(List.of(opts.split("\\s+")));
        }
        cmd.addAll(List.of("-jar", jar.toString()));
        cmd.addAll(List.of(args));
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new ServerProcess(p, log);
    }

    /**
     * Starts {@code jvfio args...} in a JVM of its own from this test's class path (the modules' classes, no
     * shaded jar: a test that runs before {@code package}, as the KVM tests on a host with KVM do), with the
     * script's JVM options, its output to {@code log}.
     */
    public static ServerProcess startMain(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(JVM_OPTIONS);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new ServerProcess(p, log);
    }

    public long pid() {
        return process.pid();
    }

    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits (bounded) until the output contains {@code text}; fails with the output if it does not. */
    public void awaitOutput(String text, long seconds) {
        awaitOutput("\"" + text + "\"", () -> output().contains(text), seconds);
    }

    /**
     * Waits (bounded) until {@code condition} holds of the output ({@code what} says what it waits for). Fails at
     * once if the process exits first, with its status and output; after {@code seconds}, with its output and its
     * threads' stacks ({@code jcmd PID Thread.print}): what a run that failed far away (CI) needs to be understood.
     */
    public void awaitOutput(String what, BooleanSupplier condition, long seconds) {
        poll(condition, seconds, () -> {
            if (!process.isAlive() && !condition.getAsBoolean()) { // not written just before it exited either
                throw new AssertionError(what + " never came: pid " + pid() + " exited with status "
                        + process.exitValue() + "; its output:\n" + tail(output()));
            }
        }, () -> "not within " + seconds + " s: " + what + " in the output of pid " + pid() + "; its output:\n"
                + tail(output()) + "\nits threads:\n" + threadDump());
    }

    /** The last part of {@code output}: as much as a failure message shows usefully. */
    static String tail(String output) {
        int keep = 20_000;
        return output.length() <= keep ? output : "[" + (output.length() - keep) + " characters before]\n"
                + output.substring(output.length() - keep);
    }

    /** The process's threads, as {@code jcmd PID Thread.print} prints them (bounded), or why not. */
    String threadDump() {
        try {
            Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
            Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid()), "Thread.print")
                    .redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            return tail(new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            return "(jcmd: " + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }

    /** Waits for the process to exit after a signal; its status. */
    public int awaitExit(long seconds) throws InterruptedException {
        assertTrue(process.waitFor(seconds, TimeUnit.SECONDS), "pid " + pid() + " did not exit within " + seconds
                + " s; its output:\n" + output());
        return process.exitValue();
    }

    public void signal(String name) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid())).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + name + " " + pid());
    }

    /** Open fds of the process (/proc/PID/fd). */
    long fds() throws IOException {
        try (var s = Files.list(Path.of("/proc", Long.toString(pid()), "fd"))) {
            return s.count();
        }
    }

    /** A field of /proc/PID/status, as its number (VmRSS in kB, Threads). */
    long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
            }
        }
        throw new IOException("no " + field + " in /proc/" + pid() + "/status");
    }

    /**
     * The address range [start, end) the JVM reserved for the Java heap, from {@code jcmd PID
     * GC.heap_info}. The first jcmd starts the JVM's attach listener, which keeps a socket open: call
     * this before taking a figure of fds to come back to.
     */
    long[] heapRange() throws IOException, InterruptedException {
        String text = jcmd("GC.heap_info");
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("heap .*\\[0x([0-9a-f]+), 0x([0-9a-f]+)\\)")
                .matcher(text);
        assertTrue(m.find(), "no heap range in jcmd GC.heap_info of pid " + pid() + ": " + text);
        return new long[] {Long.parseUnsignedLong(m.group(1), 16), Long.parseUnsignedLong(m.group(2), 16)};
    }

    /** The output of {@code jcmd PID command} (the JDK's own jcmd, bounded wait). */
    String jcmd(String command) throws IOException, InterruptedException {
        String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
        Process p = new ProcessBuilder(jcmd, Long.toString(pid()), command).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jcmd " + pid() + " " + command);
        return text;
    }

    /** The first line of a mapping in smaps: "start-end perms ...". */
    private static final java.util.regex.Pattern MAPPING = java.util.regex.Pattern.compile("([0-9a-f]+)-[0-9a-f]+ ");

    /** Resident memory (KiB) inside the Java heap's range and outside it, from /proc/PID/smaps. */
    record Resident(long heapKiB, long otherKiB) {
    }

    /**
     * The resident memory of the process split at the Java heap's range ({@link #heapRange}): the
     * heap's share is bounded by -Xmx whatever the collector does with it, so a leak outside the heap
     * (malloc, direct buffers, mappings of peers' memfds, thread stacks) shows in the other share.
     */
    Resident resident(long[] heap) throws IOException {
        long in = 0;
        long out = 0;
        boolean inHeap = false;
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "smaps"))) {
            java.util.regex.Matcher mapping = MAPPING.matcher(line);
            if (mapping.lookingAt()) {
                long start = Long.parseUnsignedLong(mapping.group(1), 16);
                inHeap = Long.compareUnsigned(start, heap[0]) >= 0 && Long.compareUnsigned(start, heap[1]) < 0;
            } else if (line.startsWith("Rss:")) {
                long kib = Long.parseLong(line.substring(4).trim().split("\\s+")[0]);
                if (inHeap) {
                    in += kib;
                } else {
                    out += kib;
                }
            }
        }
        return new Resident(in, out);
    }

    public static void await(String what, BooleanSupplier condition, long seconds) {
        poll(condition, seconds, () -> { }, () -> "not within " + seconds + " s: " + what);
    }

    /**
     * Polls {@code condition} until it holds; {@code check}, run before each look at the time, ends the wait
     * sooner by throwing; after {@code seconds} it fails with {@code late}'s text.
     */
    private static void poll(BooleanSupplier condition, long seconds, Runnable check,
                             java.util.function.Supplier<String> late) {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!condition.getAsBoolean()) {
            check.run();
            if (System.nanoTime() > deadline) {
                throw new AssertionError(late.get());
            }
            LockSupport.parkNanos(10_000_000L); // a polling interval for a condition in another process
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
