package io.jvfio.memory;

import io.jvfio.vmm.linux.MemoryMapping;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Guest RAM on real memfds: accessors, the memory map, listeners and release order. */
class GuestMemoryTest {

    private static final long MIB = 1L << 20;

    private static String error(Runnable r) {
        return assertThrows(GuestMemoryException.class, r::run).getMessage();
    }

    @Test
    void aSecondMappingOfTheFdSeesWhatTheApiWrote() {
        try (GuestMemory mem = new GuestMemory()) {
            MemoryBackend ram = MemoryBackend.memfd("ram", 2 * MIB, false);
            mem.addRegion("ram", 0x100000, ram);
            mem.ram().writeU8(0x100000, 0xab);
            mem.ram().writeU16(0x100002, 0xbeef);
            mem.ram().writeU32(0x100004, 0xdeadbeef);
            mem.ram().writeU64(0x100008, 0x0123456789abcdefL);
            mem.ram().write(0x100010, new byte[] {1, 2, 3, 4}, 0, 4);
            mem.ram().write(0x100014, ByteBuffer.wrap(new byte[] {5, 6, 7, 8}));

            try (MemoryMapping peer = MemoryMapping.map(ram.fd(), 0, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED)) {
                ByteBuffer b = peer.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                assertEquals((byte) 0xab, b.get(0));
                assertEquals((short) 0xbeef, b.getShort(2));
                assertEquals(0xdeadbeef, b.getInt(4));
                assertEquals(0x0123456789abcdefL, b.getLong(8));
                byte[] bytes = new byte[8];
                b.get(16, bytes);
                assertArrayEquals(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, bytes);

                // And the other way: what the peer writes, the API reads.
                b.putLong(0x1000, 0x1122334455667788L);
                assertEquals(0x1122334455667788L, mem.ram().readU64(0x101000));
                assertEquals(0x88, mem.ram().readU8(0x101000));
                assertEquals(0x7788, mem.ram().readU16(0x101000));
                assertEquals(0x55667788, mem.ram().readU32(0x101000));
            }
        }
    }

    @Test
    void accessesAreLittleEndianAndMayBeUnaligned() {
        try (GuestMemory mem = new GuestMemory()) {
            mem.addRegion("ram", 0, MemoryBackend.memfd("ram", MIB, false));
            mem.ram().writeU32(0x1001, 0x11223344);
            assertEquals(0x44, mem.ram().readU8(0x1001));
            assertEquals(0x11, mem.ram().readU8(0x1004));
            assertEquals(0x2233, mem.ram().readU16(0x1002));
            mem.ram().writeU64(0x2003, -2L);
            assertEquals(-2L, mem.ram().readU64(0x2003));

            ByteBuffer out = ByteBuffer.allocate(6);
            out.position(1);
            mem.ram().read(0x1000, out);
            assertEquals(6, out.position());
            assertArrayEquals(new byte[] {0, 0, 0x44, 0x33, 0x22, 0x11}, out.array());

            ByteBuffer view = mem.ram().slice(0x1000, 16);
            assertEquals(ByteOrder.LITTLE_ENDIAN, view.order());
            assertEquals(0x11223344, view.getInt(1));
            view.putInt(8, 7);
            assertEquals(7, mem.ram().readU32(0x1008), "a view writes through");
            assertEquals(mem.ram().hostAddress(0, MIB) + 0x1000, mem.ram().hostAddress(0x1000, 16));
        }
    }

    @Test
    void anAccessOutsideRamNamesTheAddressAndTheNearestRegion() {
        try (GuestMemory mem = new GuestMemory()) {
            assertEquals("guest physical address 0x0 (4 bytes) is not in guest RAM; guest RAM has no regions",
                    error(() -> mem.ram().readU32(0)));
            mem.addRegion("low", 0, MemoryBackend.memfd("low", MIB, false));
            mem.addRegion("high", 0x10000000, MemoryBackend.memfd("high", MIB, false));
            assertEquals("guest physical address 0x200000 (8 bytes) is not in guest RAM; the nearest region is 'low' "
                    + "[0x0-0xfffff]", error(() -> mem.ram().readU64(0x200000)));
            assertEquals("guest physical address 0xff00000 (1 bytes) is not in guest RAM; the nearest region is 'high' "
                    + "[0x10000000-0x100fffff]", error(() -> mem.ram().writeU8(0xff00000, 1)));
            assertEquals("guest physical address 0x7fffffffffffffff (1 bytes) is not in guest RAM; the nearest region is "
                    + "'high' [0x10000000-0x100fffff]", error(() -> mem.ram().readU8(Long.MAX_VALUE)));
            assertEquals("an access of 8 bytes at guest physical address 0xffffc crosses the end of region 'low' "
                    + "[0x0-0xfffff]", error(() -> mem.ram().readU64(0xffffc)));
            assertEquals("an access of 4096 bytes at guest physical address 0xfffff crosses the end of region 'low' "
                    + "[0x0-0xfffff]", error(() -> mem.ram().read(0xfffff, new byte[4096], 0, 4096)));
            assertNull(mem.ram().find(0x200000));
            assertEquals("high", mem.ram().find(0x10000010).name());
        }
    }

