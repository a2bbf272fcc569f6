package io.jvfio.vfio.migration;

import io.jvfio.vfio.VfioException;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_ERROR;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_PRE_COPY_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_RESUMING;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_RUNNING;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_RUNNING_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_STOP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_STATE_STOP_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_P2P;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;

/**
 * A device's migration state ({@code enum vfio_device_mig_state}; vfio-user's
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE uses the same numbers), with the migration flags a device
 * must offer for the state to exist at all: P2P states need VFIO_MIGRATION_P2P, PRE_COPY states
 * VFIO_MIGRATION_PRE_COPY, every state VFIO_MIGRATION_STOP_COPY, which is mandatory.
 */
public enum MigrationState {
    /** The device failed a transition and must be reset; no arc leaves it. */
    ERROR(VFIO_DEVICE_STATE_ERROR, 0),
    /** Stopped: no DMA, no interrupts, registers frozen; the state can neither be read nor loaded. */
    STOP(VFIO_DEVICE_STATE_STOP, VFIO_MIGRATION_STOP_COPY),
    RUNNING(VFIO_DEVICE_STATE_RUNNING, VFIO_MIGRATION_STOP_COPY),
    /** Stopped, with its state being read out (the source's last phase). */
    STOP_COPY(VFIO_DEVICE_STATE_STOP_COPY, VFIO_MIGRATION_STOP_COPY),
    /** Stopped, loading a state (the destination). */
    RESUMING(VFIO_DEVICE_STATE_RESUMING, VFIO_MIGRATION_STOP_COPY),
    /** Running but issuing no peer-to-peer DMA, so every device can be quiesced before any stops. */
    RUNNING_P2P(VFIO_DEVICE_STATE_RUNNING_P2P, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P),
    /** Running, with its state being read out while it changes (pre-copy). */
    PRE_COPY(VFIO_DEVICE_STATE_PRE_COPY, VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY),
    PRE_COPY_P2P(VFIO_DEVICE_STATE_PRE_COPY_P2P,
            VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY);

    private static final MigrationState[] BY_VALUE = new MigrationState[values().length];

    static {
        for (MigrationState s : values()) {
            BY_VALUE[s.value] = s;
        }
    }

    /** The number in {@code vfio_device_feature_mig_state.device_state}. */
    public final int value;
    /** The VFIO_MIGRATION_* flags a device needs for this state to be reachable. */
    final int requiredFlags;

    MigrationState(int value, int requiredFlags) {
        this.value = value;
        this.requiredFlags = requiredFlags;
    }

    /** Whether a device offering {@code migrationFlags} (VFIO_MIGRATION_*) has this state. */
    public boolean supportedBy(int migrationFlags) {
        return this == ERROR || (requiredFlags & migrationFlags) == requiredFlags;
    }

    /** The state numbered {@code value}; a number outside the enum is refused by name. */
    public static MigrationState of(int value) {
        if (value < 0 || value >= BY_VALUE.length) {
            throw new VfioException("migration state " + value + " is not one of VFIO's (0 ERROR to 7 PRE_COPY_P2P, "
                    + "enum vfio_device_mig_state)");
        }
        return BY_VALUE[value];
    }
}
