package io.jvfio.vmm.pci;

import org.junit.jupiter.api.Test;

import static io.jvfio.vmm.pci.PciRegs.PCI_BASE_ADDRESS_0;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAPABILITY_LIST;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSI;
import static io.jvfio.vmm.pci.PciRegs.PCI_CAP_ID_MSIX;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSI_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_STATUS;
import static io.jvfio.vmm.pci.PciRegs.PCI_VENDOR_ID;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PciConfigSpaceTest {

    private static PciConfigSpace edu() {
        PciConfigSpace c = new PciConfigSpace(256).identity(0x1234, 0x11e8, 0x10, 0x00ff00);
        c.bar(0, 1 << 20, PciConfigSpace.BarType.MEMORY32, false);
        c.bar(2, 1L << 33, PciConfigSpace.BarType.MEMORY64, true);
        c.bar(4, 32, PciConfigSpace.BarType.IO, false);
        c.rom(64 << 10);
        return c;
    }

    @Test
    void identityIsReadOnly() {
        PciConfigSpace c = edu();
        assertEquals(0x11e81234L, c.read(PCI_VENDOR_ID, 4));
        c.write(PCI_VENDOR_ID, 4, 0);
        assertEquals(0x11e81234L, c.read(PCI_VENDOR_ID, 4));
        assertEquals(0x00ff0010L, c.read(0x08, 4));
    }

    @Test
    void barSizingByAllOnesReturnsTheSizeMask() {
        PciConfigSpace c = edu();
        c.write(PCI_BASE_ADDRESS_0, 4, 0xFFFFFFFFL);
        assertEquals(0xFFF00000L, c.read(PCI_BASE_ADDRESS_0, 4), "1 MiB, 32-bit memory");
        c.write(PCI_BASE_ADDRESS_0 + 8, 4, 0xFFFFFFFFL);
        c.write(PCI_BASE_ADDRESS_0 + 12, 4, 0xFFFFFFFFL);
        assertEquals(0x0000000CL, c.read(PCI_BASE_ADDRESS_0 + 8, 4), "8 GiB: no low address bits, 64-bit prefetchable");
        assertEquals(0xFFFFFFFEL, c.read(PCI_BASE_ADDRESS_0 + 12, 4));
        c.write(PCI_BASE_ADDRESS_0 + 16, 4, 0xFFFFFFFFL);
        assertEquals(0xFFFFFFE1L, c.read(PCI_BASE_ADDRESS_0 + 16, 4), "32 bytes of I/O");
        c.write(0x30, 4, 0xFFFFFFFFL);
        assertEquals(0xFFFF0001L, c.read(0x30, 4), "64 KiB ROM, enable bit writable");
        c.write(PCI_BASE_ADDRESS_0, 4, 0xFE000000L);
        assertEquals(0xFE000000L, c.barAddress(0));
        c.write(PCI_BASE_ADDRESS_0 + 8, 4, 0x00000000L);
        c.write(PCI_BASE_ADDRESS_0 + 12, 4, 0x00000004L);
        assertEquals(0x4_0000_0000L, c.barAddress(2));
        assertEquals(0L, c.read(PCI_BASE_ADDRESS_0 + 4, 4), "BAR1 is not implemented: reads 0, ignores writes");
    }

    @Test
    void capabilitiesAreLinkedAndTheirControlBitsWritable() {
        PciConfigSpace c = edu();
        int msi = c.addMsi(true, true, 0);
        int msix = c.addMsix(8, 1, 0, 1, 0x800);
        assertEquals(0x10, c.read(PCI_STATUS, 2) & 0x10, "capability list bit");
        assertEquals(msi, c.read(PCI_CAPABILITY_LIST, 1));
        assertEquals(msix, c.read(msi + 1, 1));
        assertEquals(msi, c.findCapability(PCI_CAP_ID_MSI));
        assertEquals(msix, c.findCapability(PCI_CAP_ID_MSIX));
        c.write(msi + PCI_MSI_FLAGS, 2, 0xFFFF);
        assertEquals(0x01F1, c.read(msi + PCI_MSI_FLAGS, 2), "enable and MME writable, 64-bit and maskable fixed");
        c.write(msix + PCI_MSIX_FLAGS, 2, 0xFFFF);
        assertEquals(0xC007, c.read(msix + PCI_MSIX_FLAGS, 2), "enable and function mask writable, size 8");
        assertEquals(0x1, c.read(msix + 4, 4), "table in BAR1 at 0");
        assertEquals(0x801, c.read(msix + 8, 4), "PBA in BAR1 at 0x800");
    }

    @Test
    void commandBitsAndWriteOneToClearStatus() {
        PciConfigSpace c = edu();
        c.write(PCI_COMMAND, 2, 0xFFFF);
        assertEquals(0x0547, c.read(PCI_COMMAND, 2));
        c.set(PCI_STATUS, 2, 0x2000 | 0x10);
        c.write(PCI_STATUS, 2, 0x2000);
        assertEquals(0x10, c.read(PCI_STATUS, 2), "master abort cleared by writing 1");
        assertThrows(IllegalArgumentException.class, () -> c.read(254, 4));
        assertThrows(IllegalArgumentException.class, () -> c.bar(0, 100, PciConfigSpace.BarType.MEMORY32, false));
    }
}
