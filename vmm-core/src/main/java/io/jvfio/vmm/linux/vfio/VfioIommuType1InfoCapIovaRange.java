package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/**
 * {@code struct vfio_iommu_type1_info_cap_iova_range} (capability VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
 * and its {@code struct vfio_iova_range} entries: the IOVA ranges a DMA mapping may use. Read in
 * place from the info buffer.
 */
public final class VfioIommuType1InfoCapIovaRange {

    public static final int HEADER = 0;
    public static final int NR_IOVAS = 8;
    public static final int RESERVED = 12;
    public static final int IOVA_RANGES = 16;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_iommu_type1_info_cap_iova_range", SIZEOF)
                    .nested("header", HEADER, VfioInfoCapHeader.LAYOUT)
                    .field("nr_iovas", NR_IOVAS, 4)
                    .field("reserved", RESERVED, 4)
                    .flexibleArray("iova_ranges", IOVA_RANGES, 16)
                    .build();

    /** {@code struct vfio_iova_range}: an inclusive range [start, end]. */
    public static final int RANGE_START = 0;
    public static final int RANGE_END = 8;
    public static final int RANGE_SIZEOF = 16;
    public static final StructLayout RANGE_LAYOUT = StructLayout.of("linux/vfio.h", "vfio_iova_range", RANGE_SIZEOF)
            .field("start", RANGE_START, 8)
            .field("end", RANGE_END, 8)
            .build();

    private VfioIommuType1InfoCapIovaRange() {
    }

    public static int nrIovas(ByteBuffer info, int at) {
        return info.getInt(at + NR_IOVAS);
    }

    public static long start(ByteBuffer info, int at, int i) {
        return info.getLong(at + IOVA_RANGES + i * RANGE_SIZEOF + RANGE_START);
    }

    /** The last valid IOVA of range {@code i} (inclusive). */
    public static long end(ByteBuffer info, int at, int i) {
        return info.getLong(at + IOVA_RANGES + i * RANGE_SIZEOF + RANGE_END);
    }
}
