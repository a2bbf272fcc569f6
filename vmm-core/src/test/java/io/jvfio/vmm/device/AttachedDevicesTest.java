package io.jvfio.vmm.device;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.pci.MsiSignal;
import io.jvfio.vmm.pcie.PcieHotplugHandler;
import io.jvfio.vmm.pcie.PcieRootPort;
import io.jvfio.vmm.pcie.PcieRootPortDriver;
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

import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_ATTN_IND_OFF;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTCTL_PWR_IND_ON;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA;
import static io.jvfio.vmm.pci.PciRegs.PCI_EXP_SLTSTA_PDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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

    /** The registry with vmm-core's root port beside the test's driver. */
    private final DeviceRegistry withPorts = new DeviceRegistry(List.of(new PinDriver(), new PcieRootPortDriver()));

    private String busError(AttachedDevices devices, String spec, boolean hot) {
        return assertThrows(OptionsException.class, () -> devices.attach(withPorts.parse(spec), hot)).getMessage();
    }

    /**
     * {@code bus=}: a device placed behind a port at start (the slot powered, no event), the errors QEMU
     * gives for a bus that is not there, a taken link, a slot other than 0, hotplugging onto
     * {@code pcie.0}; a device taken away by itself, with what it opened closed.
     */
    @Test
    void busPlacesADeviceBehindARootPortWithQemusErrors() {
        try (AttachedDevices devices = new AttachedDevices(space, bridge).provide(String.class, "pin ")
                .provide(MsiSignal.class, (a, d) -> log.add("msi"))
                .provide(PcieHotplugHandler.class, p -> log.add("powered off " + p))) {
            AttachedDevices.Attached rp1 = devices.attach(withPorts.parse("pcie-root-port,id=rp1,chassis=1,slot=2"));
            devices.attach(withPorts.parse("pcie-root-port,id=rp2,chassis=1,slot=3,bus=pcie.0"));
            assertEquals(new PciDevFn(1, 0), rp1.at());
            AttachedDevices.Attached a = devices.attach(withPorts.parse("pin-dev,id=a,bus=rp1"));
            assertEquals(new PciDevFn(0, 0), a.at());
            assertEquals(rp1.at(), a.upstream());
            assertSame(a.function(), bridge.behind(rp1.at()));
            assertEquals(List.of("wire INTx to GSI 17"), ((TestFunction) a.function()).events,
                    "INTA# of device 0 behind the port in slot 1: the port's own INTA# line");
            int exp = PcieRootPort.EXP_CAP;
            assertEquals(PCI_EXP_SLTCTL_PWR_IND_ON | PCI_EXP_SLTCTL_ATTN_IND_OFF,
                    rp1.function().readConfig(exp + PCI_EXP_SLTCTL, 2), "present at start: powered, no event");
            assertEquals(PCI_EXP_SLTSTA_PDS, rp1.function().readConfig(exp + PCI_EXP_SLTSTA, 2));
            log.clear();

            assertEquals("PCI: slot 0 function 0 not available for pin-dev, in use by pin-dev,id=a",
                    busError(devices, "pin-dev,id=b,bus=rp1", true));
            assertEquals("Bus 'nope' not found", busError(devices, "pin-dev,id=b,bus=nope", false));
            assertEquals("Bus 'a' not found", busError(devices, "pin-dev,id=b,bus=a", false));
            assertEquals("PCI: slot 1 is not valid for pin-dev, parent device only allows plugging into slot 0.",
                    busError(devices, "pin-dev,id=b,bus=rp2,addr=01.0", true));
            assertEquals("Bus 'pcie.0' does not support hotplugging (give bus= the id of a pcie-root-port)",
                    busError(devices, "pin-dev,id=b", true));
            assertEquals("Duplicate ID 'a' for device", busError(devices, "pin-dev,id=a,bus=rp2", true));
            assertEquals("pcie-root-port behind rp2: jvfio routes one level of bridges; put it on bus=pcie.0",
                    busError(devices, "pcie-root-port,id=rp3,bus=rp2", false));
            assertEquals(List.of(), log, "nothing was created by a rejected option");

            devices.attach(withPorts.parse("pin-dev,id=b,bus=rp2"), true);
            assertEquals(List.of("open backend b"), log, "hot-added; the guest has not enabled the port's MSI");
            log.clear();
            devices.detach(a);
            assertNull(bridge.behind(rp1.at()));
            assertNull(devices.find("a"));
            assertEquals(List.of("close pin a", "close backend a"), log, "a's resources closed when it went");
            log.clear();
        }
        assertEquals(List.of("close pin b", "close backend b", "close container"), log, "b's with the machine");
    }
}
