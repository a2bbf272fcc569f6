package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct iommu_ioas_iova_ranges}, the argument of IOMMU_IOAS_IOVA_RANGES: the IOVA ranges an
 * IOAS may map now (narrowed by the reserved regions of the devices attached to it) and the alignment
 * a mapping needs. With too small an array the kernel says EMSGSIZE and writes the count it needs.
 */
public final class IommuIoasIovaRanges extends NativeStruct {

    public static final int SIZE = 0;
    public static final int IOAS_ID = 4;
    public static final int NUM_IOVAS = 8;
    public static final int RESERVED = 12;
    public static final int ALLOWED_IOVAS = 16;
    public static final int OUT_IOVA_ALIGNMENT = 24;
    public static final int SIZEOF = 32;
    public static final StructLayout LAYOUT = StructLayout.of("linux/iommufd.h", "iommu_ioas_iova_ranges", SIZEOF)
            .field("size", SIZE, 4)
            .field("ioas_id", IOAS_ID, 4)
            .field("num_iovas", NUM_IOVAS, 4)
            .field("__reserved", RESERVED, 4)
            .field("allowed_iovas", ALLOWED_IOVAS, 8)
            .field("out_iova_alignment", OUT_IOVA_ALIGNMENT, 8)
            .build();

    public IommuIoasIovaRanges() {
        super(SIZEOF);
    }

    /** Asks for the ranges of IOAS {@code ioasId}, written into {@code ranges}. */
    public IommuIoasIovaRanges query(int ioasId, IommuIovaRange ranges) {
        clear();
        putU32(SIZE, SIZEOF);
        putU32(IOAS_ID, ioasId);
        putU32(NUM_IOVAS, ranges.count());
        putU64(ALLOWED_IOVAS, ranges.address());
        return this;
    }

    /** After the call: how many ranges the IOAS has (more than the array held if it said EMSGSIZE). */
    public int numIovas() {
        return u32(NUM_IOVAS);
    }

    /** After the call: the alignment of an IOVA and length the IOAS maps (a power of two). */
    public long outIovaAlignment() {
        return u64(OUT_IOVA_ALIGNMENT);
    }
}