    /**
     * Accesses go first to the window the last one used: one in another region, just below or past the
     * end of that window, or straddling its end, must still find its own region or its error.
     */
    @Test
    void theLastWindowUsedHoldsNoAccessOutsideIt() {
        try (GuestMemory mem = new GuestMemory()) {
            mem.addRegion("low", 0, MemoryBackend.memfd("low", MIB, false));
            mem.addRegion("high", 0x10000000, MemoryBackend.memfd("high", MIB, false));
            GuestRam ram = mem.ram();
            ram.writeU64(0x10000000, 0x1111);
            ram.writeU64(MIB - 8, 0x2222); // the last u64 of low, right after an access to high
            assertEquals(0x1111, ram.readU64(0x10000000));
            assertEquals(0x2222, ram.readU64(MIB - 8));
            assertEquals(0x22, ram.readU8(MIB - 8));
            assertEquals("guest physical address 0xffffff8 (8 bytes) is not in guest RAM; the nearest region is 'high' "
                    + "[0x10000000-0x100fffff]", error(() -> ram.readU64(0x10000000 - 8)));
            ram.readU64(0x10000000); // high is the hot window again
            assertEquals("an access of 8 bytes at guest physical address 0x100ffffc crosses the end of region 'high' "
                    + "[0x10000000-0x100fffff]", error(() -> ram.writeU64(0x10000000 + MIB - 4, 1)));
            assertEquals("an access of 16 bytes at guest physical address 0xffff8 crosses the end of region 'low' "
                    + "[0x0-0xfffff]", error(() -> ram.read(MIB - 8, new byte[16], 0, 16)));
            byte[] copy = new byte[8];
            ram.read(MIB - 8, copy, 0, 8);
            assertEquals(0x22, copy[0]);
            assertEquals(0x2222, ram.readU16(MIB - 8), "after the error, the window still serves the region");
        }
    }

    /** The map changes; a snapshot taken from it does not, and one that raced a removal reads zeros. */
    @Test
    void aSnapshotKeepsItsRegionsWhileTheMapChanges() {
        try (GuestMemory mem = new GuestMemory()) {
            GuestRam empty = mem.ram();
            GuestRegion low = mem.addRegion("low", 0, MemoryBackend.memfd("low", MIB, false));
            GuestRam withLow = mem.ram();
            assertTrue(empty.regions().isEmpty(), "a snapshot does not change with the map");
            assertEquals(0, empty.totalSize());
            assertSame(withLow, mem.ram(), "no change to the map, no new snapshot");
            assertEquals(List.of(low), withLow.regions());
            assertEquals(MIB, withLow.totalSize());

            withLow.writeU64(8, 77);
            assertEquals(77, mem.ram().readU64(8));
            error(() -> empty.readU64(8));

            mem.removeRegion(low);
            assertNull(mem.ram().find(8));
            assertSame(low, withLow.find(8));
            assertEquals(0, withLow.readU64(8), "a reader that raced the removal reads zeros, not freed memory");
            withLow.writeU64(8, 5); // and its write lands in scratch, without a fault
        }
    }

    @Test
    void overlappingAndMisalignedRegionsAreRefused() {
        try (GuestMemory mem = new GuestMemory()) {
            MemoryBackend a = MemoryBackend.memfd("a", 2 * MIB, false);
            mem.addRegion("a", 0, a);
            try (MemoryBackend b = MemoryBackend.memfd("b", 2 * MIB, false)) {
                assertEquals("guest RAM region 'b' [0x100000-0x2fffff] overlaps region 'a' [0x0-0x1fffff]",
                        error(() -> mem.addRegion("b", 0x100000, b)));
                assertEquals("guest RAM region 'b' [0x200800-0x3007ff] at offset 0x0 of 'b' (2M, memfd) is not aligned "
                        + "to its page size (4K)", error(() -> mem.addRegion("b", 0x200800, b, 0, MIB, false)));
                assertEquals("guest RAM region 'b' needs 2M from offset 0x100000 of 'b' (2M, memfd), which is only 2M",
                        error(() -> mem.addRegion("b", 0x400000, b, MIB, 2 * MIB, false)));
                assertEquals("guest RAM already has a region named 'a': 'a' [0x0-0x1fffff]",
                        error(() -> mem.addRegion("a", 0x400000, b)));
            }
            assertEquals(1, mem.ram().regions().size(), "nothing was added");
        }
    }

