package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

import java.nio.ByteBuffer;

/**
 * {@code struct vfio_info_cap_header}: the header of each capability in the chain that follows
 * device, region and IOMMU info. {@code next} is the offset of the next capability from the start of
 * the info struct; 0 ends the chain.
 */
public final class VfioInfoCapHeader {

    public static final int ID = 0;
    public static final int VERSION = 2;
    public static final int NEXT = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_info_cap_header", SIZEOF)
            .field("id", ID, 2)
            .field("version", VERSION, 2)
            .field("next", NEXT, 4)
            .build();

    private VfioInfoCapHeader() {
    }

    /** The capability id of the header at {@code at} in {@code info}. */
    public static int id(ByteBuffer info, int at) {
        return info.getShort(at + ID) & 0xffff;
    }

    public static int version(ByteBuffer info, int at) {
        return info.getShort(at + VERSION) & 0xffff;
    }

    /** The offset of the next capability from the start of {@code info}, or 0 for the last one. */
    public static int next(ByteBuffer info, int at) {
        return info.getInt(at + NEXT);
    }
}
