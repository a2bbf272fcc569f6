package io.jvfio.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * Where an x86 machine puts its RAM, as QEMU's pc machine does: from address 0 up to 3 GiB, and the
 * rest from 4 GiB, so that [3 GiB, 4 GiB) stays free for 32-bit PCI BARs, the IOAPIC and the local
 * APIC. A machine with a window of its own lower down (q35's ECAM at 0xB0000000) keeps RAM below it,
 * as q35 does ({@link #lowRamEnd}). Both regions are windows of one backend, which is why a DMA
 * mapping carries an fd offset.
 */
public final class X86RamLayout {

    /** Guest RAM below 4 GiB ends here; the PCI hole starts here. */
    public static final long BELOW_4G_END = 3L << 30;
    /** RAM that does not fit below the hole continues here. */
    public static final long ABOVE_4G_START = 4L << 30;
    private static final long GIB = 1L << 30;

    private X86RamLayout() {
    }

    /** Adds {@code ram} to {@code memory} as {@code ram-below-4g} and, if needed, {@code ram-above-4g}. */
    public static List<GuestRegion> install(GuestMemory memory, MemoryBackend ram) {
        return install(memory, ram, BELOW_4G_END);
    }

    /**
     * As {@link #install(GuestMemory, MemoryBackend)}, for a machine that keeps [{@code reserved},
     * 4 GiB) for itself: RAM below 4 GiB ends at {@link #lowRamEnd lowRamEnd(ram.size(), reserved)}.
     */
    public static List<GuestRegion> install(GuestMemory memory, MemoryBackend ram, long reserved) {
        List<GuestRegion> added = new ArrayList<>();
        long low = lowRamEnd(ram.size(), reserved);
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
        return lowRamEnd(ramSize, BELOW_4G_END);
    }

    /**
     * Where RAM below 4 GiB ends when the machine keeps [{@code reserved}, 4 GiB) for itself (and at
     * least [3 GiB, 4 GiB)): all of the RAM if it fits below, else the last GiB boundary at or below
     * the reserved start. QEMU's q35 splits so (at 2 GiB, its ECAM window being at 0xB0000000): a GiB
     * boundary lets 1 GiB huge pages back both parts, whose backend offsets must be huge-page aligned.
     */
    public static long lowRamEnd(long ramSize, long reserved) {
        long limit = Math.min(reserved, BELOW_4G_END);
        if (limit < GIB) {
            throw new IllegalArgumentException("RAM below 4 GiB cannot end below 1 GiB (reserved from 0x"
                    + Long.toHexString(reserved) + ")");
        }
        return ramSize <= limit ? ramSize : limit & -GIB;
    }
}
