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
     * Resident memory may grow this much over a run, measured after a full collection: the JVM keeps
     * the heap it grew to and Netty's arenas keep chunks for reuse, neither given back to the kernel
     * at once. A reply queue without a bound (issue 13 item 6) grew by 2 GB.
     */
    static final long RSS_GROWTH_BOUND_KIB = 384 << 10;

    private final String name;
    private final ResourceLeakDetector.Level previousLevel;
    private final Footprint before;

    /** What the process holds at one moment, after a full collection. */
    record Footprint(long fds, long[] directArenas, long[] heapArenas, long rssKiB, int leakReports) {
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

    static Footprint take() throws Exception {
        int leaks = RecordingLeakDetector.collect();
        return new Footprint(Fds.open(), active(PooledByteBufAllocator.DEFAULT.metric().directArenas()),
                active(PooledByteBufAllocator.DEFAULT.metric().heapArenas()), rssKiB(), leaks);
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
                    + " heap arenas %s -> %s); RSS %,d -> %,d KiB (bound: +%,d KiB); Netty leak reports: %d%n", name,
                    before.fds(), after.fds(), before.pooledBuffers(), after.pooledBuffers(),
                    Arrays.toString(before.directArenas()), Arrays.toString(after.directArenas()),
                    Arrays.toString(before.heapArenas()), Arrays.toString(after.heapArenas()), before.rssKiB(),
                    after.rssKiB(), RSS_GROWTH_BOUND_KIB, after.leakReports() - before.leakReports());
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
            return after;
        } finally {
            ResourceLeakDetector.setLevel(previousLevel);
        }
    }
}
