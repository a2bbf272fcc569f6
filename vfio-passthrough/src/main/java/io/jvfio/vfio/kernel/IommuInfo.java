package io.jvfio.vfio.kernel;

import io.jvfio.vmm.range.UnsignedRange;

import java.util.List;

/**
 * What the container's IOMMU (VFIO_IOMMU_GET_INFO) allows: the page sizes it maps ({@code pgsizes},
 * bit n for 2^n bytes) and the IOVA ranges a mapping may use (others are reserved, such as the MSI
 * window at 0xfee00000).
 */
public record IommuInfo(long pageSizes, List<IovaRange> ranges) {

    /** An inclusive range of usable IOVAs. */
    public record IovaRange(long start, long end) {
        public boolean contains(long iova, long size) {
            return UnsignedRange.valid(iova, size) && Long.compareUnsigned(iova, start) >= 0
                    && Long.compareUnsigned(UnsignedRange.last(iova, size), end) <= 0;
        }

        @Override
        public String toString() {
            return "[0x" + Long.toHexString(start) + "-0x" + Long.toHexString(end) + "]";
        }
    }

    public IommuInfo {
        ranges = List.copyOf(ranges);
    }

    /** The smallest page size the IOMMU maps. */
    public long minPageSize() {
        return Long.lowestOneBit(pageSizes);
    }

    /** True if [iova, iova + size) lies in one usable range (or the kernel reported none). */
    public boolean usable(long iova, long size) {
        return ranges.isEmpty() || ranges.stream().anyMatch(r -> r.contains(iova, size));
    }
}
