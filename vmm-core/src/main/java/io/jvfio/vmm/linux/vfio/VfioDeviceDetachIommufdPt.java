package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct vfio_device_detach_iommufd_pt}, the argument of VFIO_DEVICE_DETACH_IOMMUFD_PT. */
public final class VfioDeviceDetachIommufdPt extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_detach_iommufd_pt", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .build();

    public VfioDeviceDetachIommufdPt() {
        super(SIZEOF);
        putU32(ARGSZ, SIZEOF);
    }
}
