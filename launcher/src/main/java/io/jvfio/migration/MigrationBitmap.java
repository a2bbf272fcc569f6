package io.jvfio.migration;

import io.jvfio.memory.GuestRegion;
import io.jvfio.vmm.migration.DirtyPages;

import java.util.BitSet;
import java.util.List;
import java.io.IOException;

/**
 * The guest pages still to send, one bit per 4 KiB page of each RAM region (QEMU's migration bitmap of
 * each RAMBlock): every dirty log reports into it; a round sends and clears what it holds. Pages
 * reported outside RAM (a device's DMA log may cover other memory) are not RAM's to send and are dropped.
 * Used by the migration's thread alone.
 */
final class MigrationBitmap implements DirtyPages {

    private final long[] starts;
    private final long[] sizes;
    private final BitSet[] bits;

    MigrationBitmap(List<GuestRegion> regions) {
        int n = regions.size();
        starts = new long[n];
        sizes = new long[n];
        bits = new BitSet[n];
        for (int i = 0; i < n; i++) {
            starts[i] = regions.get(i).start();
            sizes[i] = regions.get(i).size();
            bits[i] = new BitSet((int) (sizes[i] >>> StreamFormat.PAGE_SHIFT));
        }
    }

    /** Every page dirty: round 0, or all of RAM again when a writer is not logged. */
    void setAll() {
        for (int i = 0; i < bits.length; i++) {
            bits[i].set(0, (int) (sizes[i] >>> StreamFormat.PAGE_SHIFT));
        }
    }

    @Override
    public void dirty(long address, long length) {
        if (length <= 0) {
            return;
        }
        long end = address + length;
        for (int i = 0; i < bits.length; i++) {
            long from = Math.max(address, starts[i]);
            long to = Math.min(end, starts[i] + sizes[i]);
            if (from < to) {
                int first = (int) ((from - starts[i]) >>> StreamFormat.PAGE_SHIFT);
                int last = (int) ((to - starts[i] - 1) >>> StreamFormat.PAGE_SHIFT);
                bits[i].set(first, last + 1);
            }
        }
    }

    /** The number of dirty pages. */
    long pages() {
        long n = 0;
        for (BitSet b : bits) {
            n += b.cardinality();
        }
        return n;
    }

    /** Hands each dirty page's guest-physical address to {@code page}, in address order, clearing it first. */
    void drain(PageSink page) throws IOException {
        for (int i = 0; i < bits.length; i++) {
            BitSet b = bits[i];
            for (int p = b.nextSetBit(0); p >= 0; p = b.nextSetBit(p + 1)) {
                b.clear(p);
                page.page(starts[i] + ((long) p << StreamFormat.PAGE_SHIFT));
            }
        }
    }

    /** Where {@link #drain} hands the pages. */
    interface PageSink {
        void page(long gpa) throws IOException;
    }
}
