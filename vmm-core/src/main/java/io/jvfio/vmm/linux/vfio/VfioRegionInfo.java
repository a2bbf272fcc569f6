package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_region_info}, the argument of VFIO_DEVICE_GET_REGION_INFO, with room after it for
 * the capability chain (sparse mmap areas, region type, MSI-X mappable). If the kernel needs more
 * room it says so in {@code argsz}.
 */
public final class VfioRegionInfo extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int INDEX = 8;
    public static final int CAP_OFFSET = 12;
    public static final int SIZE = 16;
    public static final int OFFSET = 24;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_region_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("index", INDEX, 4)
            .field("cap_offset", CAP_OFFSET, 4)
            .field("size", SIZE, 8)
            .field("offset", OFFSET, 8)
            .build();

    public VfioRegionInfo(int capacity) {
        super(Math.max(capacity, SIZEOF));
    }

    /** Prepares a query for region {@code index}, offering the whole mirror as room. */
    public VfioRegionInfo query(int index) {
        clear();
        putU32(ARGSZ, capacity());
        putU32(INDEX, index);
        return this;
    }

    /** After the call: the size the full answer needs, which may exceed this mirror's capacity. */
    public int argsz() {
        return u32(ARGSZ);
    }

    /** VFIO_REGION_INFO_FLAG_READ, _WRITE, _MMAP, _CAPS. */
    public int flags() {
        return u32(FLAGS);
    }

    public int index() {
        return u32(INDEX);
    }

    public int capOffset() {
        return u32(CAP_OFFSET);
    }

    /** The region's size in bytes; 0 for an unimplemented region (an absent BAR). */
    public long size() {
        return u64(SIZE);
    }

    /** Where the region starts in the device fd, for pread/pwrite/mmap. */
    public long offset() {
        return u64(OFFSET);
    }
}
