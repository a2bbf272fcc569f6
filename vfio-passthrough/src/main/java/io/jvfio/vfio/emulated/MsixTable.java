package io.jvfio.vfio.emulated;

import io.jvfio.vmm.range.UnsignedRange;

import java.util.function.IntPredicate;

import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_CTRL_MASKBIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_SIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_VECTOR_CTRL;

/**
 * A device's MSI-X table and PBA as memory in a BAR (PCI Local Bus spec, "MSI-X Table" and "Pending
 * Bit Array"): 16-byte entries of address, data and vector control, every vector masked at reset;
 * the PBA reads the pending bits from wherever interrupts are kept (for a vfio-user device, the
 * server's, set while a vector is masked).
 */
public final class MsixTable {

    private final int vectors;
    private final int tableOffset;
    private final int pbaOffset;
    private final byte[] table;
    private final IntPredicate pending;

    public MsixTable(int vectors, int tableOffset, int pbaOffset, IntPredicate pending) {
        this.vectors = vectors;
        this.tableOffset = tableOffset;
        this.pbaOffset = pbaOffset;
        this.table = new byte[vectors * PCI_MSIX_ENTRY_SIZE];
        this.pending = pending;
        reset();
    }

    public synchronized void reset() {
        java.util.Arrays.fill(table, (byte) 0);
        for (int v = 0; v < vectors; v++) {
            table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
        }
    }

    /** One byte of the BAR: a table byte, a PBA byte, or 0 for the space around them. */
    public synchronized int readByte(long offset) {
        if (UnsignedRange.contains(tableOffset, table.length, offset)) {
            return table[(int) (offset - tableOffset)] & 0xFF;
        }
        long pbaBytes = ((vectors + 63) / 64) * 8L;
        if (UnsignedRange.contains(pbaOffset, pbaBytes, offset)) {
            int first = (int) (offset - pbaOffset) * 8;
            int bits = 0;
            for (int i = 0; i < 8 && first + i < vectors; i++) {
                bits |= pending.test(first + i) ? 1 << i : 0;
            }
            return bits;
        }
        return 0;
    }

    /** One byte written: table bytes take it; the PBA is read-only. */
    public synchronized void writeByte(long offset, int value) {
        if (UnsignedRange.contains(tableOffset, table.length, offset)) {
            int at = (int) (offset - tableOffset);
            if (at % PCI_MSIX_ENTRY_SIZE >= PCI_MSIX_ENTRY_VECTOR_CTRL + 1) {
                return; // vector control bits 1-31 are reserved
            }
            table[at] = (byte) (at % PCI_MSIX_ENTRY_SIZE == PCI_MSIX_ENTRY_VECTOR_CTRL
                    ? value & PCI_MSIX_ENTRY_CTRL_MASKBIT : value);
        }
    }

    /** The table's bytes, for migration (the PBA is the interrupts' state, kept where they are). */
    public synchronized void save(io.netty.buffer.ByteBuf out) {
        out.writeBytes(table);
    }

    /** The table's bytes as {@link #save} wrote them. */
    public synchronized void load(io.netty.buffer.ByteBuf in) {
        in.readBytes(table);
    }
}
