package io.jvfio.vmm.pci;

/**
 * Configuration writes to one function along the path the guest's take: through its bus, which
 * decodes the function's BARs after each write as the registers then say ({@link PciHostBridge}). What
 * a function is given when the bus places it ({@link PciFunction#placed}), so that registers loaded
 * other than by the guest (a migration's restore) still place its BARs, as QEMU's pci_update_mappings
 * does after loading a device's config space.
 */
@FunctionalInterface
public interface PciConfigCycles {

    /** A write of 1, 2 or 4 bytes at {@code offset}, naturally aligned, as a guest's configuration cycle. */
    void write(int offset, int size, int value);
}
