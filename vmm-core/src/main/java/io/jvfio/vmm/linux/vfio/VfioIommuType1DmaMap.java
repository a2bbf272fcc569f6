package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct vfio_iommu_type1_dma_map}, the argument of VFIO_IOMMU_MAP_DMA. */
public final class VfioIommuType1DmaMap extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int VADDR = 8;
    public static final int IOVA = 16;
    public static final int SIZE = 24;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_iommu_type1_dma_map", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("vaddr", VADDR, 8)
            .field("iova", IOVA, 8)
            .field("size", SIZE, 8)
            .build();

    public VfioIommuType1DmaMap() {
        super(SIZEOF);
        putU32(ARGSZ, SIZEOF);
    }

    /** Fills in one mapping: {@code size} bytes at process address {@code vaddr} seen by the device at {@code iova}. */
    public VfioIommuType1DmaMap set(int flags, long vaddr, long iova, long size) {
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, flags);
        putU64(VADDR, vaddr);
        putU64(IOVA, iova);
        putU64(SIZE, size);
        return this;
    }

    public int flags() {
        return u32(FLAGS);
    }

    public long vaddr() {
        return u64(VADDR);
    }

    public long iova() {
        return u64(IOVA);
    }

    public long size() {
        return u64(SIZE);
    }
}
