package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct vfio_device_info}, the argument of VFIO_DEVICE_GET_INFO, with room for capabilities. */
public final class VfioDeviceInfo extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int NUM_REGIONS = 8;
    public static final int NUM_IRQS = 12;
    public static final int CAP_OFFSET = 16;
    public static final int SIZEOF = 20;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("num_regions", NUM_REGIONS, 4)
            .field("num_irqs", NUM_IRQS, 4)
            .field("cap_offset", CAP_OFFSET, 4)
            .build();

    public VfioDeviceInfo(int capacity) {
        super(Math.max(capacity, SIZEOF));
        putU32(ARGSZ, capacity());
    }

    public int argsz() {
        return u32(ARGSZ);
    }

    /** VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_CAPS... */
    public int flags() {
        return u32(FLAGS);
    }

    /** The highest region index + 1. */
    public int numRegions() {
        return u32(NUM_REGIONS);
    }

    /** The highest IRQ index + 1. */
    public int numIrqs() {
        return u32(NUM_IRQS);
    }

    public int capOffset() {
        return u32(CAP_OFFSET);
    }
}
