package io.jvfio.vfio.emulated.host;

import io.jvfio.vmm.migration.DirtyPages;
import io.jvfio.vmm.range.UnsignedRange;

import java.util.Iterator;
import java.util.List;
import java.util.NavigableSet;
import java.util.TreeSet;

/**
 * The device-side log of DMA writes (vfio-user VFIO_DEVICE_FEATURE_DMA_LOGGING_*): the pages of
 * {@code pageSize} that the device wrote through its {@link DeviceContext} since the last report,
 * within the ranges given at start (none given: every write). Reads are not logged (the spec: "Only
 * DMA writes are logged"). A report reads and clears, as the kernel's drivers do.
 */
public final class DmaDirtyLog {

    /** An IOVA range logged. */
    public record Range(long iova, long length) {
    }

    private final long pageSize;
    private final List<Range> ranges;
    /** Page numbers (address / pageSize) written since the last report; guarded by this. */
    private final NavigableSet<Long> dirty = new TreeSet<>();

    /** {@code pageSize} a power of two; {@code ranges} empty to log every write. */
    public DmaDirtyLog(long pageSize, List<Range> ranges) {
        if (Long.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("a DMA logging page size is a power of two, not " + pageSize);
        }
        this.pageSize = pageSize;
        this.ranges = List.copyOf(ranges);
    }

    public long pageSize() {
        return pageSize;
    }

    /** Whether {@code [iova, iova + length)} lies within the ranges logged. */
    public boolean covers(long iova, long length) {
        if (ranges.isEmpty()) {
            return true;
        }
        for (Range r : ranges) {
            if (UnsignedRange.within(r.iova(), r.length(), iova, length)) {
                return true;
            }
        }
        return false;
    }

    /** The device wrote {@code length} bytes at {@code address}. */
    public synchronized void written(long address, long length) {
        if (length <= 0) {
            return;
        }
        for (long p = Long.divideUnsigned(address, pageSize), last = Long.divideUnsigned(address + length - 1, pageSize);
             Long.compareUnsigned(p, last) <= 0; p++) {
            if (logged(p)) {
                dirty.add(p);
            }
        }
    }

    /** Whether the page overlaps a range logged (IOVAs below 2^63: ranges are checked so at start). */
    private boolean logged(long page) {
        if (ranges.isEmpty()) {
            return true;
        }
        long start = page * pageSize;
        long end = start + pageSize;
        for (Range r : ranges) {
            if (start < r.iova() + r.length() && r.iova() < end) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads and clears every page written, reporting each run of adjacent pages to {@code into} (a VMM's
     * own dirty log, {@link io.jvfio.vmm.migration.DirtyLog}, rather than a vfio-user bitmap).
     */
    public synchronized void drain(DirtyPages into) {
        long runStart = 0;
        long runPages = 0;
        for (long page : dirty) {
            if (runPages > 0 && page == runStart + runPages) {
                runPages++;
                continue;
            }
            if (runPages > 0) {
                into.dirty(runStart * pageSize, runPages * pageSize);
            }
            runStart = page;
            runPages = 1;
        }
        if (runPages > 0) {
            into.dirty(runStart * pageSize, runPages * pageSize);
        }
        dirty.clear();
    }

    /**
     * Reads and clears the pages written in {@code [iova, iova + length)} into {@code bitmap}, one bit
     * a page of {@code reportPageSize} (a power of two): bit i of word i / 64 for the page at
     * {@code iova + i * reportPageSize}, set if any byte of it was written.
     */
    public synchronized void report(long iova, long length, long reportPageSize, long[] bitmap) {
        long firstPage = Long.divideUnsigned(iova, pageSize);
        long lastPage = Long.divideUnsigned(iova + length - 1, pageSize);
        Iterator<Long> it = dirty.subSet(firstPage, true, lastPage, true).iterator();
        while (it.hasNext()) {
            long page = it.next();
            long start = Math.max(page * pageSize, iova);
            long end = Math.min(page * pageSize + pageSize, iova + length); // exclusive
            for (long bit = (start - iova) / reportPageSize; bit <= (end - 1 - iova) / reportPageSize; bit++) {
                bitmap[(int) (bit >>> 6)] |= 1L << (bit & 63);
            }
            it.remove();
        }
    }
}
