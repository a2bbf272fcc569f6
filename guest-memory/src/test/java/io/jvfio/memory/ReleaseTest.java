package io.jvfio.memory;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Closing a guest memory gives back every fd and every mapping it made. */
class ReleaseTest {

    private static final String NAME = "jvfio-release-test";

    @Test
    void aThousandGuestMemoriesLeaveNothingBehind() throws Exception {
        createAndClose(10); // load and link the classes involved first
        List<String> fds = FdCounts.fdTargets();
        List<String> maps = FdCounts.mappings();

        createAndClose(1000);

        assertEquals(List.of(), FdCounts.fdTargets().stream().filter(t -> t.contains(NAME)).toList(),
                "a memfd of ours is left open");
        assertEquals(0, FdCounts.mappings().stream().filter(l -> l.contains(NAME)).count(),
                "a memfd mapping of ours is left");
        // The JVM maps and unmaps memory of its own (GC, code cache, a compiler thread's stack) while the
        // test runs, and Surefire opens its socket back to Maven at some point of it: the number of
        // mappings may move by a few either way (it did by one, on a loaded machine). A mapping left per
        // guest memory (the retired backend's placeholder, say) would add hundreds over a thousand: wait,
        // within a bound, for the count to come back near its number, and compare fds by what they are,
        // sockets aside (guest memory opens none).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Math.abs(FdCounts.mappings().size() - maps.size()) > JVM_NOISE && System.nanoTime() < deadline) {
            Thread.yield();
        }
        assertEquals(List.of(), newFds(fds, FdCounts.fdTargets()), "fds opened and not closed");
        int grown = FdCounts.mappings().size() - maps.size();
        assertTrue(Math.abs(grown) <= JVM_NOISE, "mappings in /proc/self/maps: " + maps.size() + " before 1000 guest "
                + "memories, " + (maps.size() + grown) + " after; more than the JVM's own " + JVM_NOISE + " either way");
    }

    /** How far the JVM's own mappings may move while the test runs (a leak per memory would be 1000). */
    private static final int JVM_NOISE = 8;

    /** The fds in {@code after} that were not in {@code before}, other than sockets. */
    private static List<String> newFds(List<String> before, List<String> after) {
        return after.stream().filter(t -> !before.contains(t) && !t.contains("-> socket:")
                && !t.contains("-> /proc/")).toList();
    }

    private static void createAndClose(int times) {
        DmaMappingListener nothing = new DmaMappingListener() {
            @Override
            public void map(DmaMapping m) {
            }

            @Override
            public void unmap(DmaMapping m) {
            }
        };
        for (int i = 0; i < times; i++) {
            try (GuestMemory mem = new GuestMemory()) {
                mem.addListener(nothing);
                GuestRegion low = mem.addRegion("low", 0, MemoryBackend.memfd(NAME, 1L << 20, false));
                mem.addRegion("high", 1L << 32, MemoryBackend.memfd(NAME, 1L << 20, false));
                mem.ram().writeU64(8, i);
                mem.removeRegion(low); // a retired backend: its zero-page placeholder must go at close too
            }
        }
    }
}
