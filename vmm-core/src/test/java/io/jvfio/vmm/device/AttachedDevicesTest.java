package io.jvfio.vmm.device;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;
import io.jvfio.vmm.pci.PciPlacementException;
import io.jvfio.vmm.pci.PciRegs;
import io.jvfio.vmm.pci.TestFunction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The registry's half of the SPI on a real host bridge: whatever a driver creates is placed, wired and
 * closed, and a device that fails to attach leaves nothing behind. The driver is the test's own,
 * over the tests' {@link TestFunction} (a real configuration space); vmm-core cannot see the real ones.
 */
class AttachedDevicesTest {

    /** Everything that happened, in order: what was made, what was closed. */
    private final List<String> log = new ArrayList<>();

    /** A per-VM resource the devices share, as vfio-pci shares its container. */
    final class Container implements AutoCloseable {
        Container() {
            log.add("open container");
        }

        @Override
        public void close() {
            log.add("close container");
        }
    }

    /** Opens a back end (a String service stands for what the machine provides), then the function. */
    final class PinDriver implements DeviceDriver {
        @Override
        public String name() {
            return "pin-dev";
        }

        @Override
        public String description() {
            return "A function with an INTx pin, defined by the test";
        }

        @Override
        public List<Property> properties() {
            return PciDeviceProperties.ALL;
        }

        @Override
        public PciFunction create(DeviceConfig config, MachineContext machine) {
            machine.shared(Container.class, Container::new);
            String prefix = machine.require(String.class);
            log.add("open backend " + config.id());
            machine.onClose(() -> log.add("close backend " + config.id()));
            TestFunction f = new TestFunction(PciRegs.PCI_CFG_SPACE_SIZE);
            f.config.interruptPin(1);
            machine.onClose(() -> log.add("close " + prefix + config.id()));
            return f;
        }
    }

    private final AddressSpace space = new AddressSpace();
    private final PciHostBridge bridge = new PciHostBridge(space, PciHostBridge.DEFAULT_ECAM_BASE);
    private final DeviceRegistry registry = new DeviceRegistry(List.of(new PinDriver()));

    @Test
    void eachDeviceIsPlacedAtItsAddrWiredAndClosedInReverse() {
        AttachedDevices devices = new AttachedDevices(space, bridge).provide(String.class, "pin ");
        AttachedDevices.Attached a = devices.attach(registry.parse("pin-dev,id=a,addr=06.0"));
        AttachedDevices.Attached b = devices.attach(registry.parse("pin-dev,id=b"));
        assertEquals(new PciDevFn(6, 0), a.at());
        assertEquals(new PciDevFn(1, 0), b.at(), "the first free slot");
        assertSame(a.function(), bridge.function(a.at()));
        assertEquals(0x56781234, bridge.configRead(a.at().devfn(), 0, 4), "its configuration space answers");
        // INTA# of slot 6 and of slot 1, swizzled onto the four lines from GSI 16: (slot + pin - 1) % 4.
        assertEquals(List.of("wire INTx to GSI 18"), ((TestFunction) a.function()).events);
        assertEquals(List.of("wire INTx to GSI 17"), ((TestFunction) b.function()).events);
        assertEquals(List.of(a, b), devices.attached());
        devices.close();
        assertEquals(List.of("open container", "open backend a", "open backend b", "close pin b", "close backend b",
                "close pin a", "close backend a", "close container"), log, "one container, closed last");
        assertTrue(devices.attached().isEmpty());
    }

    @Test
    void aDeviceThatCannotBePlacedHasWhatItOpenedClosedAtOnce() {
        try (AttachedDevices devices = new AttachedDevices(space, bridge).provide(String.class, "pin ")) {
            devices.attach(registry.parse("pin-dev,id=a,addr=05.0"));
            PciPlacementException e = assertThrows(PciPlacementException.class,
                    () -> devices.attach(registry.parse("pin-dev,id=b,addr=05.0")));
            assertTrue(e.getMessage().contains("not available for pin-dev, in use by pin-dev"), e.getMessage());
            assertEquals(List.of("open container", "open backend a", "open backend b", "close pin b",
                    "close backend b"), log, "b's back end and function closed; a and the container kept");
            assertEquals(1, devices.attached().size());
        }
        assertEquals("close container", log.get(log.size() - 1));
    }

    @Test
    void theFirstDeviceFailingClosesTheSharedResourceItMadeAndTheNextMakesANewOne() {
        try (AttachedDevices devices = new AttachedDevices(space, bridge)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> devices.attach(registry.parse("pin-dev,id=a")));
            assertEquals("this machine offers no String to its devices (the machine provides [])", e.getMessage());
            assertEquals(List.of("open container", "close container"), log);
            devices.provide(String.class, "pin ");
            devices.attach(registry.parse("pin-dev,id=a"));
            assertEquals("open container", log.get(2), "made again, not the closed one");
        }
    }
}
