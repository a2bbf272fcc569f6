package com.example.hello;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciRegs;

import java.util.List;

/**
 * The hello device: vendor 0xabcd, device 0x1234, and one 4 KiB memory BAR whose every 32-bit read
 * returns the greeting, decoded on the machine's MMIO bus wherever the guest places it.
 */
final class HelloFunction implements PciFunction, AutoCloseable {

    static final int VENDOR = 0xabcd;
    static final int DEVICE = 0x1234;
    static final long BAR0_SIZE = 4096;

    private final String name;
    private final int greeting;
    private final AddressSpace space;
    private PciConfigSpace config = newConfig();
    private Bus.Registration bar0;

    HelloFunction(String id, int greeting, AddressSpace space) {
        this.name = "hello" + (id != null ? " (" + id + ")" : "");
        this.greeting = greeting;
        this.space = space;
    }

    private static PciConfigSpace newConfig() {
        return new PciConfigSpace(PciRegs.PCI_CFG_SPACE_SIZE).identity(VENDOR, DEVICE, 0x01, 0xff0000)
                .bar(0, BAR0_SIZE, PciConfigSpace.BarType.MEMORY32, false);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int configSize() {
        return PciRegs.PCI_CFG_SPACE_SIZE;
    }

    @Override
    public synchronized int readConfig(int offset, int size) {
        return (int) config.read(offset, size);
    }

    @Override
    public synchronized void writeConfig(int offset, int size, int value) {
        config.write(offset, size, Integer.toUnsignedLong(value));
    }

    @Override
    public List<PciBar> bars() {
        return List.of(new PciBar(0, PciConfigSpace.BarType.MEMORY32, BAR0_SIZE, false));
    }

    @Override
    public synchronized void mapBar(PciBar bar, long address) {
        bar0 = space.mmio().add(name + " BAR0", address, BAR0_SIZE, new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return size == 8 ? Integer.toUnsignedLong(greeting) * 0x1_0000_0001L
                        : Integer.toUnsignedLong(greeting) & (size == 4 ? 0xFFFF_FFFFL : (1L << (8 * size)) - 1);
            }

            @Override
            public void write(long offset, int size, long value) {
                // read-only
            }
        });
    }

    @Override
    public synchronized void unmapBar(PciBar bar) {
        if (bar0 != null) {
            space.mmio().remove(bar0);
            bar0 = null;
        }
    }

    @Override
    public synchronized void reset() {
        config = newConfig();
    }

    @Override
    public synchronized void close() {
        unmapBar(null);
    }
}
