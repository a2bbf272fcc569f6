package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_feature_mig_data_size}, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE's payload
 * (GET): an estimate of the bytes STOP_COPY would produce now, for the downtime estimate.
 */
public final class VfioDeviceFeatureMigDataSize {

    public static final int STOP_COPY_LENGTH = 0;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_mig_data_size", SIZEOF)
                    .field("stop_copy_length", STOP_COPY_LENGTH, 8)
                    .build();

    private VfioDeviceFeatureMigDataSize() {
    }
}
