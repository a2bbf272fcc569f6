package io.jvfio.vfio.user;

import io.netty.buffer.PoolArenaMetric;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The frame of a fuzz run: how many messages (the system property {@code jvfio.fuzz.messages},
 * which vfio-passthrough's surefire configuration passes on from the mvn command line), Netty's leak
 * detector at PARANOID for the run (every buffer tracked), and what the process holds before and
 * after, which must come back: open fds, pooled buffers arena by arena, and resident memory within a
 * bound, with no leak reported.
 */
final class FuzzRun {

    static final String MESSAGES_PROPERTY = "jvfio.fuzz.messages";
    /**
     * Resident memory (VmRSS) may grow at most this much over a run, measured after a full collection.
     * The unbounded reply queue (item 6) grew it by 2 GB.
     */
    static final long RSS_GROWTH_BOUND_KIB = 1L << 20;
    /**
     * Of that, what is not Java heap (VmRSS less the committed heap: Netty's arenas, direct buffers,
     * mappings, thread stacks) at most this much: the JVM keeps a heap it grew under the garbage of
     * a million messages (1 MiB frames among them) and gives it back at its own pace, so the heap is
     * bounded by what is in use in it instead.
     */
    static final long NATIVE_GROWTH_BOUND_KIB = 256L << 10;
    /** The Java heap in use after a full collection may grow this much. */
    static final long HEAP_GROWTH_BOUND = 64L << 20;

    private final String name;
    private final ResourceLeakDetector.Level previousLevel;
    private final Footprint before;

    /** What the process holds at one moment, after a full collection. */
    record Footprint(long fds, long[] directArenas, long[] heapArenas, long rssKiB, long heapCommitted, long heapUsed,
                     int leakReports) {
        long nativeKiB() {
            return rssKiB - (heapCommitted >> 10);
        }

        long pooledBuffers() {
            return Arrays.stream(directArenas).sum() + Arrays.stream(heapArenas).sum();
        }
    }

    /** The message count of a run: {@code -Djvfio.fuzz.messages=N}, else {@code ciDefault}. */
    static int messages(int ciDefault) {
        String v = System.getProperty(MESSAGES_PROPERTY, "").trim();
        if (v.isEmpty()) {
            return ciDefault;
        }
        try {
            int n = Integer.parseInt(v.replace("_", "").replace(",", ""));
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + MESSAGES_PROPERTY + "=" + v + " is not a message count: give a "
                    + "positive number, e.g. -D" + MESSAGES_PROPERTY + "=1000000");
        }
    }

    private FuzzRun(String name) throws Exception {
        this.name = name;
        RecordingLeakDetector.requireInstalled();
        previousLevel = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        before = take();
    }

    /** Starts a run: PARANOID leak detection from here, and the footprint to come back to. */
    static FuzzRun start(String name) throws Exception {
        return new FuzzRun(name);
    }

    Footprint before() {
        return before;
    }

    static {
        com.sun.jna.Native.register(FuzzRun.class, com.sun.jna.NativeLibrary.getInstance(com.sun.jna.Platform.C_LIBRARY_NAME));
    }

    /** glibc's malloc_trim(3): gives the free memory of malloc's arenas back to the kernel. */
    private static native int malloc_trim(long pad);

    /**
     * The footprint after a full collection, whose cleaners free the direct buffers of the run (the
     * attacking peers' among them), and after malloc_trim: glibc keeps freed blocks in its arenas
     * (its mmap threshold grows with each large block freed), which would count as resident memory
     * though nothing uses it.
     */
    static Footprint take() throws Exception {
        int leaks = RecordingLeakDetector.collect();
        malloc_trim(0);
        java.lang.management.MemoryUsage heap = java.lang.management.ManagementFactory.getMemoryMXBean()
                .getHeapMemoryUsage();
        return new Footprint(Fds.open(), active(PooledByteBufAllocator.DEFAULT.metric().directArenas()),
                active(PooledByteBufAllocator.DEFAULT.metric().heapArenas()), rssKiB(), heap.getCommitted(),
                heap.getUsed(), leaks);
    }

    private static long[] active(List<PoolArenaMetric> arenas) {
        return arenas.stream().mapToLong(PoolArenaMetric::numActiveAllocations).toArray();
    }

    /** VmRSS of /proc/self/status, in KiB. */
    static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.substring(6).trim().split("\\s+")[0]);
            }
        }
        throw new AssertionError("/proc/self/status has no VmRSS line");
    }

    /**
     * Ends the run: waits (bounded) for the fds to come back, then checks every bound; prints the
     * footprint lines of the summary either way, and restores the leak detector's level.
     */
    Footprint finish() throws Exception {
        try {
            Fds.awaitBackTo(before.fds());
            Footprint after = take();
            System.out.printf("  %s footprint (after GC): fds %d -> %d; pooled buffers %d -> %d (direct arenas %s -> %s,"
                    + " heap arenas %s -> %s);%n    RSS %,d -> %,d KiB (bound: +%,d KiB), of which not Java heap %,d -> %,d"
                    + " KiB (bound: +%,d KiB); Java heap in use %,d -> %,d KiB (bound: +%,d KiB); Netty leak reports: %d%n",
                    name, before.fds(), after.fds(), before.pooledBuffers(), after.pooledBuffers(),
                    Arrays.toString(before.directArenas()), Arrays.toString(after.directArenas()),
                    Arrays.toString(before.heapArenas()), Arrays.toString(after.heapArenas()), before.rssKiB(),
                    after.rssKiB(), RSS_GROWTH_BOUND_KIB, before.nativeKiB(), after.nativeKiB(), NATIVE_GROWTH_BOUND_KIB,
                    before.heapUsed() >> 10, after.heapUsed() >> 10, HEAP_GROWTH_BOUND >> 10,
                    after.leakReports() - before.leakReports());
            List<String> leaks = RecordingLeakDetector.reportsSince(before.leakReports());
            if (!leaks.isEmpty()) {
                throw new AssertionError(name + ": Netty reported " + leaks.size() + " leak(s); the first: " + leaks.get(0));
            }
            if (after.fds() > before.fds()) {
                throw new AssertionError(name + ": fds leaked: " + before.fds() + " before, " + after.fds() + " after: "
                        + Fds.describe());
            }
            if (!Arrays.equals(before.directArenas(), after.directArenas())
                    || !Arrays.equals(before.heapArenas(), after.heapArenas())) {
                throw new AssertionError(name + ": pooled buffers not released: active allocations per direct arena "
                        + Arrays.toString(before.directArenas()) + " before, " + Arrays.toString(after.directArenas())
                        + " after; per heap arena " + Arrays.toString(before.heapArenas()) + " before, "
                        + Arrays.toString(after.heapArenas()) + " after");
            }
            if (after.rssKiB() - before.rssKiB() > RSS_GROWTH_BOUND_KIB) {
                throw new AssertionError(name + ": resident memory grew from " + before.rssKiB() + " to " + after.rssKiB()
                        + " KiB after GC, more than the bound of " + RSS_GROWTH_BOUND_KIB + " KiB");
            }
            if (after.nativeKiB() - before.nativeKiB() > NATIVE_GROWTH_BOUND_KIB) {
                throw new AssertionError(name + ": resident memory outside the Java heap grew from " + before.nativeKiB()
                        + " to " + after.nativeKiB() + " KiB after GC, more than the bound of " + NATIVE_GROWTH_BOUND_KIB
                        + " KiB");
            }
            if (after.heapUsed() - before.heapUsed() > HEAP_GROWTH_BOUND) {
                throw new AssertionError(name + ": the Java heap in use after GC grew from " + before.heapUsed() + " to "
                        + after.heapUsed() + " bytes, more than the bound of " + HEAP_GROWTH_BOUND);
            }
            return after;
        } finally {
            ResourceLeakDetector.setLevel(previousLevel);
        }
    }
}
