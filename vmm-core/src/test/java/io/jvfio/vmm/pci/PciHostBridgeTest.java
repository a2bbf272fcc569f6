package io.jvfio.vmm.pci;

import io.jvfio.vmm.bus.AddressSpace;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jvfio.vmm.pci.PciConfigSpace.BarType.IO;
import static io.jvfio.vmm.pci.PciConfigSpace.BarType.MEMORY32;
import static io.jvfio.vmm.pci.PciConfigSpace.BarType.MEMORY64;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The host bridge as a guest drives it: port 0xCF8/0xCFC and ECAM, BAR sizing and placement. */
class PciHostBridgeTest {

    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);

    private int cf8Read(int devfn, int offset, int size) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
        return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
    }

    private void cf8Write(int devfn, int offset, int size, int value) {
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
        space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, Integer.toUnsignedLong(value));
    }

    @Test
    void bothConfigurationMechanismsSeeTheSameFunctions() {
        TestFunction f = new TestFunction(4096);
        PciDevFn at = bridge.add(null, false, f, "test-device");
        assertEquals(new PciDevFn(1, 0), at, "the first free slot; 00.0 is the host bridge");
        assertEquals(0x12378086, cf8Read(0, 0, 4), "the host bridge, 8086:1237");
        assertEquals(0x56781234, cf8Read(at.devfn(), 0, 4));
        assertEquals(0x5678, cf8Read(at.devfn(), 2, 2));
        assertEquals(0x56781234L, space.read(PciHostBridge.DEFAULT_ECAM_BASE + (at.devfn() << 12), 4));
        assertEquals(-1, cf8Read(new PciDevFn(9, 0).devfn(), 0, 4), "an empty slot reads all-ones");
        space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x0000_0800L); // enable bit clear
        assertEquals(0xFFFFFFFFL, space.in(PciHostBridge.CONFIG_DATA, 4));
        // Extended configuration space is only reachable through ECAM (CF8 has 8 register bits).
        f.config.set(0x100, 4, 0xCAFE0001L);
        assertEquals(0xCAFE0001L, space.read(PciHostBridge.DEFAULT_ECAM_BASE + (at.devfn() << 12) + 0x100, 4));
    }

    @Test
    void sizingReturnsTheMaskAndMapsNothingThenDecodeMapsMovesAndUnmaps() {
        TestFunction f = new TestFunction(256).bar(0, 1 << 20, MEMORY32, false).bar(2, 1 << 20, MEMORY64, true)
                .bar(4, 32, IO, false).rom(256 << 10);
        int devfn = bridge.add(new PciDevFn(4, 0), false, f, "test-device").devfn();
        // Sizing, as a driver does it: all-ones in, the size mask and type bits out.
        cf8Write(devfn, 0x10, 4, -1);
        assertEquals(0xFFF00000, cf8Read(devfn, 0x10, 4));
        cf8Write(devfn, 0x18, 4, -1);
        cf8Write(devfn, 0x1c, 4, -1);
        assertEquals(0xFFF0000C, cf8Read(devfn, 0x18, 4), "64-bit, prefetchable");
        assertEquals(0xFFFFFFFF, cf8Read(devfn, 0x1c, 4));
        cf8Write(devfn, 0x20, 4, -1);
        assertEquals(0xFFFFFFE1, cf8Read(devfn, 0x20, 4), "I/O, 32 ports");
        cf8Write(devfn, 0x30, 4, 0xFFFFF800);
        assertEquals(0xFFFC0000, cf8Read(devfn, 0x30, 4), "ROM, 256 KiB");
        // With memory decode on, a BAR holding its size mask does not decode (QEMU's rule).
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_MEMORY | PciRegs.PCI_COMMAND_IO);
        assertEquals(List.of(), f.events);
        // Placing them.
        cf8Write(devfn, 0x04, 2, 0);
        cf8Write(devfn, 0x10, 4, 0xfea00000);
        cf8Write(devfn, 0x18, 4, 0x00000000);
        cf8Write(devfn, 0x1c, 4, 0x00000008);
        cf8Write(devfn, 0x20, 4, 0xc000);
        cf8Write(devfn, 0x30, 4, 0xfeb00000 | PciRegs.PCI_ROM_ADDRESS_ENABLE);
        assertEquals(List.of(), f.events, "decode is off");
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_MEMORY);
        assertEquals(List.of("map BAR0 0xfea00000", "map BAR2 0x800000000", "map ROM 0xfeb00000"), f.events);
        f.events.clear();
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_MEMORY | PciRegs.PCI_COMMAND_IO);
        assertEquals(List.of("map BAR4 0xc000"), f.events);
        f.events.clear();
        cf8Write(devfn, 0x10, 4, 0xfe000000); // moved while decoding
        assertEquals(List.of("unmap BAR0", "map BAR0 0xfe000000"), f.events);
        f.events.clear();
        cf8Write(devfn, 0x04, 2, 0);
        assertEquals(List.of("unmap BAR0", "unmap BAR2", "unmap BAR4", "unmap ROM"), f.events);
        assertEquals(-1, bridge.mappedAddress(new PciDevFn(4, 0), 0));
        f.events.clear();
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_MEMORY);
        bridge.reset();
        assertEquals(List.of("map BAR0 0xfe000000", "map BAR2 0x800000000", "map ROM 0xfeb00000", "unmap BAR0",
                "unmap BAR2", "unmap ROM", "reset"), f.events);
    }

    @Test
    void aFunctionsOwnWritesThroughItsCyclesDecodeItsBarsAsTheGuestsDo() {
        TestFunction f = new TestFunction(256).bar(0, 1 << 20, MEMORY32, false).bar(2, 1 << 20, MEMORY64, true);
        PciDevFn at = bridge.add(new PciDevFn(4, 0), false, f, "test-device");
        // A restore's replay: the registers through the bus, decode last.
        f.cycles.write(0x10, 4, 0xfea00000);
        f.cycles.write(0x18, 4, 0);
        f.cycles.write(0x1c, 4, 8);
        assertEquals(List.of(), f.events, "decode is off");
        f.cycles.write(0x04, 2, PciRegs.PCI_COMMAND_MEMORY);
        assertEquals(List.of("map BAR0 0xfea00000", "map BAR2 0x800000000"), f.events);
        assertEquals(0xfea00000L, bridge.mappedAddress(at, 0), "the bus knows where they decode");
        f.events.clear();
        cf8Write(at.devfn(), 0x04, 2, 0); // and the guest's next write takes them down
        assertEquals(List.of("unmap BAR0", "unmap BAR2"), f.events);
    }

    @Test
    void placementFollowsQemusRules() {
        bridge.add(new PciDevFn(5, 0), true, new TestFunction(256), "vfio-pci");
        assertEquals(PciHostBridge.HEADER_TYPE_MULTIFUNCTION, cf8Read(new PciDevFn(5, 0).devfn(), 0x0e, 1),
                "function 0 says the slot is multi-function");
        bridge.add(new PciDevFn(5, 1), false, new TestFunction(256), "vfio-pci");
        assertEquals("PCI: slot 5 function 1 not available for vfio-user-pci, in use by vfio-pci",
                assertThrows(PciPlacementException.class, () -> bridge.add(new PciDevFn(5, 1), false,
                        new TestFunction(256), "vfio-user-pci")).getMessage());
        bridge.add(new PciDevFn(6, 0), false, new TestFunction(256), "vfio-pci");
        assertEquals("PCI: single function device can't be populated in function 06.2 (give the device at 06.0 "
                + "multifunction=on)", assertThrows(PciPlacementException.class, () -> bridge.add(new PciDevFn(6, 2),
                        false, new TestFunction(256), "vfio-pci")).getMessage());
        bridge.add(new PciDevFn(7, 3), false, new TestFunction(256), "vfio-pci");
        assertEquals("PCI: 07.0 indicates single function, but 07.3 is already populated (give it multifunction=on)",
                assertThrows(PciPlacementException.class, () -> bridge.add(new PciDevFn(7, 0), false,
                        new TestFunction(256), "vfio-pci")).getMessage());
        assertEquals(new PciDevFn(1, 0), bridge.add(null, false, new TestFunction(256), "vfio-pci"));
        assertEquals("""
                00:00.0 Host bridge [0600]: Device [8086:1237] (rev 02)
                00:01.0 Unclassified device [00ff]: Device [1234:5678] (rev 01)
                00:05.0 Unclassified device [00ff]: Device [1234:5678] (rev 01)
                00:05.1 Unclassified device [00ff]: Device [1234:5678] (rev 01)
                00:06.0 Unclassified device [00ff]: Device [1234:5678] (rev 01)
                00:07.3 Unclassified device [00ff]: Device [1234:5678] (rev 01)
                """, PciConfigDump.list(bridge));
    }

    @Test
    void decodableFollowsPciBarAddress() {
        PciBar mem32 = new PciBar(0, MEMORY32, 1 << 20, false);
        PciBar mem64 = new PciBar(2, MEMORY64, 1 << 20, false);
        PciBar io = new PciBar(4, IO, 32, false);
        assertEquals(false, PciHostBridge.decodable(mem32, 0));
        assertEquals(true, PciHostBridge.decodable(mem32, 0xfff0_0000L - (1 << 20)));
        assertEquals(false, PciHostBridge.decodable(mem32, 0xfff0_0000L), "its size mask: being sized");
        assertEquals(true, PciHostBridge.decodable(mem64, 0xfff0_0000L), "a 64-bit BAR may end at 4 GiB");
        assertEquals(false, PciHostBridge.decodable(mem64, 0xFFFF_FFFF_FFF0_0000L));
        assertEquals(true, PciHostBridge.decodable(io, 0xffe0));
        assertEquals(false, PciHostBridge.decodable(io, 0x1_0000));
    }

    /**
     * An I/O BAR as a guest drives it: sizing shows the low two bits read-only at 01, placement in the
     * I/O window, decode only with command bit 0 (I/O space), its accesses on the port bus, and none
     * over ports already taken (the bridge's own 0xCF8-0xCFF).
     */
    @Test
    void anIoBarDecodesOnThePortBusWithIoSpaceEnable() {
        java.util.List<String> accesses = new java.util.ArrayList<>();
        TestFunction f = new TestFunction(256).bar(0, 16, IO, false);
        f.space = space;
        f.device = new io.jvfio.vmm.bus.BusDevice() {
            @Override
            public long read(long offset, int size) {
                accesses.add("in " + offset + "/" + size);
                return 0x4750494fL;
            }

            @Override
            public void write(long offset, int size, long value) {
                accesses.add("out " + offset + "/" + size + "=" + Long.toHexString(value));
            }
        };
        int devfn = bridge.add(new PciDevFn(3, 0), false, f, "test-device").devfn();
        cf8Write(devfn, 0x10, 4, -1);
        assertEquals(0xFFFFFFF1, cf8Read(devfn, 0x10, 4), "16 ports; bit 0 reads 1 (I/O), bit 1 reserved 0");
        cf8Write(devfn, 0x10, 4, (int) PciHostBridge.IO_WINDOW_BASE | 0x3);
        assertEquals(0xC001, cf8Read(devfn, 0x10, 4), "the low two bits are read-only");
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_MEMORY);
        assertEquals(List.of(), f.events, "memory decode does not decode an I/O BAR");
        assertEquals(0xFFFFFFFFL, space.in(0xC000, 4), "nothing at the port yet: a master abort");
        cf8Write(devfn, 0x04, 2, PciRegs.PCI_COMMAND_IO);
        assertEquals(List.of("map BAR0 0xc000"), f.events);
        assertEquals(0xC000, bridge.mappedAddress(new PciDevFn(3, 0), 0));
        assertEquals(0x4750494fL, space.in(0xC000, 4));
        space.out(0xC004, 4, 0x1234);
        assertEquals(List.of("in 0/4", "out 4/4=1234"), accesses);
        f.events.clear();
        cf8Write(devfn, 0x10, 4, PciHostBridge.CONFIG_ADDRESS & ~0xF); // 0xCF0-0xCFF: over the bridge's ports
        assertEquals(List.of("unmap BAR0", "map BAR0 0xcf0"), f.events, "tried, and refused by the port bus");
        assertEquals(-1, bridge.mappedAddress(new PciDevFn(3, 0), 0), "it does not decode");
        assertEquals(0x12378086, cf8Read(0, 0, 4), "the bridge's own ports still answer");
        cf8Write(devfn, 0x10, 4, 0xC010);
        assertEquals(0xC010, bridge.mappedAddress(new PciDevFn(3, 0), 0));
        cf8Write(devfn, 0x04, 2, 0);
        assertEquals(-1, bridge.mappedAddress(new PciDevFn(3, 0), 0));
        assertEquals(0xFFFFFFFFL, space.in(0xC010, 4), "I/O decode off: gone from the port bus");
    }
}
