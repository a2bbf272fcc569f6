package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct iommu_ioas_map}, the argument of IOMMU_IOAS_MAP. */
public final class IommuIoasMap extends NativeStruct {

    public static final int SIZE = 0;
    public static final int FLAGS = 4;
    public static final int IOAS_ID = 8;
    public static final int RESERVED = 12;
    public static final int USER_VA = 16;
    public static final int LENGTH = 24;
    public static final int IOVA = 32;
    public static final int SIZEOF = 40;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_ioas_map", SIZEOF)
            .field("size", SIZE, 4)
            .field("flags", FLAGS, 4)
            .field("ioas_id", IOAS_ID, 4)
            .field("__reserved", RESERVED, 4)
            .field("user_va", USER_VA, 8)
            .field("length", LENGTH, 8)
            .field("iova", IOVA, 8)
            .build();

    public IommuIoasMap() {
        super(SIZEOF);
    }

    /** Fills in one mapping: {@code length} bytes at process address {@code userVa} seen by devices at {@code iova}. */
    public IommuIoasMap set(int ioasId, int flags, long userVa, long length, long iova) {
        putU32(SIZE, SIZEOF);
        putU32(FLAGS, flags);
        putU32(IOAS_ID, ioasId);
        putU32(RESERVED, 0);
        putU64(USER_VA, userVa);
        putU64(LENGTH, length);
        putU64(IOVA, iova);
        return this;
    }

    /** After the call: the IOVA used (the one asked for with IOMMU_IOAS_MAP_FIXED_IOVA). */
    public long iova() {
        return u64(IOVA);
    }
}
