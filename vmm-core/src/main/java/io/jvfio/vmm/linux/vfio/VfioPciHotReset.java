package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_pci_hot_reset}, the argument of VFIO_DEVICE_PCI_HOT_RESET: the fds of every
 * group the reset affects, proving the caller owns them all.
 */
public final class VfioPciHotReset extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int COUNT = 8;
    public static final int GROUP_FDS = 12;
    public static final int SIZEOF = 12;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_pci_hot_reset", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("count", COUNT, 4)
            .flexibleArray("group_fds", GROUP_FDS, 4)
            .build();

    private final int maxGroups;

    public VfioPciHotReset(int maxGroups) {
        super(SIZEOF + 4 * Math.max(maxGroups, 0));
        this.maxGroups = maxGroups;
    }

    public VfioPciHotReset set(int[] groupFds, int count) {
        if (count < 0 || count > maxGroups) {
            throw new IllegalArgumentException(count + " group fds do not fit a vfio_pci_hot_reset of " + maxGroups);
        }
        clear();
        putU32(ARGSZ, SIZEOF + 4 * count);
        putU32(COUNT, count);
        for (int i = 0; i < count; i++) {
            putU32(GROUP_FDS + 4 * i, groupFds[i]);
        }
        return this;
    }

    public int count() {
        return u32(COUNT);
    }
}
