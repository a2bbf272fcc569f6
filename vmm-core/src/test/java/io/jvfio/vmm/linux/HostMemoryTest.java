package io.jvfio.vmm.linux;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Host memory over a real memfd a little larger than one 1 GiB chunk (its pages are allocated on
 * first touch, so this costs a few pages), checked through a second mapping of the same fd: values
 * and copies at and across the seam between two chunks land where a peer sees them, little-endian.
 */
class HostMemoryTest {

    private static final long SEAM = HostMemory.CHUNK_SIZE;

    @Test
    void valuesAndCopiesAcrossTheChunkSeamLandInPlace() {
        long size = SEAM + 2 * Syscalls.pageSize();
        try (OwnedFd memfd = Syscalls.memfdCreate("host-memory", 0)) {
            Syscalls.ftruncate(memfd, size);
            try (MemoryMapping m = MemoryMapping.map(memfd, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED);
                 MemoryMapping peer = MemoryMapping.map(memfd, SEAM - 4096, 8192, PROT_READ | PROT_WRITE, MAP_SHARED)) {
                HostMemory host = HostMemory.at(m.address(), size);
                ByteBuffer seen = peer.byteBuffer().order(ByteOrder.LITTLE_ENDIAN); // [SEAM - 4096, SEAM + 4096)
                assertEquals(m.address(), host.address());
                assertEquals(size, host.size());

                host.putU64(SEAM - 4, 0x0102030405060708L); // four bytes in each chunk
                assertEquals(0x0102030405060708L, seen.getLong(4096 - 4));
                assertEquals(0x0102030405060708L, host.getU64(SEAM - 4));
                assertEquals(0x05060708, host.getU32(SEAM - 4));
                assertEquals(0x01020304, host.getU32(SEAM));
                assertEquals(0x0506, host.getU16(SEAM - 2));
                assertEquals(0x0405, host.getU16(SEAM - 1), "a u16 straddling the seam");
                assertEquals(0x04, host.getU8(SEAM));

                host.putU32(SEAM - 2, 0xa1b2c3d4);
                host.putU16(SEAM - 1, 0xeeff);
                host.putU8(SEAM + 1, 0x99);
                assertEquals(0x99eeffd4, seen.getInt(4096 - 2));
                host.putU16(SEAM - 8, 0xffff);
                assertEquals(0xffff, host.getU16(SEAM - 8), "u8 and u16 read unsigned");
                assertEquals(0xff, host.getU8(SEAM - 8));

                byte[] pattern = new byte[100];
                for (int i = 0; i < pattern.length; i++) {
                    pattern[i] = (byte) (i + 1);
                }
                host.put(SEAM - 50, pattern, 0, 100);
                byte[] back = new byte[102];
                host.get(SEAM - 50, back, 1, 100);
                assertArrayEquals(pattern, Arrays.copyOfRange(back, 1, 101));
                assertEquals(51, seen.get(4096));

                ByteBuffer src = ByteBuffer.wrap(new byte[] {9, 8, 7, 6, 5, 4});
                src.position(1);
                host.put(SEAM - 2, src);
                assertEquals(6, src.position());
                ByteBuffer dst = ByteBuffer.allocateDirect(7);
                dst.position(2);
                host.get(SEAM - 2, dst);
                assertEquals(7, dst.position());
                assertEquals(0x05060708, dst.order(ByteOrder.LITTLE_ENDIAN).getInt(2));
            }
        }
    }

    @Test
    void aViewMustLieInOneChunk() {
        long size = SEAM + Syscalls.pageSize();
        try (OwnedFd memfd = Syscalls.memfdCreate("host-memory-views", 0)) {
            Syscalls.ftruncate(memfd, size);
            try (MemoryMapping m = MemoryMapping.map(memfd, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED)) {
                HostMemory host = HostMemory.at(m.address(), size);
                ByteBuffer view = host.slice(SEAM + 16, 16);
                assertEquals(ByteOrder.LITTLE_ENDIAN, view.order());
                view.putInt(4, 0x11223344);
                assertEquals(0x11223344, host.getU32(SEAM + 20));
                assertTrue(host.inOneChunk(SEAM - 8, 8));
                assertFalse(host.inOneChunk(SEAM - 4, 8));
                assertFalse(host.inOneChunk(SEAM - 4, -1));
                assertEquals("a view of 8 bytes at offset 0x3ffffffc of host memory [0x" + Long.toHexString(m.address())
                        + "+0x40001000) would straddle a 1 GiB chunk boundary; copy it instead",
                        assertThrows(IllegalArgumentException.class, () -> host.slice(SEAM - 4, 8)).getMessage());
                assertEquals(SEAM, host.chunk(0).capacity());
                assertEquals(Syscalls.pageSize(), host.chunk(SEAM).capacity(), "the last chunk holds the rest");
                assertEquals(ByteOrder.LITTLE_ENDIAN, host.chunk(SEAM).order());
                assertEquals(16, HostMemory.position(SEAM + 16));
            }
        }
    }

    @Test
    void aRangeThatIsNotMemoryIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> HostMemory.at(0, 4096));
        assertThrows(IllegalArgumentException.class, () -> HostMemory.at(0x1000, 0));
        assertThrows(IllegalArgumentException.class, () -> HostMemory.at(-4096, 8192));
    }
}
