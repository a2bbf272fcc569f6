package io.jvfio.memory;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A device's DMA through guest RAM allocates nothing: taking the snapshot, every value accessor (also
 * across the seam of two 1 GiB chunks of a region), and the bulk copies to and from an array and a
 * direct buffer, counted by the JVM's allocation counter of the calling thread. (A count of bytes,
 * not a measure of time.)
 */
class GuestRamAllocationTest {

    private static final long MIB = 1L << 20;
    /** A region of 1 GiB + 2 MiB: its pages are allocated on first touch, so this costs a few pages. */
    private static final long SIZE = (1L << 30) + 2 * MIB;
    private static final long BASE = 0x1_0000_0000L;
    private static final long SEAM = BASE + (1L << 30);
    private static final int WARM_UP = 10_000;
    private static final int MEASURED = 20_000;

    private final byte[] array = new byte[4096];
    private final ByteBuffer direct = ByteBuffer.allocateDirect(4096);

    @Test
    void accessesAllocateNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (GuestMemory memory = new GuestMemory()) {
            memory.addRegion("ram", BASE, MemoryBackend.memfd("ram", SIZE, false));
            long sum = run(memory, WARM_UP);
            long before = threads.getCurrentThreadAllocatedBytes();
            sum += run(memory, MEASURED);
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            System.out.printf("guest RAM: %d bytes allocated over %d rounds of 14 accesses%n", allocated, MEASURED);
            assertEquals(0x0102030405060708L, memory.ram().readU64(SEAM - 4), "the last round's straddling u64");
            assertTrue(sum != 0);
            // Slack for a lazily loaded class; anything per access would be megabytes.
            assertTrue(allocated < 16384, allocated + " bytes over " + 14L * MEASURED + " accesses");
        }
    }

    private long run(GuestMemory memory, int rounds) {
        long sum = 0;
        for (int i = 0; i < rounds; i++) {
            long at = BASE + ((i * 64L) & (MIB - 1));
            memory.ram().writeU8(at, i);
            memory.ram().writeU16(at + 2, i);
            memory.ram().writeU32(at + 4, i);
            memory.ram().writeU64(at + 8, i);
            sum += memory.ram().readU8(at) + memory.ram().readU16(at + 2) + memory.ram().readU32(at + 4)
                    + memory.ram().readU64(at + 8);
            memory.ram().writeU64(SEAM - 4, 0x0102030405060708L); // four bytes in each chunk
            sum += memory.ram().readU32(SEAM - 2);
            memory.ram().write(at, array, 0, array.length);
            memory.ram().read(at, array, 0, array.length);
            direct.clear();
            memory.ram().read(SEAM - 2048, direct); // a copy across the seam
            direct.flip();
            memory.ram().write(at, direct);
        }
        return sum;
    }
}
