package io.jvfio.vfio.migration;

/**
 * A device's VFIO migration v2, whichever transport carries it: kernel VFIO's
 * VFIO_DEVICE_FEATURE ioctl with a data fd (io.jvfio.vfio.kernel.VfioDeviceMigration), or vfio-user's
 * VFIO_USER_DEVICE_FEATURE with VFIO_USER_MIG_DATA_READ/WRITE on the socket
 * (io.jvfio.vfio.user.client.ClientMigration). Both offer the same states and flags, walk a request
 * for a farther state by the same arcs ({@link MigrationStateMachine}), and hand the data transfer
 * session back as a {@link MigrationData}.
 */
public interface DeviceMigration {

    /** VFIO_MIGRATION_* flags: STOP_COPY, and P2P and PRE_COPY if the device has them. */
    default int flags() {
        return machine().migrationFlags();
    }

    /** The state machine of a device with these {@link #flags}. */
    MigrationStateMachine machine();

    /** The device's migration state now (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET). */
    MigrationState state();

    /**
     * Moves the device to {@code to} (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, SET), by the arcs between.
     * Returns the data transfer session when the walk ends on an arc that starts one (into STOP_COPY
     * from STOP, PRE_COPY from RUNNING, RESUMING from STOP), else null; a saving session continues from
     * PRE_COPY into STOP_COPY on the session PRE_COPY returned, and leaving the saving states ends it.
     *
     * @throws io.jvfio.vfio.VfioException if no legal walk leads there, or the device fails the change
     */
    MigrationData setState(MigrationState to);

    /** Resets the device: the way out of ERROR (and of a RESUMING session to abandon), back to RUNNING. */
    void reset();
}
