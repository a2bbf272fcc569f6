package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_feature_mig_state}, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE's payload: GET
 * reads the device's migration state; SET moves it to {@code device_state} (enum
 * vfio_device_mig_state), and where the arc starts a data stream (to STOP_COPY, PRE_COPY, RESUMING)
 * the kernel returns that stream's fd in {@code data_fd} (-1 otherwise).
 */
public final class VfioDeviceFeatureMigState {

    public static final int DEVICE_STATE = 0;
    public static final int DATA_FD = 4;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_mig_state", SIZEOF)
                    .field("device_state", DEVICE_STATE, 4)
                    .field("data_fd", DATA_FD, 4)
                    .build();

    private VfioDeviceFeatureMigState() {
    }
}
