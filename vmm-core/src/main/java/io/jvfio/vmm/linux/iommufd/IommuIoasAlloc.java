package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct iommu_ioas_alloc}, the argument of IOMMU_IOAS_ALLOC: the kernel returns the new IOAS's id. */
public final class IommuIoasAlloc extends NativeStruct {

    public static final int SIZE = 0;
    public static final int FLAGS = 4;
    public static final int OUT_IOAS_ID = 8;
    public static final int SIZEOF = 12;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_ioas_alloc", SIZEOF)
            .field("size", SIZE, 4)
            .field("flags", FLAGS, 4)
            .field("out_ioas_id", OUT_IOAS_ID, 4)
            .build();

    public IommuIoasAlloc() {
        super(SIZEOF);
        putU32(SIZE, SIZEOF);
    }

    /** After the call: the id of the new I/O address space. */
    public int outIoasId() {
        return u32(OUT_IOAS_ID);
    }
}
