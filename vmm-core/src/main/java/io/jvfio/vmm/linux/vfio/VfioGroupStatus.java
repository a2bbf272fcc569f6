package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct vfio_group_status}, the argument of VFIO_GROUP_GET_STATUS. */
public final class VfioGroupStatus extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_group_status", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .build();

    public VfioGroupStatus() {
        super(SIZEOF);
        argsz(SIZEOF);
    }

    public int argsz() {
        return u32(ARGSZ);
    }

    public VfioGroupStatus argsz(int value) {
        putU32(ARGSZ, value);
        return this;
    }

    /** VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_CONTAINER_SET. */
    public int flags() {
        return u32(FLAGS);
    }

    public boolean viable() {
        return (flags() & VfioConstants.VFIO_GROUP_FLAGS_VIABLE) != 0;
    }

    public boolean containerSet() {
        return (flags() & VfioConstants.VFIO_GROUP_FLAGS_CONTAINER_SET) != 0;
    }
}
