package io.jvfio.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * Where an x86 machine puts its RAM, as QEMU's pc machine does: from address 0 up to 3 GiB, and the
 * rest from 4 GiB, so that [3 GiB, 4 GiB) stays free for 32-bit PCI BARs, the IOAPIC and the local
 * APIC. Both regions are windows of one backend, which is why a DMA mapping carries an fd offset.
 */
public final class X86RamLayout {

    /** Guest RAM below 4 GiB ends here; the PCI hole starts here. */
    public static final long BELOW_4G_END = 3L << 30;
    /** RAM that does not fit below the hole continues here. */
    public static final long ABOVE_4G_START = 4L << 30;

    private X86RamLayout() {
    }

    /** Adds {@code ram} to {@code memory} as {@code ram-below-4g} and, if needed, {@code ram-above-4g}. */
    public static List<GuestRegion> install(GuestMemory memory, MemoryBackend ram) {
        List<GuestRegion> added = new ArrayList<>();
        long low = Math.min(ram.size(), BELOW_4G_END);
        added.add(memory.addRegion("ram-below-4g", 0, ram, 0, low, false));
        if (ram.size() > low) {
            try {
                added.add(memory.addRegion("ram-above-4g", ABOVE_4G_START, ram, low, ram.size() - low, false));
            } catch (RuntimeException e) {
                memory.removeRegion(added.get(0));
                throw e;
            }
        }
        return added;
    }

    /** The first guest physical address above RAM below 4 GiB: where 32-bit MMIO may start. */
    public static long pciHoleStart(long ramSize) {
        return Math.min(ramSize, BELOW_4G_END);
    }
}
