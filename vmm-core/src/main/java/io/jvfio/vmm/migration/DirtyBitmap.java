package io.jvfio.vmm.migration;

import java.nio.LongBuffer;

/**
 * A dirty bitmap as the kernel and vfio-user report one (KVM_GET_DIRTY_LOG, VFIO_IOMMU_DIRTY_PAGES,
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT): bit i of word i / 64 set when page i of a range was written.
 * Told to a {@link DirtyPages} as runs of consecutive dirty pages, one call a run, so a range written
 * whole costs one call, not one a page.
 */
public final class DirtyBitmap {

    private DirtyBitmap() {
    }

    /**
     * Reports the dirty pages of {@code bitmap} for the range at {@code base} of {@code length} bytes
     * in pages of {@code pageSize}; bits past the range's last page are ignored.
     */
    public static void report(long[] bitmap, long base, long length, long pageSize, DirtyPages into) {
        report(LongBuffer.wrap(bitmap), base, length, pageSize, into);
    }

    /**
     * {@link #report(long[], long, long, long, DirtyPages)} over a bitmap in a buffer (a kernel-written one
     * in native memory: KVM_GET_DIRTY_LOG's), read by absolute index: allocates nothing. A clean word and
     * a dirty one are taken whole.
     */
    public static void report(LongBuffer bitmap, long base, long length, long pageSize, DirtyPages into) {
        long pages = (length + pageSize - 1) / pageSize;
        int words = (int) ((pages + 63) / 64);
        long runStart = -1;
        for (int w = 0; w < words; w++) {
            long word = bitmap.get(w);
            long first = (long) w * 64;
            if (word == 0 || word == -1L) {
                if (word == 0 && runStart >= 0) {
                    into.dirty(base + runStart * pageSize, (first - runStart) * pageSize);
                    runStart = -1;
                } else if (word == -1L && runStart < 0) {
                    runStart = first;
                }
                continue;
            }
            for (int b = 0; b < 64; b++) {
                boolean dirty = (word >>> b & 1) != 0;
                if (dirty && runStart < 0) {
                    runStart = first + b;
                } else if (!dirty && runStart >= 0) {
                    into.dirty(base + runStart * pageSize, (first + b - runStart) * pageSize);
                    runStart = -1;
                }
            }
        }
        if (runStart >= 0 && runStart < pages) {
            // A run to the range's end stops at its last page, whatever the word's spare bits say.
            into.dirty(base + runStart * pageSize, (pages - runStart) * pageSize);
        }
    }
}
