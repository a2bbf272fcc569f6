package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_iommu_type1_dirty_bitmap}, the argument of VFIO_IOMMU_DIRTY_PAGES on a Type1
 * container, with its GET_BITMAP payload {@code struct vfio_iommu_type1_dirty_bitmap_get} and that
 * one's {@code struct vfio_bitmap}: START and STOP take the header alone; GET_BITMAP fills the
 * caller's zeroed bitmap (one bit a page of {@code pgsize}, Type1's smallest page size) for
 * {@code [iova, iova + size)} and re-arms those pages. Type1 cannot see what a device behind an IOMMU
 * wrote: for such a group every mapped page reads as dirty (only pinned-page scopes, as mdev
 * drivers give, narrow it); that is the kernel's answer, and a reason for device-side logging.
 */
public final class VfioIommuType1DirtyBitmap extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int DATA = 8;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_iommu_type1_dirty_bitmap", SIZEOF)
                    .field("argsz", ARGSZ, 4)
                    .field("flags", FLAGS, 4)
                    .flexibleArray("data", DATA, 1)
                    .build();

    public static final int BITMAP_PGSIZE = 0;
    public static final int BITMAP_SIZE = 8;
    public static final int BITMAP_DATA = 16;
    public static final int BITMAP_SIZEOF = 24;
    public static final StructLayout BITMAP_LAYOUT = StructLayout.of("linux/vfio.h", "vfio_bitmap", BITMAP_SIZEOF)
            .field("pgsize", BITMAP_PGSIZE, 8)
            .field("size", BITMAP_SIZE, 8)
            .field("data", BITMAP_DATA, 8)
            .build();

    public static final int GET_IOVA = 0;
    public static final int GET_SIZE = 8;
    public static final int GET_BITMAP = 16;
    public static final int GET_SIZEOF = 40;
    public static final StructLayout GET_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_iommu_type1_dirty_bitmap_get", GET_SIZEOF)
                    .field("iova", GET_IOVA, 8)
                    .field("size", GET_SIZE, 8)
                    .nested("bitmap", GET_BITMAP, BITMAP_LAYOUT)
                    .build();

    public VfioIommuType1DirtyBitmap() {
        super(SIZEOF + GET_SIZEOF);
    }

    /** START or STOP (VFIO_IOMMU_DIRTY_PAGES_FLAG_START/_STOP): the header alone. */
    public VfioIommuType1DirtyBitmap control(int flag) {
        clear();
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, flag);
        return this;
    }

    /**
     * GET_BITMAP for {@code [iova, iova + size)} in pages of {@code pageSize}, into {@code bitmapBytes}
     * zeroed bytes at {@code bitmapAddress} (at least one bit a page, rounded up to 64 bits).
     */
    public VfioIommuType1DirtyBitmap getBitmap(long iova, long size, long pageSize, long bitmapAddress,
            long bitmapBytes) {
        clear();
        putU32(ARGSZ, SIZEOF + GET_SIZEOF);
        putU32(FLAGS, VfioConstants.VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP);
        putU64(DATA + GET_IOVA, iova);
        putU64(DATA + GET_SIZE, size);
        putU64(DATA + GET_BITMAP + BITMAP_PGSIZE, pageSize);
        putU64(DATA + GET_BITMAP + BITMAP_SIZE, bitmapBytes);
        putU64(DATA + GET_BITMAP + BITMAP_DATA, bitmapAddress);
        return this;
    }
}
