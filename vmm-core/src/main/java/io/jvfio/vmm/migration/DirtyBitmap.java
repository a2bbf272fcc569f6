package io.jvfio.vmm.migration;

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
        long pages = (length + pageSize - 1) / pageSize;
        long runStart = -1;
        for (long page = 0; page < pages; page++) {
            boolean dirty = (bitmap[(int) (page >>> 6)] >>> (page & 63) & 1) != 0;
            if (dirty && runStart < 0) {
                runStart = page;
            } else if (!dirty && runStart >= 0) {
                into.dirty(base + runStart * pageSize, (page - runStart) * pageSize);
                runStart = -1;
            }
            if (!dirty && (page & 63) == 0 && bitmap[(int) (page >>> 6)] == 0) {
                page += 63; // a clean word: skip its pages at once
            }
        }
        if (runStart >= 0) {
            into.dirty(base + runStart * pageSize, (pages - runStart) * pageSize);
        }
    }
}
