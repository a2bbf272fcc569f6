package io.jvfio.vmm.bus;

/**
 * What answers guest accesses to a range of an address space (MMIO or port I/O): a device's
 * registers, a trapped BAR, the PCI configuration ports. Offsets are relative to the start of the
 * range; values are little-endian, 1, 2, 4 or 8 bytes. Called on vCPU threads: answer without
 * allocating.
 */
public interface BusDevice {

    long read(long offset, int size);

    void write(long offset, int size, long value);
}
