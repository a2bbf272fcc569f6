package io.jvfio.vmm.bus;

import io.jvfio.vmm.linux.MemoryMapping;
import org.junit.jupiter.api.Test;

import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The MMIO and port buses and directly mapped memory, on real mmap'd memory. */
class AddressSpaceTest {

    /** Remembers its registers; answers reads with offset-derived values. */
    static final class Registers implements BusDevice {
        final List<String> writes = new ArrayList<>();

        @Override
        public long read(long offset, int size) {
            return 0x1000 + offset + size;
        }

        @Override
        public void write(long offset, int size, long value) {
            writes.add(offset + "/" + size + "=" + Long.toHexString(value));
        }
    }

    @Test
    void devicesAreFoundByAddressAndOverlapsAreRefusedWithBothNamed() {
        Bus bus = new Bus("mmio");
        Registers a = new Registers();
        bus.add("a", 0x1000, 0x100, a);
        bus.add("b", 0x2000, 0x1000, new Registers());
        assertEquals(0x1000 + 0x10 + 4, bus.read(0x1010, 4));
        bus.write(0x10fc, 4, 0xabcd);
        assertEquals(List.of("252/4=abcd"), a.writes);
        BusException e = assertThrows(BusException.class, () -> bus.add("c", 0x10ff, 2, new Registers()));
        assertEquals("mmio: [0x10ff-0x1100] 'c' overlaps [0x1000-0x10ff] 'a'", e.getMessage());
        assertNull(bus.find(0x1100));
        assertEquals(0xFFFFFFFFL, bus.read(0x1800, 4), "nothing there: all-ones, as a master abort reads");
        assertEquals(0xFFFFL, bus.read(0x10ff, 2), "an access running off the end of a device is not its");
        assertEquals(2, bus.unclaimedAccesses());
        bus.remove(bus.find(0x1000));
        assertEquals(-1L, bus.read(0x1000, 8));
    }

