package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * An array of {@code struct iommu_iova_range}, the inclusive ranges [start, last] that
 * IOMMU_IOAS_IOVA_RANGES fills in through its {@code allowed_iovas} pointer.
 */
public final class IommuIovaRange extends NativeStruct {

    public static final int START = 0;
    public static final int LAST = 8;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_iova_range", SIZEOF)
            .field("start", START, 8)
            .field("last", LAST, 8)
            .build();

    private final int count;

    /** Room for {@code count} ranges. */
    public IommuIovaRange(int count) {
        super(Math.max(1, count) * SIZEOF);
        this.count = count;
    }

    /** How many ranges this array holds. */
    public int count() {
        return count;
    }

    public long start(int i) {
        return u64(i * SIZEOF + START);
    }

    /** The last usable IOVA of range {@code i} (inclusive). */
    public long last(int i) {
        return u64(i * SIZEOF + LAST);
    }
}
