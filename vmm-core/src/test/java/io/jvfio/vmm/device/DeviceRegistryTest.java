package io.jvfio.vmm.device;

import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciAddress;
import io.jvfio.vmm.pci.PciDevFn;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code -device} parser. The drivers here are defined by the test: vmm-core cannot see the
 * real ones (they live in vfio-passthrough, which depends on vmm-core), and the parser's rules do
 * not depend on what a driver does.
 */
class DeviceRegistryTest {

    /** A driver with one property of each type and a cross-property rule. */
    static final class TestNic implements DeviceDriver {
        @Override
        public String name() {
            return "test-nic";
        }

        @Override
        public String description() {
            return "A network card defined by the test";
        }

        @Override
        public DeviceCategory category() {
            return DeviceCategory.NETWORK;
        }

        @Override
        public List<Property> properties() {
            List<Property> p = new ArrayList<>(PciDeviceProperties.ALL);
            p.add(Property.pciHostAddress("host", "Host device"));
            p.add(Property.string("mac", "MAC address"));
            p.add(Property.uint32("queues", 1L, "Queue pairs"));
            p.add(Property.size("bufsize", 1, 65536L, "Buffer size"));
            return p;
        }

        @Override
        public void validate(OptionValues values) {
            if (!values.has("host")) {
                throw new OptionsException("test-nic: No provided host device - Use -device test-nic,host=DDDD:BB:DD.F");
            }
        }

        @Override
        public io.jvfio.vmm.pci.PciFunction create(DeviceConfig config, MachineContext machine) {
            // The parser's tests never attach a device; AttachedDevicesTest attaches real ones.
            throw new UnsupportedOperationException("the parser test creates no devices");
        }
    }

    static final class TestBridge implements DeviceDriver {
        @Override
        public String name() {
            return "test-bridge";
        }

        @Override
        public String description() {
            return "A bridge";
        }

        @Override
        public DeviceCategory category() {
            return DeviceCategory.BRIDGE;
        }

        @Override
        public List<Property> properties() {
            return PciDeviceProperties.ALL;
        }

        @Override
        public io.jvfio.vmm.pci.PciFunction create(DeviceConfig config, MachineContext machine) {
            // The parser's tests never attach a device; AttachedDevicesTest attaches real ones.
            throw new UnsupportedOperationException("the parser test creates no devices");
        }
    }

    private final DeviceRegistry registry = new DeviceRegistry(List.of(new TestNic(), new TestBridge()));

    private String error(String spec) {
        return assertThrows(OptionsException.class, () -> registry.parse(spec)).getMessage();
    }

    @Test
    void aFullOptionIsTypedWithDefaults() {
        DeviceConfig c = registry.parse("test-nic,id=nic0,host=01:00.0,addr=04.0,multifunction=on,bufsize=1M");
        assertEquals("test-nic", c.driver().name());
        assertEquals("nic0", c.id());
        OptionValues v = c.properties();
        assertEquals(new PciAddress(0, 1, 0, 0), v.pciAddress("host"));
        assertEquals(new PciDevFn(4, 0), v.pciDevFn("addr"));
        assertTrue(v.bool("multifunction"));
        assertEquals(1L << 20, v.number("bufsize"));
        assertEquals(1L, v.number("queues"), "default");
        assertEquals(1L, v.number("rombar"), "default");
        assertFalse(v.isGiven("queues"));
        assertNull(v.string("mac"));
        assertEquals("test-nic,id=nic0,host=0000:01:00.0,addr=04.0,multifunction=on,bufsize=1M", c.toString());
    }

    @Test
    void aBareBooleanMeansOn() {
        assertTrue(registry.parse("test-nic,host=01:00.0,multifunction").properties().bool("multifunction"));
    }

    @Test
    void anUnknownPropertyIsNamedWithTheDriverAndASuggestion() {
        assertEquals("Property 'test-nic.hots' not found (did you mean 'host'? -device test-nic,help lists them)",
                error("test-nic,hots=1"));
        assertEquals("Property 'test-nic.colour' not found (-device test-nic,help lists them)",
                error("test-nic,host=01:00.0,colour=red"));
    }

    @Test
    void valueErrorsNameTheParameter() {
        assertEquals("Parameter 'addr' expects a PCI slot.function (e.g. addr=04.0: slot 00-1f, function 0-7, in hex)",
                error("test-nic,host=01:00.0,addr=zz"));
        assertEquals("Parameter 'multifunction' expects 'on' or 'off'",
                error("test-nic,host=01:00.0,multifunction=2"));
        assertEquals("Expected '=' after parameter 'host'", error("test-nic,host"));
        assertEquals("Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', starting with a letter)",
                error("test-nic,host=01:00.0,id=0bad"));
        assertEquals("Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', starting with a letter)",
                error("test-nic,host=01:00.0,id"));
    }

    @Test
    void unknownAndMissingDrivers() {
        assertEquals("'e1000' is not a valid device model name (-device help lists them)", error("e1000"));
        assertEquals("Parameter 'driver' is missing", error("host=01:00.0"));
        assertEquals("Parameter 'driver' is missing", error(""));
    }

    @Test
    void theDriverValidatesAcrossProperties() {
        assertEquals("test-nic: No provided host device - Use -device test-nic,host=DDDD:BB:DD.F", error("test-nic"));
    }

    @Test
    void helpListsDriversByCategoryAndPropertiesByName() {
        assertEquals("""
                Controller/Bridge/Hub devices:
                name "test-bridge", bus PCI, desc "A bridge"

                Network devices:
                name "test-nic", bus PCI, desc "A network card defined by the test"
                """, registry.help(OptionString.parse("help", "driver")));
        String nic = registry.help(OptionString.parse("test-nic,help", "driver"));
        assertTrue(nic.startsWith("test-nic options:\n  addr=<pci-devfn>"), nic);
        assertTrue(nic.contains("  host=<pci-host-address>   - Host device\n"), nic);
        assertTrue(nic.contains("  queues=<uint32>           - Queue pairs (default: 1)\n"), nic);
        assertTrue(nic.contains("  bufsize=<size>            - Buffer size (default: 64K)\n"), nic);
        assertNull(registry.help(OptionString.parse("test-nic", "driver")));
        assertEquals("'nope' is not a valid device model name (-device help lists them)",
                assertThrows(OptionsException.class, () -> registry.help(OptionString.parse("nope,help", "driver")))
                        .getMessage());
    }

    @Test
    void twoDriversWithOneNameAreRefused() {
        assertThrows(IllegalStateException.class, () -> new DeviceRegistry(List.of(new TestNic(), new TestNic())));
    }
}
