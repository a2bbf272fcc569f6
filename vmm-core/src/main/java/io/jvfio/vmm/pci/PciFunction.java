package io.jvfio.vmm.pci;

import java.util.List;

/**
 * A PCI function as the guest sees it through the host bridge: its configuration space, and the
 * BARs it decodes. The bridge tells it where the guest has placed each BAR (and whether decode is
 * on), and the function makes its regions appear there; it must not assume the guest's placement
 * is sensible (a BAR may be moved, overlap RAM, or be switched off and on again at any time).
 */
public interface PciFunction {

    /** For messages: the driver and what it passes through, e.g. {@code vfio-pci 0000:01:00.0}. */
    String name();

    /** 256 for conventional PCI, 4096 with PCI Express extended configuration space. */
    int configSize();

    /** A read of 1, 2 or 4 bytes at {@code offset}, naturally aligned. */
    int readConfig(int offset, int size);

    /** A write of 1, 2 or 4 bytes at {@code offset}, naturally aligned. */
    void writeConfig(int offset, int size, int value);

    /** The BARs and the ROM BAR it decodes. */
    List<PciBar> bars();

    /** The guest enabled decode of {@code bar} at {@code address}: make its region appear there. */
    void mapBar(PciBar bar, long address);

    /** The guest moved {@code bar} away or turned decode off: the region disappears. */
    void unmapBar(PciBar bar);

    /** A PCI reset of the function (VM reset): back to its power-on state. */
    void reset();

    /**
     * The board wired the function's interrupt pin (its interrupt pin register, 1-4) to interrupt
     * line {@code gsi} (an IOAPIC input, {@link PciIntxRouting}); called once it is placed, before the
     * guest runs. A function that raises INTx overrides this to know its line and report it in the
     * interrupt line register, as a BIOS would; the default ignores it.
     */
    default void wireIntx(int gsi) {
    }

    /**
     * The bus placed the function: {@code cycles} reaches it as the guest's configuration writes do,
     * the bus decoding its BARs after each. A function whose registers are loaded other than by the
     * guest (a migration's restore) writes them through it, so its BARs decode where the registers
     * say; it must not hold a lock its own {@link #writeConfig} takes while it does (the bus takes its
     * own lock first). The default ignores it.
     */
    default void placed(PciConfigCycles cycles) {
    }
}
