package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_iommu_type1_dma_unmap}, the argument of VFIO_IOMMU_UNMAP_DMA. The kernel writes
 * back in {@code size} how many bytes it actually unmapped.
 */
public final class VfioIommuType1DmaUnmap extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int IOVA = 8;
    public static final int SIZE = 16;
    public static final int DATA = 24;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_iommu_type1_dma_unmap", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("iova", IOVA, 8)
            .field("size", SIZE, 8)
            .flexibleArray("data", DATA, 1)
            .build();

    public VfioIommuType1DmaUnmap() {
        super(SIZEOF);
        putU32(ARGSZ, SIZEOF);
    }

    public VfioIommuType1DmaUnmap set(int flags, long iova, long size) {
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, flags);
        putU64(IOVA, iova);
        putU64(SIZE, size);
        return this;
    }

    public long iova() {
        return u64(IOVA);
    }

    /** After the call: the number of bytes unmapped. */
    public long size() {
        return u64(SIZE);
    }
}
