package io.jvfio.vmm.pci;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.migration.MigrationException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jvfio.vmm.pci.PciRegs.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host bridge's migration and its own function 00.0's: CONFIG_ADDRESS and 00.0's registers move,
 * and the bridge's restore places the BARs of a function whose registers were restored before it.
 */
class PciHostBridgeMigrationTest {

    private static final class Machine {
        final AddressSpace space = new AddressSpace();
        final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
        final TestFunction device = new TestFunction(256).bar(0, 4096, PciConfigSpace.BarType.MEMORY32, false);
        final PciDevFn at = bridge.add(new PciDevFn(1, 0), false, device, "test");

        HostBridgeFunction hostBridge() {
            return (HostBridgeFunction) bridge.function(new PciDevFn(0, 0));
        }

        int read(int devfn, int offset, int size) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
            return (int) space.in(PciHostBridge.CONFIG_DATA + (offset & 3), size);
        }

        void write(int devfn, int offset, int size, int value) {
            space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | devfn << 8 | (offset & 0xFC));
            space.out(PciHostBridge.CONFIG_DATA + (offset & 3), size, Integer.toUnsignedLong(value));
        }
    }

    @Test
    void configAddressTheHostBridgesRegistersAndTheBarsPlacementMove() {
        Machine source = new Machine();
        source.write(0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
        source.write(0, PCI_LATENCY_TIMER, 1, 0x40);
        source.write(source.at.devfn(), PCI_BASE_ADDRESS_0, 4, 0xE000_0000);
        source.write(source.at.devfn(), PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
        source.space.out(PciHostBridge.CONFIG_ADDRESS, 4, 0x8000_0000L | source.at.devfn() << 8 | PCI_BASE_ADDRESS_0);
        assertEquals(0xE000_0000L, source.bridge.mappedAddress(source.at, 0));

        Machine destination = new Machine();
        assertEquals(source.hostBridge().stateId(), destination.hostBridge().stateId());
        assertEquals("host bridge 8086:1237", destination.hostBridge().stateId());
        assertEquals("PCI host bridge, ECAM at 0xb0000000", destination.bridge.stateId());
        destination.hostBridge().restore(source.hostBridge().snapshot());
        destination.device.config.setContents(source.device.config.contents()); // the device's own migration
        assertEquals(-1, destination.bridge.mappedAddress(destination.at, 0), "not placed before the bridge's restore");
        destination.bridge.restore(source.bridge.snapshot());

        assertEquals(List.of("map BAR0 0xe0000000"), destination.device.events);
        assertEquals(0xE000_0000L, destination.bridge.mappedAddress(destination.at, 0));
        assertEquals(source.space.in(PciHostBridge.CONFIG_ADDRESS, 4), destination.space.in(PciHostBridge.CONFIG_ADDRESS, 4));
        assertEquals(0xE000_0000L, destination.space.in(PciHostBridge.CONFIG_DATA, 4) & 0xFFFF_FFFFL,
                "the guest's next CONFIG_DATA read goes where its CONFIG_ADDRESS on the source pointed");
        for (int offset = 0; offset < 0x40; offset += 4) {
            assertEquals(source.read(0, offset, 4), destination.read(0, offset, 4), "00.0 at 0x" + Integer.toHexString(offset));
        }
    }

    @Test
    void anotherPartsOrACutShortStateIsRefused() {
        Machine source = new Machine();
        Machine destination = new Machine();
        MigrationException kind = assertThrows(MigrationException.class,
                () -> destination.hostBridge().restore(source.bridge.snapshot()));
        assertTrue(kind.getMessage().startsWith("the state is a 'PCI host bridge' state, and this part takes 'host bridge "
                + "function' state"), kind.getMessage());
        byte[] state = source.hostBridge().snapshot();
        MigrationException cut = assertThrows(MigrationException.class,
                () -> destination.hostBridge().restore(java.util.Arrays.copyOf(state, state.length - 1)));
        assertTrue(cut.getMessage().contains("ends within its fields"), cut.getMessage());
    }
}
