package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.pci.PciConfigCycles;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.BitSet;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_CTRL_MASKBIT;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_DATA;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_LOWER_ADDR;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_SIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_UPPER_ADDR;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_ENTRY_VECTOR_CTRL;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_ENABLE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_MASKALL;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_FLAGS_QSIZE;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_PBA_BIR;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_PBA_OFFSET;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_TABLE_BIR;
import static io.jvfio.vmm.pci.PciRegs.PCI_MSIX_TABLE_OFFSET;

/**
 * MSI-X of a passed-through function (PCI Local Bus spec 6.8.2). The control word is emulated; the
 * table and the PBA are emulated here and trapped in their BAR (only their pages: the rest of the
 * BAR is mapped), so the guest's messages go into routes, never into the device's table. A vector
 * gets an eventfd (VFIO_DEVICE_SET_IRQS) and a route when the guest first unmasks it, as QEMU's
 * vfio_msix_vector_use does, so the host allocates only the vectors the guest uses: alone where the
 * device's MSI-X lacks VFIO_IRQ_INFO_NORESIZE, else by enabling the index again with more vectors.
 * Once in use, a vector's mask bit, or the function mask, holds its interrupts as pending in the
 * route, which the emulated PBA shows, and unmasking delivers them once.
 */
final class MsixInterrupts {

    private static final Logger LOG = LoggerFactory.getLogger(MsixInterrupts.class);

    private final String name;
    private final int cap;
    private final int vectors;
    private final int tableBar;
    private final long tableOffset;
    private final int pbaBar;
    private final long pbaOffset;
    private final ConfigOverlay overlay;
    private final VfioBackend backend;
    private final InterruptRouter router;
    private final boolean bypassAllowed;
    private final boolean resizable;
    private final byte[] table;
    private InterruptVectors routes;
    private boolean functionMasked;
    /**
     * Interrupts a mask held pending on a migration's source, for vectors that have no route here yet
     * (a vector gets one when the guest first unmasks it): shown in the PBA, and handed to the route
     * when it exists ({@link #handOverCarried}). Guarded by this.
     */
    private final BitSet carried = new BitSet();

    MsixInterrupts(String name, int cap, int physicalFlags, int tableRegister, int pbaRegister, ConfigOverlay overlay,
                   VfioBackend backend, InterruptRouter router, boolean bypassAllowed) {
        this.bypassAllowed = bypassAllowed;
        this.name = name;
        this.cap = cap;
        this.vectors = (physicalFlags & PCI_MSIX_FLAGS_QSIZE) + 1;
        this.tableBar = tableRegister & PCI_MSIX_TABLE_BIR;
        this.tableOffset = Integer.toUnsignedLong(tableRegister & PCI_MSIX_TABLE_OFFSET);
        this.pbaBar = pbaRegister & PCI_MSIX_PBA_BIR;
        this.pbaOffset = Integer.toUnsignedLong(pbaRegister & PCI_MSIX_PBA_OFFSET);
        this.overlay = overlay;
        this.backend = backend;
        this.router = router;
        this.resizable = !backend.irq(VFIO_PCI_MSIX_IRQ_INDEX).noResize();
        this.table = new byte[vectors * PCI_MSIX_ENTRY_SIZE];
        resetTable();
    }

    int vectors() {
        return vectors;
    }

    int tableBar() {
        return tableBar;
    }

    long tableOffset() {
        return tableOffset;
    }

    long tableSize() {
        return (long) vectors * PCI_MSIX_ENTRY_SIZE;
    }

    int pbaBar() {
        return pbaBar;
    }

    long pbaOffset() {
        return pbaOffset;
    }

    long pbaSize() {
        return (vectors + 63) / 64 * 8L;
    }

