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
final class ServerProcess implements AutoCloseable {

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
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        Files.createDirectories(log.getParent());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new ServerProcess(p, log);
    }

    long pid() {
        return process.pid();
    }

    String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits (bounded) until the output contains {@code text}; fails with the output if it does not. */
    void awaitOutput(String text, long seconds) {
        await("\"" + text + "\" in the output of pid " + pid(), () -> output().contains(text), seconds);
    }

    /** Waits for the process to exit after a signal; its status. */
    int awaitExit(long seconds) throws InterruptedException {
        assertTrue(process.waitFor(seconds, TimeUnit.SECONDS), "pid " + pid() + " did not exit within " + seconds
                + " s; its output:\n" + output());
        return process.exitValue();
    }

    void signal(String name) throws IOException, InterruptedException {
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

    static void await(String what, BooleanSupplier condition, long seconds) {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + seconds + " s: " + what);
            }
            LockSupport.parkNanos(10_000_000L); // a polling interval for a condition in another process
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
    }
}
