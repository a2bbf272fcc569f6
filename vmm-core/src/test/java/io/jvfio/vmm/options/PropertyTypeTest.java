package io.jvfio.vmm.options;

import io.jvfio.vmm.pci.PciAddress;
import io.jvfio.vmm.pci.PciDevFn;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The value syntax of each property type and its error messages. */
class PropertyTypeTest {

    private static String error(Property p, String raw) {
        return assertThrows(OptionsException.class, () -> p.parse(raw)).getMessage();
    }

    @Test
    void booleansInEveryQemuSpelling() {
        Property p = Property.bool("multifunction", false, "");
        for (String t : List.of("on", "true", "yes")) {
            assertEquals(Boolean.TRUE, p.parse(t), t);
        }
        for (String f : List.of("off", "false", "no")) {
            assertEquals(Boolean.FALSE, p.parse(f), f);
        }
        assertEquals("Parameter 'multifunction' expects 'on' or 'off'", error(p, "maybe"));
    }

    @Test
    void integersInDecimalOrHexWithinBounds() {
        Property p = Property.uint16("x-pci-vendor-id", null, "");
        assertEquals(0x8086L, p.parse("0x8086"));
        assertEquals(0x8086L, p.parse("0X8086"));
        assertEquals(32902L, p.parse("32902"));
        assertEquals(10L, p.parse("010"), "a leading zero is still decimal, not octal");
        assertEquals("Parameter 'x-pci-vendor-id' expects an integer from 0 to 0xffff", error(p, "0x10000"));
        assertEquals("Parameter 'x-pci-vendor-id' expects an integer from 0 to 0xffff", error(p, "-1"));
        assertEquals("Parameter 'x-pci-vendor-id' expects an integer (decimal, or hexadecimal with 0x)",
                error(p, "intel"));
        Property timeout = Property.integer("x-msg-timeout", 1, 3_600_000, 5000L, "");
        assertEquals("Parameter 'x-msg-timeout' expects an integer from 1 to 3600000", error(timeout, "0"));
        assertEquals("uint16", p.typeName());
        assertEquals("uint32", Property.uint32("a", null, "").typeName());
    }

    @Test
    void sizesWithSuffixesFractionsAndADefaultUnit() {
        Property bytes = Property.size("size", 1, null, "");
        assertEquals(512L << 20, bytes.parse("512M"));
        assertEquals(512L << 20, bytes.parse("512m"));
        assertEquals(64L << 10, bytes.parse("64k"));
        assertEquals(2L << 40, bytes.parse("2T"));
        assertEquals(3L << 29, bytes.parse("1.5G"));
        assertEquals(4096L, bytes.parse("4096"));
        assertEquals(4096L, bytes.parse("0x1000"));
        assertEquals(100L, bytes.parse("100B"));
        Property megs = Property.size("size", 1 << 20, null, "");
        assertEquals(64L << 20, megs.parse("64"), "-m counts MiB without a suffix");
        assertEquals(1L << 30, megs.parse("1G"));
        assertEquals("Parameter 'size' expects a size: a number with an optional suffix B, K, M, G or T (e.g. 512M)",
                error(bytes, "lots"));
        assertEquals("Parameter 'size' expects a size: a number with an optional suffix B, K, M, G or T (e.g. 512M)",
                error(bytes, "12Q"));
        assertEquals("Parameter 'size' expects a size below 2^64", error(bytes, "16E"));
        assertEquals("Parameter 'size' expects a whole number of bytes, not 1.5B", error(bytes, "1.5B"));
        assertEquals("1G", bytes.format(1L << 30));
        assertEquals("1536M", bytes.format(3L << 29));
    }

    @Test
    void pciSlotFunction() {
        Property addr = Property.pciDevFn("addr", "");
        assertEquals(new PciDevFn(4, 0), addr.parse("04.0"));
        assertEquals(new PciDevFn(4, 0), addr.parse("4"));
        assertEquals(new PciDevFn(0x1f, 7), addr.parse("1f.7"));
        assertEquals(new PciDevFn(0x10, 0), addr.parse("0x10"));
        String expected = "Parameter 'addr' expects a PCI slot.function (e.g. addr=04.0: slot 00-1f, function 0-7, in hex)";
        assertEquals(expected, error(addr, "20.0"));
        assertEquals(expected, error(addr, "04.8"));
        assertEquals(expected, error(addr, "zz"));
        assertEquals(expected, error(addr, ""));
        assertEquals("04.0", addr.format(new PciDevFn(4, 0)));
    }

    @Test
    void pciHostAddress() {
        Property host = Property.pciHostAddress("host", "");
        assertEquals(new PciAddress(0, 1, 0, 0), host.parse("0000:01:00.0"));
        assertEquals(new PciAddress(0, 1, 0, 0), host.parse("01:00.0"));
        assertEquals(new PciAddress(0x10, 0xaf, 0x1f, 7), host.parse("10:af:1f.7"));
        String expected = "Parameter 'host' expects a PCI host address [DDDD:]BB:DD.F (e.g. host=0000:01:00.0, as lspci -D prints it)";
        assertEquals(expected, error(host, "01:20.0"));
        assertEquals(expected, error(host, "1:2:3:4.0"));
        assertEquals(expected, error(host, "0000:01:00"));
        assertEquals("0000:01:00.0", new PciAddress(0, 1, 0, 0).toString());
    }

    @Test
    void choices() {
        Property accel = Property.choice("accel", List.of("kvm", "none"), null, "");
        assertEquals("kvm", accel.parse("kvm"));
        assertEquals("Parameter 'accel' does not accept value 'tcg' (use kvm or none)", error(accel, "tcg"));
        assertEquals("kvm|none", accel.typeName());
    }
}
