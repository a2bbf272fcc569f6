package io.jvfio.launcher.driver;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.pci.PciBar;
import io.jvfio.vmm.pci.PciDevFn;
import io.jvfio.vmm.pci.PciFunction;
import io.jvfio.vmm.pci.PciHostBridge;

/**
 * What a driver drives, and how it reaches it: guest RAM, the address space, the host bridge and,
 * optionally, the function to drive ({@code null}: the first edu-compatible one on the bus).
 */
public record DriverTarget(GuestMemory memory, AddressSpace space, PciHostBridge bridge, PciDevFn device) {

    /** Where the drivers place memory BARs: the bottom of the 32-bit PCI hole. */
    public static final long MMIO_WINDOW = 0xc000_0000L;
    /** Timed accesses per loop, and interrupts in the storm. */
    public static final int LOOPS = 1000;
    public static final int INTERRUPTS = 1000;

    /**
     * An address in a BAR of {@code devfn} that traps (each access an exit, forwarded to the device),
     * and one in a directly mapped BAR area, as the bridge and the address space say now; 0 for none.
     */
    public long[] trappedAndDirect(int devfn) {
        PciFunction f = bridge.function(new PciDevFn(devfn >>> 3, devfn & 7));
        long trapped = 0;
        long direct = 0;
        if (f == null) {
            return new long[] {0, 0};
        }
        for (PciBar bar : f.bars()) {
            long at = bridge.mappedAddress(new PciDevFn(devfn >>> 3, devfn & 7), bar.index());
            if (at == -1 || bar.isIo() || bar.isRom()) {
                continue;
            }
            boolean mapped = space.findDirect(at, 4) != null;
            if (!mapped && trapped == 0) {
                trapped = at;
            }
            if (mapped && direct == 0) {
                direct = at;
            }
        }
        return new long[] {trapped, direct};
    }
}
