package io.jvfio.launcher;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.hostile.Attack;
import io.jvfio.vfio.user.hostile.CleanClient;
import io.jvfio.vmm.testing.Prerequisites;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGINT and SIGTERM (issue 13): the shaded jar in its own process, signalled while it serves or
 * runs, must remove what it made (the listening socket, the embedded edu's private directory),
 * leave a vfio-user peer a clean disconnect, and exit within a bound with 128 + the signal (130,
 * 143), whatever its threads are doing (a vCPU in KVM_RUN, an event loop a hostile client keeps
 * busy). "SIGINT ignored" starts the process as a shell starts a script's background job, with
 * SIGINT ignored: jvfio must still stop on it, as QEMU does.
 */
@OnKvm
class SignalsIT {

    private static final long EXIT_SECONDS = 30;

    @TempDir
    Path dir;

    private static int status(String signal) {
        return signal.equals("INT") ? 130 : 143;
    }

    /** {@code jvfio args...}, started with SIGINT ignored when {@code ignored} (sh's trap "" INT, then exec). */
    private ServerProcess jvfio(String name, boolean sigintIgnored, String... args) throws Exception {
        if (!sigintIgnored) {
            return ServerProcess.start(dir.resolve(name + ".log"), args);
        }
        return ServerProcess.startUnder(dir.resolve(name + ".log"),
                java.util.List.of("sh", "-c", "trap '' INT; exec \"$@\"", "sh"), args);
    }

    @ParameterizedTest(name = "--serve, SIG{0}, SIGINT ignored by the parent: {1}")
    @CsvSource({"INT, false", "INT, true", "TERM, false", "TERM, true"})
    void serveStopsAndRemovesItsSocket(String signal, boolean sigintIgnored) throws Exception {
        Path socket = dir.resolve("edu.sock");
        try (ServerProcess server = jvfio("serve", sigintIgnored, "--serve", "edu,socket=" + socket)) {
            server.awaitOutput("jvfio: serving edu", 60);
            CleanClient.run(socket, 30_000);
            server.signal(signal);
            assertEquals(status(signal), server.awaitExit(EXIT_SECONDS), server.output());
            assertTrue(server.output().contains("jvfio: stopped serving on " + socket + " after 1 client"),
                    server.output());
            assertFalse(Files.exists(socket), "the socket file is removed");
        }
    }

    /**
     * A client flooding the server with requests for 1 MiB replies it never reads, and others
     * silent or half-way through a header behind it in the backlog: the signal still stops the
     * server, which closes them (they see the disconnect) and removes its socket.
     */
    @ParameterizedTest(name = "--serve held by hostile clients, SIG{0}")
    @CsvSource({"INT", "TERM"})
    void serveStopsWhileHostileClientsHoldIt(String signal) throws Exception {
        Path socket = dir.resolve("edu.sock");
        try (ServerProcess server = jvfio("serve", false, "--serve", "edu,socket=" + socket)) {
            server.awaitOutput("jvfio: serving edu", 60);
            long idleFds = server.fds();
            // Each attacker on its own thread (the common pool may have one on a small machine).
            java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(3);
            try {
                CompletableFuture<?>[] attacks = new CompletableFuture<?>[3];
                attacks[0] = CompletableFuture.supplyAsync(() -> Attack.OUTPUT_FLOOD.run(socket, new Random(0), 30_000,
                        120_000), threads);
                // The server has accepted the flood's connection: it holds one fd more.
                ServerProcess.await("the server accepted the flooding client", () -> {
                    try {
                        return server.fds() > idleFds;
                    } catch (java.io.IOException e) {
                        throw new AssertionError(e);
                    }
                }, 30);
                // Behind it in the backlog, or refused once the server is gone: either way they end.
                attacks[1] = CompletableFuture.supplyAsync(() -> Attack.SILENCE.run(socket, new Random(0), 5_000,
                        120_000), threads);
                attacks[2] = CompletableFuture.supplyAsync(() -> Attack.HALF_HEADER.run(socket, new Random(0), 5_000,
                        120_000), threads);
                server.signal(signal);
                assertEquals(status(signal), server.awaitExit(EXIT_SECONDS), server.output());
                assertFalse(Files.exists(socket), "the socket file is removed");
                for (CompletableFuture<?> a : attacks) {
                    a.get(EXIT_SECONDS, TimeUnit.SECONDS); // each attacker saw its connection end, or none
                }
            } finally {
                threads.shutdownNow();
            }
        }
    }

    /**
     * A run against a vfio-user server in another process (this one), stopped while its driver
     * waits for an interrupt the device holds back: on KVM the vCPU is in KVM_RUN, polling guest
     * memory; without KVM the host driver waits in Java. The server sees the client go and serves
     * the next one.
     */
    @ParameterizedTest(name = "-accel {0} -device vfio-user-pci, SIG{1}")
    @CsvSource({"kvm, INT", "kvm, TERM", "none, INT", "none, TERM"})
    void aRunAgainstAServerStopsAndDisconnects(String accel, String signal) throws Exception {
        if (accel.equals("kvm")) {
            Prerequisites.requireKvm();
        }
        Path socket = dir.resolve("held.sock");
        try (HeldInterruptsEdu device = new HeldInterruptsEdu();
                VfioUserServer server = VfioUserServer.start(socket, device);
                ServerProcess run = jvfio("run", false, "-accel", accel, "-device", "vfio-user-pci,socket=" + socket)) {
            assertTrue(device.held.await(120, TimeUnit.SECONDS), "the run reached an interrupt wait; its output:\n"
                    + run.output());
            run.signal(signal);
            assertEquals(status(signal), run.awaitExit(EXIT_SECONDS), run.output());
            assertTrue(server.awaitNoClient(EXIT_SECONDS, TimeUnit.SECONDS), "the server saw the client go");
            CleanClient.run(socket, 30_000);
        }
    }

    /** {@code jvfio} with its embedded edu, signalled during the run: its private directory goes. */
    @ParameterizedTest(name = "embedded edu, -accel {0}, SIG{1}")
    @CsvSource({"kvm, INT", "kvm, TERM", "none, INT", "none, TERM"})
    void aRunWithTheEmbeddedEduRemovesItsDirectory(String accel, String signal) throws Exception {
        if (accel.equals("kvm")) {
            Prerequisites.requireKvm();
        }
        try (ServerProcess run = jvfio("run", false, "-accel", accel)) {
            run.awaitOutput("the edu device served over vfio-user on ", 60);
            Matcher m = Pattern.compile("served over vfio-user on (\\S+)").matcher(run.output());
            assertTrue(m.find(), run.output());
            Path socket = Path.of(m.group(1));
            run.signal(signal);
            int status = run.awaitExit(EXIT_SECONDS);
            assertFalse(Files.exists(socket.getParent()), socket.getParent() + " is removed");
            // The run lasts seconds; the signal is sent as soon as its first line is out. A run that
            // still ended first (exit 0) would not have tested the signal: the test says so.
            assertTrue(status != 0, "the run ended before the signal reached it; its output:\n" + run.output());
            assertEquals(status(signal), status, run.output());
        }
    }
}