    @Test
    void directMemoryWinsOverTheBusAndListenersFollowIt() {
        AddressSpace space = new AddressSpace();
        Registers trap = new Registers();
        space.mmio().add("BAR2 (trapped)", 0xfe00_0000L, 0x10_0000, trap);
        List<String> seen = new ArrayList<>();
        try (MemoryMapping m = MemoryMapping.anonymous(0x10000, PROT_READ | PROT_WRITE, "test BAR")) {
            DirectRegion r = space.mapDirect("BAR2 area", 0xfe00_0000L, 0x10000, m.address(), true);
            space.addListener(new AddressSpace.Listener() {
                @Override
                public void regionAdded(DirectRegion region) {
                    seen.add("+" + region.name());
                }

                @Override
                public void regionRemoved(DirectRegion region) {
                    seen.add("-" + region.name());
                }
            });
            space.write(0xfe00_0008L, 8, 0x1122334455667788L);
            assertEquals(0x1122334455667788L, m.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).getLong(8));
            assertEquals(0x5566L, space.read(0xfe00_000aL, 2));
            assertEquals(List.of(), trap.writes, "the mapped area never reaches the trap");
            // Past the mapped area, the trap answers.
            assertEquals(0x1000 + 0x10000 + 4, space.read(0xfe01_0000L, 4));
            assertThrows(BusException.class, () -> space.mapDirect("again", 0xfe00_f000L, 0x2000, m.address(), true));
            space.unmapDirect(r);
            assertEquals(0x1000 + 8 + 8, space.read(0xfe00_0008L, 8), "unmapped: the trap sees it");
            assertEquals(List.of("+BAR2 area", "-BAR2 area"), seen);
        }
        space.pio().add("port", 0x3f8, 8, trap);
        space.out(0x3f9, 1, 0x41);
        assertEquals("1/1=41", trap.writes.get(trap.writes.size() - 1));
        assertEquals(0xFFL, space.in(0x80, 1));
    }

    /** A KVM memory slot is whole pages (KVM_SET_USER_MEMORY_REGION: EINVAL otherwise): so is a direct region. */
    @Test
    void aDirectRegionIsWholePagesOrNothing() {
        AddressSpace space = new AddressSpace();
        List<String> seen = new ArrayList<>();
        space.addListener(new AddressSpace.Listener() {
            @Override
            public void regionAdded(DirectRegion region) {
                seen.add("+" + region.name());
            }

            @Override
            public void regionRemoved(DirectRegion region) {
                seen.add("-" + region.name());
            }
        });
        try (MemoryMapping m = MemoryMapping.anonymous(0x2000, PROT_READ | PROT_WRITE, "test BAR")) {
            BusException small = assertThrows(BusException.class,
                    () -> space.mapDirect("BAR0", 0xfe00_0000L, 256, m.address(), true));
            assertEquals("direct region 'BAR0' at 0xfe000000 (256 bytes, host 0x" + Long.toHexString(m.address())
                    + ") is not whole pages of 4096 bytes on page boundaries, as a KVM memory slot must be: trap the "
                    + "range on the MMIO bus instead", small.getMessage());
            assertThrows(BusException.class, () -> space.mapDirect("unaligned guest", 0xfe00_0100L, 0x1000,
                    m.address(), true));
            assertThrows(BusException.class, () -> space.mapDirect("unaligned host", 0xfe00_0000L, 0x1000,
                    m.address() + 0x100, true));
            assertEquals(List.of(), seen, "a listener (KVM) never hears of one");
            assertEquals(0, space.directRegions().length);
        }
    }

    @Test
    void doorbellsGoToTheListenersThatTakeThemAndMatchByAddressWidthAndData() {
        AddressSpace space = new AddressSpace();
        List<String> seen = new ArrayList<>();
        AddressSpace.Listener kvm = new AddressSpace.Listener() {
            @Override
            public void regionAdded(DirectRegion region) {
            }

            @Override
            public void regionRemoved(DirectRegion region) {
            }

            @Override
            public boolean ioEventFdAdded(IoEventFd d) {
                seen.add("+" + d.name());
                return true;
            }

            @Override
            public void ioEventFdRemoved(IoEventFd d) {
                seen.add("-" + d.name());
            }
        };
        try (io.jvfio.vmm.linux.EventFd e = new io.jvfio.vmm.linux.EventFd("doorbell")) {
            IoEventFd d = new IoEventFd("d", false, 0xfe00_0068L, 4, true, 0, e);
            assertEquals(false, space.addIoEventFd(d), "no listener takes it: the bus device must ring it");
            space.addListener(kvm);
            assertEquals(List.of("+d"), seen, "a listener added later gets it too");
            IoEventFd moved = d.at(0xfd00_0068L);
            assertEquals(true, space.addIoEventFd(moved));
            space.removeIoEventFd(d);
            assertEquals(List.of("+d", "+d", "-d"), seen);
            assertEquals(List.of(moved), space.ioEventFds());
            assertThrows(IllegalArgumentException.class, () -> space.removeIoEventFd(d));

            assertEquals(true, d.matches(0xfe00_0068L, 4, 0));
            assertEquals(true, d.matches(0xfe00_0068L, 4, 0xffff_ffff_0000_0000L), "only the access's width counts");
            assertEquals(false, d.matches(0xfe00_0068L, 4, 1), "another value");
            assertEquals(false, d.matches(0xfe00_0068L, 2, 0), "another width");
            assertEquals(false, d.matches(0xfe00_006cL, 4, 0), "another address");
            IoEventFd any = new IoEventFd("any", true, 0x510, 0, false, 0, e);
            assertEquals(true, any.matches(0x510, 1, 7), "width 0 and no datamatch: any write there");
            assertThrows(BusException.class, () -> new IoEventFd("bad", false, 0, 3, false, 0, e));
            assertThrows(BusException.class, () -> new IoEventFd("bad", false, 0, 0, true, 0, e));
        }
    }
}
