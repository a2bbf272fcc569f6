package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct iommu_ioas_unmap}, the argument of IOMMU_IOAS_UNMAP. The kernel writes back in
 * {@code length} how many bytes it unmapped.
 */
public final class IommuIoasUnmap extends NativeStruct {

    public static final int SIZE = 0;
    public static final int IOAS_ID = 4;
    public static final int IOVA = 8;
    public static final int LENGTH = 16;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_ioas_unmap", SIZEOF)
            .field("size", SIZE, 4)
            .field("ioas_id", IOAS_ID, 4)
            .field("iova", IOVA, 8)
            .field("length", LENGTH, 8)
            .build();

    public IommuIoasUnmap() {
        super(SIZEOF);
    }

    public IommuIoasUnmap set(int ioasId, long iova, long length) {
        putU32(SIZE, SIZEOF);
        putU32(IOAS_ID, ioasId);
        putU64(IOVA, iova);
        putU64(LENGTH, length);
        return this;
    }

    /** After the call: the number of bytes unmapped. */
    public long length() {
        return u64(LENGTH);
    }
}