    /** Records what a listener is told, and checks the memory is alive while it unmaps. */
    static final class Recorder implements DmaMappingListener {
        final List<String> events = new ArrayList<>();

        @Override
        public void map(DmaMapping m) {
            events.add("map " + m.name() + " 0x" + Long.toHexString(m.iova()));
        }

        @Override
        public void unmap(DmaMapping m) {
            assertTrue(m.fd().isOpen(), "unmap of " + m + " came after its fd was closed");
            // Read through the host address, as a device would: the region may already be out of the map.
            events.add("unmap " + m.name() + " 0x" + Long.toHexString(m.iova()) + " reads "
                    + new com.sun.jna.Pointer(m.hostAddress()).getByte(0));
        }
    }

    @Test
    void aLateListenerGetsTheRegionsReplayedInAddressOrder() {
        try (GuestMemory mem = new GuestMemory()) {
            mem.addRegion("c", 0x300000, MemoryBackend.memfd("c", MIB, false));
            mem.addRegion("a", 0x100000, MemoryBackend.memfd("a", MIB, false));
            mem.addRegion("b", 0x200000, MemoryBackend.memfd("b", MIB, false));
            Recorder r = new Recorder();
            mem.addListener(r);
            assertEquals(List.of("map a 0x100000", "map b 0x200000", "map c 0x300000"), r.events);

            GuestRegion d = mem.addRegion("d", 0, MemoryBackend.memfd("d", MIB, false));
            assertEquals("map d 0x0", r.events.get(3));
            mem.ram().writeU8(0, 9);
            mem.removeRegion(d);
            assertEquals("unmap d 0x0 reads 9", r.events.get(4));

            r.events.clear();
            mem.removeListener(r);
            assertEquals(List.of("unmap c 0x300000 reads 0", "unmap b 0x200000 reads 0", "unmap a 0x100000 reads 0"),
                    r.events);
        }
    }

    @Test
    void removingARegionUnmapsBeforeTheMemoryIsReleased() throws Exception {
        try (GuestMemory mem = new GuestMemory()) {
            Recorder r = new Recorder();
            mem.addListener(r);
            MemoryBackend ram = MemoryBackend.memfd("going", MIB, false);
            GuestRegion region = mem.addRegion("going", 0x100000, ram);
            mem.ram().writeU8(0x100000, 42);
            ByteBuffer staleView = mem.ram().slice(0x100000, 4096);
            long fds = FdCounts.openFds();

            mem.removeRegion(region);

            // The listener saw the memory alive and the data in place ...
            assertEquals("unmap going 0x100000 reads 42", r.events.get(r.events.size() - 1));
            // ... and afterwards the memfd is closed and the region gone.
            assertFalse(ram.fd().isOpen());
            assertEquals(fds - 1, FdCounts.openFds());
            assertTrue(mem.ram().regions().isEmpty());
            assertThrows(GuestMemoryException.class, () -> mem.ram().readU8(0x100000));
            // A view taken before the removal now reads zeros instead of faulting.
            assertEquals(0, staleView.get(0));
        }
    }

    @Test
    void removingAndReleasingARegionGivesItsAddressRangeBackAtOnce() throws Exception {
        try (GuestMemory mem = new GuestMemory()) {
            MemoryBackend ram = MemoryBackend.memfd("released", MIB, false);
            GuestRegion region = mem.addRegion("released", 0x100000, ram);
            long fds = FdCounts.openFds();

            mem.removeRegionAndRelease(region);

            assertFalse(ram.fd().isOpen());
            assertEquals(fds - 1, FdCounts.openFds());
            assertFalse(ram.mapping().isMapped(), "unmapped now, not at close");
            assertTrue(mem.ram().regions().isEmpty());
        }
    }

    /** Guest physical addresses are u64: regions at and across 2^63 are ordered, found and bounded as such. */
    @Test
    void regionsAtAndAcross2To63AreOrderedAndFoundAsUnsigned() {
        try (GuestMemory mem = new GuestMemory()) {
            long across = 0x8000000000000000L - MIB;
            mem.addRegion("low", 0, MemoryBackend.memfd("low", MIB, false));
            mem.addRegion("across", across, MemoryBackend.memfd("across", 2 * MIB, false));
            mem.addRegion("top", -MIB, MemoryBackend.memfd("top", MIB, false)); // [2^64 - 1 MiB, 2^64)
            assertEquals(List.of("low", "across", "top"), mem.ram().regions().stream().map(GuestRegion::name).toList());

            mem.ram().writeU32(0x8000000000000000L - 2, 0x11223344); // straddles 2^63 inside one region
            assertEquals(0x11223344, mem.ram().readU32(0x8000000000000000L - 2));
            mem.ram().writeU64(-8, 0x55667788L);
            assertEquals(0x55667788L, mem.ram().readU64(-8));
            assertEquals("across", mem.ram().find(0x8000000000000000L).name());
            assertNull(mem.ram().find(across + 2 * MIB));
            error(() -> mem.ram().readU32(-2)); // would wrap past 2^64
            try (MemoryBackend overlap = MemoryBackend.memfd("overlap", MIB, false);
                    MemoryBackend wraps = MemoryBackend.memfd("wraps", 2 * MIB, false)) {
                assertTrue(error(() -> mem.addRegion("overlap", 0x8000000000000000L, overlap)).contains("overlaps"));
                assertTrue(error(() -> mem.addRegion("wraps", -MIB, wraps)).contains("not a valid range"));
            }
        }
    }

