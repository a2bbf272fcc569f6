package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_attach_iommufd_pt}, the argument of VFIO_DEVICE_ATTACH_IOMMUFD_PT: attaches
 * a bound device to a page table of its iommufd (an IOAS, or a hardware page table), by its id.
 */
public final class VfioDeviceAttachIommufdPt extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int PT_ID = 8;
    public static final int SIZEOF = 12;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_device_attach_iommufd_pt", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("pt_id", PT_ID, 4)
            .build();

    public VfioDeviceAttachIommufdPt() {
        super(SIZEOF);
    }

    public VfioDeviceAttachIommufdPt set(int ptId) {
        putU32(ARGSZ, SIZEOF);
        putU32(FLAGS, 0);
        putU32(PT_ID, ptId);
        return this;
    }

    /** After the call: the page table the device is attached to (the kernel may pick a hardware page table). */
    public int ptId() {
        return u32(PT_ID);
    }
}
