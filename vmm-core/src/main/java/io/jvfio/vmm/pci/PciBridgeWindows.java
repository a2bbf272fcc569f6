package io.jvfio.vmm.pci;

import io.jvfio.vmm.range.UnsignedRange;

import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_IO;
import static io.jvfio.vmm.pci.PciRegs.PCI_COMMAND_MEMORY;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_BASE_UPPER16;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_LIMIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_LIMIT_UPPER16;
import static io.jvfio.vmm.pci.PciRegs.PCI_IO_RANGE_TYPE_32;
import static io.jvfio.vmm.pci.PciRegs.PCI_MEMORY_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MEMORY_LIMIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_BASE_UPPER32;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_LIMIT_UPPER32;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_MEMORY_BASE;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_MEMORY_LIMIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_PREF_RANGE_TYPE_64;

/**
 * What a PCI-to-PCI bridge forwards downstream, from its type 1 header as the PCI-to-PCI Bridge
 * Architecture Specification (3.2.5) defines it: I/O in [I/O base, I/O limit] (4 KiB granules, 32-bit
 * with the upper 16 bits if the bridge says so) while its command register's I/O enable is on; memory
 * in the memory window or the prefetchable window (1 MiB granules; the prefetchable one 64-bit with its
 * upper 32 bits) while Memory Space enable is on. A window whose base is above its limit is closed.
 *
 * <p>Simplified: a BAR decodes only if it lies wholly in one window (a real bridge would forward the
 * part of it inside, which no sane placement does); the VGA and ISA enables of bridge control are
 * not modelled (no legacy VGA device sits behind a jvfio bridge).
 */
public final class PciBridgeWindows {

    private PciBridgeWindows() {
    }

    /** Whether {@code bridge} forwards all of {@code bar} placed at {@code address}. */
    public static boolean forwards(PciFunction bridge, PciBar bar, long address) {
        int command = bridge.readConfig(PCI_COMMAND, 2);
        if (bar.isIo()) {
            return (command & PCI_COMMAND_IO) != 0 && inside(io(bridge), address, bar.size());
        }
        return (command & PCI_COMMAND_MEMORY) != 0
                && (inside(memory(bridge), address, bar.size()) || inside(prefetchable(bridge), address, bar.size()));
    }

    /** The I/O window, {base, limit} (inclusive). */
    public static long[] io(PciFunction bridge) {
        int base = bridge.readConfig(PCI_IO_BASE, 1);
        int limit = bridge.readConfig(PCI_IO_LIMIT, 1);
        long b = (long) (base & 0xF0) << 8;
        long l = (long) (limit & 0xF0) << 8 | 0xFFF;
        if ((base & 0x0F) == PCI_IO_RANGE_TYPE_32) {
            b |= (long) (bridge.readConfig(PCI_IO_BASE_UPPER16, 2) & 0xFFFF) << 16;
            l |= (long) (bridge.readConfig(PCI_IO_LIMIT_UPPER16, 2) & 0xFFFF) << 16;
        }
        return new long[] {b, l};
    }

    /** The (non-prefetchable, 32-bit) memory window, {base, limit}. */
    public static long[] memory(PciFunction bridge) {
        long b = (long) (bridge.readConfig(PCI_MEMORY_BASE, 2) & 0xFFF0) << 16;
        long l = (long) (bridge.readConfig(PCI_MEMORY_LIMIT, 2) & 0xFFF0) << 16 | 0xFFFFF;
        return new long[] {b, l};
    }

    /** The prefetchable memory window, {base, limit}. */
    public static long[] prefetchable(PciFunction bridge) {
        int base = bridge.readConfig(PCI_PREF_MEMORY_BASE, 2);
        long b = (long) (base & 0xFFF0) << 16;
        long l = (long) (bridge.readConfig(PCI_PREF_MEMORY_LIMIT, 2) & 0xFFF0) << 16 | 0xFFFFF;
        if ((base & 0x0F) == PCI_PREF_RANGE_TYPE_64) {
            b |= Integer.toUnsignedLong(bridge.readConfig(PCI_PREF_BASE_UPPER32, 4)) << 32;
            l |= Integer.toUnsignedLong(bridge.readConfig(PCI_PREF_LIMIT_UPPER32, 4)) << 32;
        }
        return new long[] {b, l};
    }

    private static boolean inside(long[] window, long address, long size) {
        if (Long.compareUnsigned(window[0], window[1]) > 0 || !UnsignedRange.valid(address, size)) {
            return false;
        }
        return Long.compareUnsigned(address, window[0]) >= 0
                && Long.compareUnsigned(UnsignedRange.last(address, size), window[1]) <= 0;
    }
}
