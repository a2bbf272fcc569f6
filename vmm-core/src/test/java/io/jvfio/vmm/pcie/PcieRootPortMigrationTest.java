package io.jvfio.vmm.pcie;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.TestFunction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.pci.PciRegs.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The root port's migration: a port the guest numbered, opened windows on, aimed its MSI and enabled
 * its slot's events on, with an unplug pending, moved to a fresh machine with the same device behind
 * it; there the guest reads the same registers, reaches the device through the same bus number and
 * window, and its hotplug interrupt arrives where it did.
 */
class PcieRootPortMigrationTest {

    private static final int SECONDARY = 3;
    private static final long WINDOW = 0xC000_0000L;
    private static final int EDU_ID = 0x010000ed;

    /** A machine: the bus, a root port at 00:02.0 with chassis 1 slot 5, maybe a device behind it. */
    private static final class Machine {
        final AddressSpace space = new AddressSpace();
        final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        final List<String> msis = new ArrayList<>();
        final List<String> removed = new ArrayList<>();
        final PcieRootPort port;
        final PciDevFn at;
        final TestFunction device;

        Machine(boolean withDevice) {
            port = new PcieRootPort("rp1", 1, 5, (a, d) -> msis.add(Long.toHexString(a) + ":" + Integer.toHexString(d)),
                    p -> bridge.afterConfigCycle(() -> removed.add(bridge.removeBehind(portAt()).name())));
            at = bridge.add(new PciDevFn(2, 0), false, port, "pcie-root-port");
            device = withDevice ? new TestFunction(4096).bar(0, 1 << 20, PciConfigSpace.BarType.MEMORY32, false) : null;
            if (device != null) {
                device.space = space;
                device.device = new BusDevice() {
                    @Override
                    public long read(long offset, int size) {
                        return offset == 0 ? EDU_ID : 0;
                    }

                    @Override
                    public void write(long offset, int size, long value) {
                    }
                };
                bridge.addBehind(at, device, "edu", false); // on the command line: present, powered
            }
        }

        PciDevFn portAt() {
            return at;
        }

        int read(int bus, int devfn, int offset, int size) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
            return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
        }

