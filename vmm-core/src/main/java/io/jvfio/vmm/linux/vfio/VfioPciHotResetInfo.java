package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_pci_hot_reset_info} and its {@code struct vfio_pci_dependent_device} entries,
 * the argument of VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: every device a bus reset of this one would
 * also reset, with its IOMMU group. ENOSPC with {@code count} set means: ask again with more room.
 */
public final class VfioPciHotResetInfo extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int COUNT = 8;
    public static final int DEVICES = 12;
    public static final int SIZEOF = 12;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_pci_hot_reset_info", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("count", COUNT, 4)
            .flexibleArray("devices", DEVICES, 8)
            .build();

    public static final int DEVICE_GROUP_ID = 0;
    public static final int DEVICE_SEGMENT = 4;
    public static final int DEVICE_BUS = 6;
    public static final int DEVICE_DEVFN = 7;
    public static final int DEVICE_SIZEOF = 8;
    public static final StructLayout DEVICE_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_pci_dependent_device", DEVICE_SIZEOF)
                    .field("group_id", DEVICE_GROUP_ID, 4)
                    .field("segment", DEVICE_SEGMENT, 2)
                    .field("bus", DEVICE_BUS, 1)
                    .field("devfn", DEVICE_DEVFN, 1)
                    .build();

    private final int maxDevices;

    public VfioPciHotResetInfo(int maxDevices) {
        super(SIZEOF + DEVICE_SIZEOF * Math.max(maxDevices, 0));
        this.maxDevices = maxDevices;
    }

    public VfioPciHotResetInfo query() {
        clear();
        putU32(ARGSZ, capacity());
        return this;
    }

    public int maxDevices() {
        return maxDevices;
    }

    /** How many devices the reset affects (also set when the room was too small). */
    public int count() {
        return u32(COUNT);
    }

    public int groupId(int i) {
        return u32(DEVICES + i * DEVICE_SIZEOF + DEVICE_GROUP_ID);
    }

    public int segment(int i) {
        return u16(DEVICES + i * DEVICE_SIZEOF + DEVICE_SEGMENT);
    }

    public int bus(int i) {
        return u8(DEVICES + i * DEVICE_SIZEOF + DEVICE_BUS);
    }

    /** Device and function as {@code slot << 3 | function}. */
    public int devfn(int i) {
        return u8(DEVICES + i * DEVICE_SIZEOF + DEVICE_DEVFN);
    }
}