    /** Emulates the control word: enable and function mask writable, the table size the device's. */
    void emulate(int physicalFlags) {
        overlay.emulate(cap + PCI_MSIX_FLAGS, 2, 0xFFFF, physicalFlags & PCI_MSIX_FLAGS_QSIZE,
                PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
    }

    boolean coversControl(int offset, int size) {
        return UnsignedRange.overlaps(offset, size, cap + PCI_MSIX_FLAGS, 2);
    }

    boolean enabled() {
        return routes != null;
    }

    boolean requested() {
        return (overlay.emulated(cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE) != 0;
    }

    /** The guest wrote the control word: enable, disable, or change the function mask. */
    synchronized void controlWritten(Runnable beforeEnable) {
        int f = (int) overlay.emulated(cap + PCI_MSIX_FLAGS, 2);
        functionMasked = (f & PCI_MSIX_FLAGS_MASKALL) != 0;
        if ((f & PCI_MSIX_FLAGS_ENABLE) == 0) {
            disable();
            return;
        }
        if (routes == null) {
            beforeEnable.run();
            InterruptVectors fresh = InterruptVectors.onDemand(name, RouteKind.MSIX, vectors, router, bypassAllowed,
                    backend, VFIO_PCI_MSIX_IRQ_INDEX, resizable);
            fresh.use(unmaskedVectors(), this::message, this::masked); // the device's MSI-X on, with what is unmasked
            routes = fresh;
            handOverCarried();
        } else {
            for (int v = 0; v < vectors; v++) {
                applyMask(v);
            }
            useUnmasked(0, vectors - 1);
        }
    }

    private boolean masked(int v) {
        return functionMasked || entryMasked(v);
    }

    /** The vectors the guest has unmasked, in use or not. */
    private BitSet unmaskedVectors() {
        BitSet unmasked = new BitSet(vectors);
        for (int v = 0; v < vectors; v++) {
            if (!masked(v)) {
                unmasked.set(v);
            }
        }
        return unmasked;
    }

    /**
     * Vectors the guest unmasked that are not in use yet join; {@code first} .. {@code last} are the ones
     * that may have changed. Checked first without allocating: most table writes change a vector
     * already in use.
     */
    private void useUnmasked(int first, int last) {
        boolean any = false;
        for (int v = first; v <= last && !any; v++) {
            any = !masked(v) && routes.route(v) == null;
        }
        if (!any) {
            return;
        }
        try {
            routes.use(unmaskedVectors(), this::message, this::masked);
            handOverCarried();
        } catch (RuntimeException e) {
            // A table write cannot fail back to the guest; the vector stays silent, as in QEMU's error_report.
            LOG.warn("{}: the device refused MSI-X vectors the guest unmasked: {}", name, e.getMessage());
        }
    }

    private void applyMask(int v) {
        InterruptRoute r = routes.route(v);
        if (r == null) {
            return; // not in use: it joins when unmasked
        }
        if (masked(v)) {
            r.mask();
        } else if (r.masked()) {
            r.unmask();
        }
    }

    // ---- the table and the PBA, as the BAR traps them ----

    boolean inTable(int bar, long offset, int size) {
        return bar == tableBar && UnsignedRange.within(tableOffset, tableSize(), offset, size);
    }

    boolean inPba(int bar, long offset, int size) {
        return bar == pbaBar && UnsignedRange.within(pbaOffset, pbaSize(), offset, size);
    }

    synchronized long readTable(long offset, int size) {
        int at = (int) (offset - tableOffset);
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) (table[at + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    /** A guest write to the table: the entry changes, and with it its route's message and mask. */
    synchronized void writeTable(long offset, int size, long value) {
        int at = (int) (offset - tableOffset);
        for (int i = 0; i < size; i++) {
            int pos = at + i;
            int field = pos % PCI_MSIX_ENTRY_SIZE;
            byte b = (byte) (value >>> (8 * i));
            if (field >= PCI_MSIX_ENTRY_VECTOR_CTRL) {
                b = field == PCI_MSIX_ENTRY_VECTOR_CTRL ? (byte) (b & PCI_MSIX_ENTRY_CTRL_MASKBIT) : 0; // reserved
            }
            table[pos] = b;
        }
        if (routes == null) {
            return;
        }
        int first = at / PCI_MSIX_ENTRY_SIZE;
        int last = (at + size - 1) / PCI_MSIX_ENTRY_SIZE;
        for (int v = first; v <= last; v++) {
            InterruptRoute r = routes.route(v);
            if (r != null) {
                MsiMessage m = message(v);
                if (!m.equals(r.message())) {
                    r.program(m);
                }
                applyMask(v);
            }
        }
        useUnmasked(first, last);
    }

    /** The PBA: bit v set while vector v has an interrupt held by its mask. */
    synchronized long readPba(long offset, int size) {
        int at = (int) (offset - pbaOffset);
        long v = 0;
        for (int i = 0; i < size; i++) {
            int bits = 0;
            for (int b = 0; b < 8; b++) {
                int vector = (at + i) * 8 + b;
                InterruptRoute r = routes != null && vector < vectors ? routes.route(vector) : null;
                if (r != null && r.pending() || carried.get(vector)) {
                    bits |= 1 << b;
                }
            }
            v |= (long) bits << (8 * i);
        }
        return v;
    }

    private MsiMessage message(int v) {
        int e = v * PCI_MSIX_ENTRY_SIZE;
        long address = Integer.toUnsignedLong(getInt(e + PCI_MSIX_ENTRY_LOWER_ADDR))
                | Integer.toUnsignedLong(getInt(e + PCI_MSIX_ENTRY_UPPER_ADDR)) << 32;
        return new MsiMessage(address, getInt(e + PCI_MSIX_ENTRY_DATA));
    }

    private boolean entryMasked(int v) {
        return (table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL] & PCI_MSIX_ENTRY_CTRL_MASKBIT) != 0;
    }

    private int getInt(int at) {
        return (table[at] & 0xFF) | (table[at + 1] & 0xFF) << 8 | (table[at + 2] & 0xFF) << 16
                | (table[at + 3] & 0xFF) << 24;
    }

    /** Every vector masked, as the spec's reset state has them. */
    synchronized void resetTable() {
        carried.clear();
        Arrays.fill(table, (byte) 0);
        for (int v = 0; v < vectors; v++) {
            table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
        }
    }

    synchronized void disable() {
        carried.clear(); // MSI-X off: what it held is gone, as the routes' pending bits are
        if (routes == null) {
            return;
        }
        try {
            backend.disableIrq(VFIO_PCI_MSIX_IRQ_INDEX);
        } finally {
            routes.release();
            routes = null;
        }
    }

    synchronized InterruptRoute[] routes() {
        return routes == null ? new InterruptRoute[0] : routes.routes();
    }

    // ---- migration ----

    /**
     * The guest's MSI-X state as a migration carries it: the control word (enable, function mask), the
     * table (messages and per-vector mask bits) and the PBA (vectors whose interrupt a mask holds).
     */
    record State(int control, byte[] table, long[] pending) {
    }

    synchronized State state() {
        BitSet pending = (BitSet) carried.clone();
        for (int v = 0; routes != null && v < vectors; v++) {
            InterruptRoute r = routes.route(v);
            if (r != null && r.pending()) {
                pending.set(v);
            }
        }
        return new State((int) overlay.emulated(cap + PCI_MSIX_FLAGS, 2), table.clone(), pending.toLongArray());
    }

    /** Writes {@code s}'s table entries as the guest's BAR writes would, dword by dword. */
    void writeTable(State s) {
        for (int at = 0; at < s.table().length; at += 4) {
            int value = (s.table()[at] & 0xFF) | (s.table()[at + 1] & 0xFF) << 8 | (s.table()[at + 2] & 0xFF) << 16
                    | (s.table()[at + 3] & 0xFF) << 24;
            writeTable(tableOffset + at, 4, Integer.toUnsignedLong(value));
        }
    }

    /** Writes {@code s}'s control word as the guest would: MSI-X on, and its function mask, if they were. */
    void writeControl(State s, PciConfigCycles guest) {
        guest.write(cap + PCI_MSIX_FLAGS, 2, s.control());
    }

    /** The interrupts {@code s}'s PBA holds: carried until their vectors have routes, then handed over. */
    synchronized void carryPending(State s) {
        carried.clear();
        carried.or(BitSet.valueOf(s.pending()));
        carried.clear(vectors, Math.max(vectors, carried.length()));
        if (routes != null) {
            handOverCarried();
        }
    }

    /**
     * Each carried interrupt whose vector has a route now is signalled on the vector's eventfd, as the
     * device signalled it there on the source: a masked route holds it pending, an unmasked one delivers
     * it. Caller holds this lock.
     */
    private void handOverCarried() {
        for (int v = carried.nextSetBit(0); v >= 0; v = carried.nextSetBit(v + 1)) {
            InterruptRoute r = routes.route(v);
            if (r != null) {
                carried.clear(v);
                r.trigger().signal();
            }
        }
    }
}
