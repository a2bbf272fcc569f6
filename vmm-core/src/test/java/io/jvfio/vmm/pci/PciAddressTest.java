package io.jvfio.vmm.pci;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PciAddressTest {

    @Test
    void sysfsFormAndDevfn() {
        PciAddress a = PciAddress.tryParse("0000:00:1f.3");
        assertEquals(new PciAddress(0, 0, 0x1f, 3), a);
        assertEquals("0000:00:1f.3", a.toString());
        assertEquals(0xfb, a.devfn());
        assertNull(PciAddress.tryParse("00:1f"));
        assertNull(PciAddress.tryParse("0000:00:1f.8"));
        assertThrows(IllegalArgumentException.class, () -> new PciAddress(0, 256, 0, 0));
        assertTrue(new PciAddress(0, 1, 0, 0).compareTo(new PciAddress(0, 0, 0x1f, 7)) > 0);
    }

    @Test
    void guestSlotFunction() {
        assertEquals(new PciDevFn(3, 1), PciDevFn.tryParse("03.1"));
        assertEquals(0x19, new PciDevFn(3, 1).devfn());
        assertNull(PciDevFn.tryParse("3.1.1"));
    }
}
