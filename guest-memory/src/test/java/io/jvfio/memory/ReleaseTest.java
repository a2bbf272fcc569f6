package io.jvfio.memory;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Closing a guest memory gives back every fd and every mapping it made. */
class ReleaseTest {

    private static final String NAME = "jvfio-release-test";

    @Test
    void aThousandGuestMemoriesLeaveNothingBehind() throws Exception {
        createAndClose(10); // load and link the classes involved first
        long fds = FdCounts.openFds();
        List<String> maps = FdCounts.mappings();

        createAndClose(1000);

        assertEquals(fds, FdCounts.openFds(), "open fds");
        List<String> after = FdCounts.mappings();
        assertEquals(0, after.stream().filter(l -> l.contains(NAME)).count(), "a memfd mapping of ours is left");
        if (after.size() != maps.size()) {
            // The JVM maps and unmaps memory of its own (GC, code cache); give it a moment, then compare again.
            Thread.sleep(200);
            after = FdCounts.mappings();
        }
        assertEquals(maps.size(), after.size(), "mappings in /proc/self/maps");
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
                mem.writeU64(8, i);
                mem.removeRegion(low); // a retired backend: its zero-page placeholder must go at close too
            }
        }
    }
}
