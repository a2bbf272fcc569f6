package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/**
 * {@code struct vfio_region_info_cap_type} (VFIO_REGION_INFO_CAP_TYPE): what a device-specific region
 * (index 9 and up) holds, as a type and subtype. Read in place from the region info buffer.
 */
public final class VfioRegionInfoCapType {

    public static final int HEADER = 0;
    public static final int TYPE = 8;
    public static final int SUBTYPE = 12;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_region_info_cap_type", SIZEOF)
            .nested("header", HEADER, VfioInfoCapHeader.LAYOUT)
            .field("type", TYPE, 4)
            .field("subtype", SUBTYPE, 4)
            .build();

    private VfioRegionInfoCapType() {
    }

    public static int type(ByteBuffer info, int at) {
        return info.getInt(at + TYPE);
    }

    public static int subtype(ByteBuffer info, int at) {
        return info.getInt(at + SUBTYPE);
    }
}
