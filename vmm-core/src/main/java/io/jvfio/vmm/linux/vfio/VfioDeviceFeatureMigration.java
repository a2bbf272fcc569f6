package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_device_feature_migration}, VFIO_DEVICE_FEATURE_MIGRATION's payload (GET): the
 * device supports migration, and {@code flags} says which optional parts of the state machine it
 * has (VFIO_MIGRATION_STOP_COPY always; P2P, PRE_COPY).
 */
public final class VfioDeviceFeatureMigration {

    public static final int FLAGS = 0;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_migration", SIZEOF)
                    .field("flags", FLAGS, 8)
                    .build();

    private VfioDeviceFeatureMigration() {
    }
}
