package io.jvfio.vmm.pci;

/**
 * A base address register as a function decodes it: index 0-5, or {@link #ROM} for the expansion
 * ROM; its kind and size (a power of two). A 64-bit BAR takes index and index + 1.
 */
public record PciBar(int index, PciConfigSpace.BarType type, long size, boolean prefetchable) {

    public static final int ROM = 6;

    public PciBar {
        if (index < 0 || index > ROM || size <= 0 || Long.bitCount(size) != 1) {
            throw new IllegalArgumentException("BAR" + index + " of size " + size);
        }
    }

    public boolean isIo() {
        return type == PciConfigSpace.BarType.IO;
    }

    public boolean isRom() {
        return index == ROM;
    }

    /** The config-space offset of its (low) register. */
    public int registerOffset() {
        return isRom() ? PciRegs.PCI_ROM_ADDRESS : PciRegs.PCI_BASE_ADDRESS_0 + 4 * index;
    }

    /** "BAR0" ... "BAR5", "ROM". */
    public String name() {
        return isRom() ? "ROM" : "BAR" + index;
    }
}