    @Test
    void aListenerThatRefusesLeavesTheMapUnchanged() {
        try (GuestMemory mem = new GuestMemory()) {
            Recorder first = new Recorder();
            mem.addListener(first);
            mem.addListener(new DmaMappingListener() {
                @Override
                public void map(DmaMapping m) {
                    throw new GuestMemoryException("IOMMU full");
                }

                @Override
                public void unmap(DmaMapping m) {
                }
            });
            try (MemoryBackend ram = MemoryBackend.memfd("refused", MIB, false)) {
                assertEquals("IOMMU full", error(() -> mem.addRegion("refused", 0, ram)));
                assertTrue(ram.fd().isOpen(), "the caller still owns the backend");
            }
            assertEquals(List.of("map refused 0x0", "unmap refused 0x0 reads 0"), first.events);
            assertTrue(mem.ram().regions().isEmpty());
        }
    }

    /** q35's split: RAM that fits below its ECAM window at 0xB0000000 stays there, more splits at 2 GiB. */
    @Test
    void theX86LayoutKeepsRamBelowAWindowOfTheMachinesOwn() {
        long ecam = 0xB000_0000L;
        assertEquals(16 * MIB, X86RamLayout.lowRamEnd(16 * MIB, ecam));
        assertEquals(ecam, X86RamLayout.lowRamEnd(ecam, ecam));
        assertEquals(2L << 30, X86RamLayout.lowRamEnd(ecam + MIB, ecam));
        assertEquals(2L << 30, X86RamLayout.lowRamEnd(8L << 30, ecam));
        assertEquals(3L << 30, X86RamLayout.lowRamEnd(8L << 30, 0xE000_0000L), "never above 3 GiB");
        assertEquals(3L << 30, X86RamLayout.pciHoleStart(8L << 30));
        assertThrows(IllegalArgumentException.class, () -> X86RamLayout.lowRamEnd(2L << 30, 256 * MIB));
    }

    @Test
    void theX86LayoutLeavesAPciHoleAndSharesOneBackend() {
        long size = (3L << 30) + 64 * MIB; // memfd pages are allocated on first touch: this costs little
        try (GuestMemory mem = new GuestMemory()) {
            MemoryBackend ram = MemoryBackend.memfd("pc.ram", size, false);
            List<GuestRegion> regions = X86RamLayout.install(mem, ram);
            assertEquals("'ram-below-4g' [0x0-0xbfffffff]", regions.get(0).toString());
            assertEquals("'ram-above-4g' [0x100000000-0x103ffffff]", regions.get(1).toString());
            assertEquals(3L << 30, regions.get(1).backendOffset());
            assertEquals(size, mem.ram().totalSize());
            assertNull(mem.ram().find(0xfee00000L), "the local APIC's page is in the hole");

            mem.ram().writeU64(4L << 30, 0x4444);
            try (MemoryMapping peer = MemoryMapping.map(ram.fd(), 3L << 30, 4096, PROT_READ, MAP_SHARED)) {
                assertEquals(0x4444, peer.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).getLong(0));
            }

            // Region 0 spans three 1 GiB views: accesses across their seams still work.
            long seam = 1L << 30;
            mem.ram().writeU64(seam - 4, 0x0102030405060708L);
            assertEquals(0x0102030405060708L, mem.ram().readU64(seam - 4));
            assertEquals(0x05060708, mem.ram().readU32(seam - 4));
            assertEquals(0x01020304, mem.ram().readU32(seam));
            byte[] across = new byte[8];
            mem.ram().read(seam - 4, across, 0, 8);
            assertArrayEquals(new byte[] {8, 7, 6, 5, 4, 3, 2, 1}, across);
            assertEquals("a view of 8 bytes at guest physical address 0x3ffffffc would straddle a 1 GiB boundary inside "
                    + "region 'ram-below-4g' [0x0-0xbfffffff]; copy it with read() instead",
                    error(() -> mem.ram().slice(seam - 4, 8)));
            assertSame(regions.get(0), mem.ram().find(seam));
        }
    }
}