        void write(int bus, int devfn, int offset, int size, int value) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | bus << 16 | devfn << 8 | (offset & 0xFC));
            space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, Integer.toUnsignedLong(value));
        }

        int portRead(int offset, int size) {
            return read(0, at.devfn(), offset, size);
        }

        void portWrite(int offset, int size, int value) {
            write(0, at.devfn(), offset, size, value);
        }
    }

    private static int exp(int reg) {
        return PcieRootPort.EXP_CAP + reg;
    }

    private static final int MSI = PcieRootPort.MSI_CAP;
    private static final int SLOT_EVENTS = PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE
            | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_DLLSCE;

    /** What a guest does with the port and the device, then an unplug request it has not answered yet. */
    private static Machine programmed() {
        Machine m = new Machine(true);
        m.portWrite(PCI_PRIMARY_BUS, 4, SECONDARY << 16 | SECONDARY << 8);
        m.portWrite(PCI_MEMORY_BASE, 4, (int) (WINDOW >>> 16 | WINDOW));      // 0xC0000000-0xC00FFFFF
        m.portWrite(PCI_IO_BASE, 2, 0x2010);
        m.portWrite(PCI_BRIDGE_CONTROL, 2, PCI_BRIDGE_CTL_SERR | PCI_BRIDGE_CTL_PARITY);
        m.portWrite(MSI + PCI_MSI_ADDRESS_LO, 4, 0xFEE0_1000);                  // APIC 1
        m.portWrite(MSI + PCI_MSI_ADDRESS_HI, 4, 0);
        m.portWrite(MSI + PCI_MSI_DATA_64, 2, 0x41);
        m.portWrite(MSI + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
        m.portWrite(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        int ctl = m.portRead(exp(PCI_EXP_SLTCTL), 2);
        m.portWrite(exp(PCI_EXP_SLTCTL), 2, ctl | SLOT_EVENTS);
        m.portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_CC);
        m.write(SECONDARY, 0, PCI_BASE_ADDRESS_0, 4, (int) WINDOW);
        m.write(SECONDARY, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        assertEquals(EDU_ID, m.space.read(WINDOW, 4), "the device decodes through the window");
        m.port.pressAttentionButton(); // device_del: the guest has not answered it yet
        assertEquals(List.of("fee01000:41", "fee01000:41"), m.msis, "command completed, then the button");
        m.space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | 2 << 11 | PCI_COMMAND); // the guest's last address
        return m;
    }

    /** The source's parts' states into the destination's, in the order a migration restores them. */
    private static void migrate(Machine source, Machine destination) {
        byte[] port = source.port.snapshot();
        byte[] bridge = source.bridge.snapshot();
        assertEquals(source.port.stateId(), destination.port.stateId());
        assertEquals("pcie-root-port chassis 1 slot 5", destination.port.stateId());
        destination.port.restore(port);
        // The device behind migrates as its own: here its configuration space is copied as such a device would.
        destination.device.config.setContents(source.device.config.contents());
        destination.bridge.restore(bridge); // last: it places the BARs
        assertArrayEquals(port, destination.port.snapshot());
    }

    @Test
    void theDestinationPortReadsRoutesDecodesAndInterruptsAsTheSourceDid() {
        Machine source = programmed();
        long configAddress = source.space.in(PciHostBridge.CONFIG_ADDRESS, 4);
        Machine destination = new Machine(true);
        migrate(source, destination);

        assertEquals(configAddress, destination.space.in(PciHostBridge.CONFIG_ADDRESS, 4), "CONFIG_ADDRESS");
        for (int offset = 0; offset < 0x100; offset += 4) {
            assertEquals(source.portRead(offset, 4), destination.portRead(offset, 4), "the port at 0x"
                    + Integer.toHexString(offset));
        }
        int sta = destination.portRead(exp(PCI_EXP_SLTSTA), 2);
        assertEquals(PCI_EXP_SLTSTA_PDS | PCI_EXP_SLTSTA_ABP, sta, "present, the button's request pending");
        assertTrue((destination.portRead(exp(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA) != 0, "link active");
        assertEquals(List.of(), destination.msis, "the restore sends nothing");

        // Routing and decoding: bus 3 reaches the device behind, its BAR decodes in the window.
        assertEquals(0x56781234, destination.read(SECONDARY, 0, PCI_VENDOR_ID, 4));
        assertEquals(List.of("map BAR0 0xc0000000"), destination.device.events, "placed once everything was restored");
        assertEquals(EDU_ID, destination.space.read(WINDOW, 4));
        destination.portWrite(PCI_COMMAND, 2, PCI_COMMAND_MASTER);
        assertEquals("unmap BAR0", destination.device.events.get(1), "the port's memory enable still rules it");
        destination.portWrite(PCI_COMMAND, 2, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);

        // The guest answers the button on the destination: the slot goes off, the device goes, the MSI
        // arrives where the guest aimed it on the source.
        int ctl = destination.portRead(exp(PCI_EXP_SLTCTL), 2);
        destination.portWrite(exp(PCI_EXP_SLTCTL), 2, ctl); // a command: completed, while the button's condition holds
        assertEquals(List.of(), destination.msis, "the interrupt condition held on the source already: no new edge");
        destination.portWrite(exp(PCI_EXP_SLTSTA), 2, PCI_EXP_SLTSTA_ABP | PCI_EXP_SLTSTA_CC);
        destination.portWrite(exp(PCI_EXP_SLTCTL), 2, ctl & ~PCI_EXP_SLTCTL_PIC | PCI_EXP_SLTCTL_PWR_IND_OFF
                | PCI_EXP_SLTCTL_PWR_OFF);
        assertEquals(List.of("test"), destination.removed, "the unplug requested on the source completes here");
        assertNull(destination.bridge.behind(destination.at));
        assertEquals(List.of("fee01000:41"), destination.msis, "presence detect changed, to APIC 1 vector 0x41");
    }

    @Test
    void aSlotHoldingADeviceOnOneSideOnlyIsRefused() {
        Machine source = programmed();
        Machine empty = new Machine(false);
        MigrationException e = assertThrows(MigrationException.class, () -> empty.port.restore(source.port.snapshot()));
        assertEquals("pcie-root-port rp1: the source's slot holds a device and this one is empty: start the destination "
                + "with the source's devices, one with bus=rp1 (hot-added and removed ones as they are now)",
                e.getMessage());
        assertEquals(0, empty.portRead(PCI_SECONDARY_BUS, 1), "nothing loaded");

        MigrationException other = assertThrows(MigrationException.class,
                () -> new Machine(true).port.restore(new Machine(false).port.snapshot()));
        assertTrue(other.getMessage().contains("the source's slot is empty and this one holds one"), other.getMessage());
    }

    @Test
    void anotherVersionOrAnotherPartsStateIsRefused() {
        Machine source = programmed();
        byte[] v2 = source.port.snapshot();
        v2[4 + 2 + "pcie-root-port".length() + 1] = 2;
        Machine destination = new Machine(true);
        MigrationException version = assertThrows(MigrationException.class, () -> destination.port.restore(v2));
        assertTrue(version.getMessage().startsWith("the 'pcie-root-port' state is version 2 of its format, and this "
                + "build loads version 1 only"), version.getMessage());
        MigrationException kind = assertThrows(MigrationException.class,
                () -> destination.port.restore(source.bridge.snapshot()));
        assertTrue(kind.getMessage().startsWith("the state is a 'PCI host bridge' state, and this part takes "
                + "'pcie-root-port' state"), kind.getMessage());
    }
}
