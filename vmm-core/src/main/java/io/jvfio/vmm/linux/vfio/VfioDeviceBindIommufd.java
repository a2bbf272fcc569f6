package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_bind_iommufd}, the argument of VFIO_DEVICE_BIND_IOMMUFD on a device cdev
 * fd: binds the device to an iommufd and returns its device id there.
 */
public final class VfioDeviceBindIommufd extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int IOMMUFD = 8;
    public static final int OUT_DEVID = 12;
    public static final int SIZEOF = 16;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_bind_iommufd", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("iommufd", IOMMUFD, 4)
            .field("out_devid", OUT_DEVID, 4)
            .build();

    public VfioDeviceBindIommufd() {
        super(SIZEOF);
    }

    public VfioDeviceBindIommufd set(int iommufd) {
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, 0);
        putU32(IOMMUFD, iommufd);
        putU32(OUT_DEVID, 0);
        return this;
    }

    /** After the call: the device's id in the iommufd. */
    public int outDevid() {
        return u32(OUT_DEVID);
    }
}
