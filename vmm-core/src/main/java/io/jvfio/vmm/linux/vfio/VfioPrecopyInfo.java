package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_precopy_info}, the argument of VFIO_MIG_GET_PRECOPY_INFO on a PRE_COPY data fd:
 * how many bytes of the initial state are still to be read ({@code initial_bytes}, which the
 * destination needs before STOP_COPY is worth it), and an estimate of the state changed since
 * ({@code dirty_bytes}).
 */
public final class VfioPrecopyInfo extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int INITIAL_BYTES = 8;
    public static final int DIRTY_BYTES = 16;
    public static final int SIZEOF = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_precopy_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("initial_bytes", INITIAL_BYTES, 8)
            .field("dirty_bytes", DIRTY_BYTES, 8)
            .build();

    public VfioPrecopyInfo() {
        super(SIZEOF);
    }

    /** Ready for the ioctl: argsz set, the rest zero. */
    public VfioPrecopyInfo request() {
        clear();
        putU32(ARGSZ, SIZEOF);
        return this;
    }

    public long initialBytes() {
        return u64(INITIAL_BYTES);
    }

    public long dirtyBytes() {
        return u64(DIRTY_BYTES);
    }
}
