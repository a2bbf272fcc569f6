package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct iommu_destroy}, the argument of IOMMU_DESTROY: frees an iommufd object by its id. */
public final class IommuDestroy extends NativeStruct {

    public static final int SIZE = 0;
    public static final int ID = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_destroy", SIZEOF)
            .field("size", SIZE, 4)
            .field("id", ID, 4)
            .build();

    public IommuDestroy() {
        super(SIZEOF);
    }

    public IommuDestroy set(int id) {
        putU32(SIZE, SIZEOF);
        putU32(ID, id);
        return this;
    }
}
