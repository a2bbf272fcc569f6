package io.jvfio.vfio.user;

import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.server.VfioUserServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** What this process holds (from /proc), and bounded waits for what other threads do. */
public final class Fds {

    static {
        // The first connection in a surefire JVM leaves one socket open for the life of the process
        // (a one-time initialisation in the test JVM: a standalone run of the same cycle leaves
        // nothing). One full cycle before any count makes counts see only what the code under test opens.
        try {
            warmUp();
        } catch (Exception e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static void warmUp() throws IOException {
        Path dir = Files.createTempDirectory("jvfio-warmup");
        Path socket = dir.resolve("s");
        try (io.jvfio.vfio.devices.EduDevice edu = new io.jvfio.vfio.devices.EduDevice();
             VfioUserServer server = VfioUserServer.start(socket, edu);
             VfioUserClient client = VfioUserClient.connect(socket, 5000, null)) {
            client.read(0, 0, 4);
        } finally {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
    }

    private Fds() {
    }

    public static long open() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /** Where the open fds point, for a failure message. */
    public static String describe() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(p -> {
                try {
                    String target = Files.readSymbolicLink(p).toString();
                    return p.getFileName() + "->" + target + unixSocketPath(target);
                } catch (IOException e) {
                    return p.getFileName() + "->?";
                }
            }).collect(Collectors.joining(", "));
        }
    }

    /** For socket:[inode], the UNIX socket's line in /proc/net/unix (its path, if bound). */
    private static String unixSocketPath(String target) {
        if (!target.startsWith("socket:[")) {
            return "";
        }
        String inode = target.substring(8, target.length() - 1);
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length >= 7 && f[6].equals(inode)) {
                    return " (unix" + (f.length > 7 ? " " + f[7] : "") + ", state " + f[5] + ")";
                }
            }
        } catch (IOException e) {
            return "";
        }
        return " (not a UNIX socket)";
    }

    /** Waits (bounded) for the fd count to return to {@code before}: closes on event loops are asynchronous. */
    public static void awaitBackTo(long before) throws IOException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (open() > before) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("fds leaked: " + before + " before, " + open() + " after: " + describe());
            }
            java.util.concurrent.locks.LockSupport.parkNanos(5_000_000L);
        }
    }

    /** Pooled Netty buffers allocated and not yet released: a leak shows as a count that does not come back. */
    static long pooledBuffers() {
        long n = 0;
        for (io.netty.buffer.PoolArenaMetric a : io.netty.buffer.PooledByteBufAllocator.DEFAULT.metric().directArenas()) {
            n += a.numActiveAllocations();
        }
        for (io.netty.buffer.PoolArenaMetric a : io.netty.buffer.PooledByteBufAllocator.DEFAULT.metric().heapArenas()) {
            n += a.numActiveAllocations();
        }
        return n;
    }

    /** The heap in use after a few full collections. */
    static long heapAfterGc() throws InterruptedException {
        Runtime rt = Runtime.getRuntime();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(20);
        }
        return rt.totalMemory() - rt.freeMemory();
    }

    public static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(1);
        }
    }
}
