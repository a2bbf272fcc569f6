package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/**
 * {@code struct vfio_region_info_cap_sparse_mmap} (VFIO_REGION_INFO_CAP_SPARSE_MMAP) and its
 * {@code struct vfio_region_sparse_mmap_area} entries: the parts of a region that may be mmap'd,
 * e.g. a BAR except the pages holding its MSI-X table. Read in place from the region info buffer.
 */
public final class VfioRegionInfoCapSparseMmap {

    public static final int HEADER = 0;
    public static final int NR_AREAS = 8;
    public static final int RESERVED = 12;
    public static final int AREAS = 16;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_region_info_cap_sparse_mmap", SIZEOF)
                    .nested("header", HEADER, VfioInfoCapHeader.LAYOUT)
                    .field("nr_areas", NR_AREAS, 4)
                    .field("reserved", RESERVED, 4)
                    .flexibleArray("areas", AREAS, 16)
                    .build();

    public static final int AREA_OFFSET = 0;
    public static final int AREA_SIZE = 8;
    public static final int AREA_SIZEOF = 16;
    public static final StructLayout AREA_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_region_sparse_mmap_area", AREA_SIZEOF)
                    .field("offset", AREA_OFFSET, 8)
                    .field("size", AREA_SIZE, 8)
                    .build();

    private VfioRegionInfoCapSparseMmap() {
    }

    public static int nrAreas(ByteBuffer info, int at) {
        return info.getInt(at + NR_AREAS);
    }

    /** The offset of area {@code i} within the region. */
    public static long areaOffset(ByteBuffer info, int at, int i) {
        return info.getLong(at + AREAS + i * AREA_SIZEOF + AREA_OFFSET);
    }

    public static long areaSize(ByteBuffer info, int at, int i) {
        return info.getLong(at + AREAS + i * AREA_SIZEOF + AREA_SIZE);
    }
}
