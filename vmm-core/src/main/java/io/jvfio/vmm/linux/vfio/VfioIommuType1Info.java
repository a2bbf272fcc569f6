package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_iommu_type1_info}, the argument of VFIO_IOMMU_GET_INFO, with room after it for
 * the capability chain (the IOVA ranges). When the room is too small the kernel sets {@code argsz}
 * to the size it needs and the caller asks again with a larger mirror.
 */
public final class VfioIommuType1Info extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int IOVA_PGSIZES = 8;
    public static final int CAP_OFFSET = 16;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_iommu_type1_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("iova_pgsizes", IOVA_PGSIZES, 8)
            .field("cap_offset", CAP_OFFSET, 4)
            .build();

    /** A mirror of {@code capacity} bytes (at least {@link #SIZEOF}), with argsz set to it. */
    public VfioIommuType1Info(int capacity) {
        super(Math.max(capacity, SIZEOF));
        argsz(capacity());
    }

    public int argsz() {
        return u32(ARGSZ);
    }

    public VfioIommuType1Info argsz(int value) {
        putU32(ARGSZ, value);
        return this;
    }

    /** VFIO_IOMMU_INFO_PGSIZES, VFIO_IOMMU_INFO_CAPS. */
    public int flags() {
        return u32(FLAGS);
    }

    /** Bitmap of the IOMMU page sizes: bit n set means 2^n-byte pages can be mapped. */
    public long iovaPgsizes() {
        return u64(IOVA_PGSIZES);
    }

    /** Offset of the first capability from the start of this struct, 0 if none. */
    public int capOffset() {
        return u32(CAP_OFFSET);
    }
}
