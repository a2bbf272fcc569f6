package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.migration.MigrationStateMachine;
import io.jvfio.vfio.migration.StateChange;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeature;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeatureMigDataSize;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeatureMigState;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeatureMigration;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIGRATION;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_FEATURE;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_RESET;

/**
 * VFIO migration v2 on a kernel VFIO device ({@link VfioDevice#migration()}): which parts of the state
 * machine its driver offers (VFIO_DEVICE_FEATURE_MIGRATION), its state (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
 * GET and SET), the data fd a SET to STOP_COPY, PRE_COPY or RESUMING returns ({@link MigrationDataFd}),
 * and the size STOP_COPY would produce (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE). The device's own DMA dirty
 * logging, which the kernel keeps apart from migration, is {@link VfioDmaLogging}.
 *
 * <p>The kernel walks a request for a farther state arc by arc itself; a request is still checked
 * here against {@link MigrationStateMachine} first, so an impossible one (STOP_COPY to PRE_COPY, a
 * state the device lacks) is refused by name before the ioctl. When the kernel fails a SET, the
 * state the device was left in (the old one, one along the walk, or ERROR) is read back and named.
 */
public final class VfioDeviceMigration implements DeviceMigration {

    private final OwnedFd fd;
    private final String name;
    private final int flags;
    private final MigrationStateMachine machine;
    /** Header and the largest payload used here (the device state's). */
    private final VfioDeviceFeature feature = new VfioDeviceFeature(VfioDeviceFeatureMigDataSize.SIZEOF);
    /** The open saving session, which PRE_COPY and STOP_COPY share; null when there is none. */
    private MigrationDataFd saving;

    private VfioDeviceMigration(OwnedFd fd, String name, int flags) {
        this.fd = fd;
        this.name = name;
        this.flags = flags;
        this.machine = new MigrationStateMachine(flags);
    }

    /**
     * Asks the device's driver whether it migrates (VFIO_DEVICE_FEATURE_MIGRATION, GET). A driver
     * without migration answers ENOTTY: refused with the device's name and that reason, the error a
     * VM's migration is blocked with.
     */
    static VfioDeviceMigration probe(OwnedFd fd, String name) {
        VfioDeviceFeature f = new VfioDeviceFeature(VfioDeviceFeatureMigration.SIZEOF);
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, f.request(VFIO_DEVICE_FEATURE_MIGRATION, VFIO_DEVICE_FEATURE_GET,
                    VfioDeviceFeatureMigration.SIZEOF));
        } catch (SyscallException e) {
            if (e.is(Errno.ENOTTY)) {
                throw new VfioException.MigrationNotSupported(name + " cannot be migrated: its VFIO driver has no "
                        + "migration support (VFIO_DEVICE_FEATURE_MIGRATION answers ENOTTY, " + e.errno().text() + "); "
                        + "remove the device from the VM before migrating it, or use a device whose driver migrates (a "
                        + "vendor's vfio-pci variant driver, or a mediated device such as mtty)", e);
            }
            throw new VfioException(name + ": VFIO_DEVICE_FEATURE_MIGRATION failed: " + Errno.describe(e.errnoValue()), e);
        }
        int flags = (int) f.payloadU64(VfioDeviceFeatureMigration.FLAGS);
        return new VfioDeviceMigration(fd, name, flags);
    }

    @Override
    public MigrationStateMachine machine() {
        return machine;
    }

    /** The device's migration state now (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET). */
    @Override
    public synchronized MigrationState state() {
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature.request(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                    VFIO_DEVICE_FEATURE_GET, VfioDeviceFeatureMigState.SIZEOF));
        } catch (SyscallException e) {
            throw new VfioException(name + ": reading its migration state failed: " + Errno.describe(e.errnoValue()), e);
        }
        return MigrationState.of(feature.payloadU32(VfioDeviceFeatureMigState.DEVICE_STATE));
    }

    /**
     * Moves the device to {@code to} (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, SET), the kernel walking
     * the arcs between. Returns the data fd when the walk ends on an arc that starts a session (into
     * STOP_COPY from STOP, PRE_COPY from RUNNING, RESUMING from STOP), else null; a saving session
     * continues from PRE_COPY into STOP_COPY on the fd PRE_COPY returned, and leaving the saving
     * states ends it.
     *
     * @throws VfioException if no legal walk leads there (checked before the ioctl; the device is not
     *                       touched), or {@link VfioException.MigrationFailed} if the kernel fails the
     *                       change, naming the state the device is left in
     */
    @Override
    public synchronized MigrationDataFd setState(MigrationState to) {
        MigrationState from = state();
        List<MigrationState> walk = StateChange.walk(machine, name, from, to, "the kernel");
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature.request(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
                    VFIO_DEVICE_FEATURE_SET, VfioDeviceFeatureMigState.SIZEOF)
                    .putPayloadU32(VfioDeviceFeatureMigState.DEVICE_STATE, to.value)
                    .putPayloadU32(VfioDeviceFeatureMigState.DATA_FD, -1));
        } catch (SyscallException e) {
            throw failed(from, to, walk, e);
        }
        int dataFd = feature.payloadU32(VfioDeviceFeatureMigState.DATA_FD);
        boolean savingState = to == MigrationState.STOP_COPY || to == MigrationState.PRE_COPY
                || to == MigrationState.PRE_COPY_P2P;
        if (dataFd >= 0) {
            MigrationDataFd session = new MigrationDataFd(OwnedFd.adopt(dataFd, "migration data of " + name + " ("
                    + to + ")"), name, to);
            saving = savingState ? session : null;
            return session;
        }
        if (savingState && saving != null) {
            saving.continueAs(to); // PRE_COPY on into STOP_COPY: the same session, as linux/vfio.h defines
        } else if (!savingState) {
            saving = null; // the kernel ended it; its reads now fail
        }
        return null;
    }

    private VfioException failed(MigrationState from, MigrationState to, List<MigrationState> walk, SyscallException e) {
        String why = from == MigrationState.RESUMING && e.is(Errno.EINVAL) ? " (the driver found the state written "
                + "into RESUMING incomplete or inconsistent: load a whole stream saved from a device of this type)" : "";
        return StateChange.failed(name, from, to, walk, e.errnoValue(), why, this::state, "VFIO_DEVICE_RESET", e);
    }

    /**
     * VFIO_DEVICE_RESET, which linux/vfio.h makes the way out of ERROR (and of a RESUMING session to
     * abandon) for a migratable device, back to RUNNING, whether or not its device flags offer
     * VFIO_DEVICE_FLAGS_RESET for a VM's reset.
     */
    @Override
    public synchronized void reset() {
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_RESET, 0L);
        } catch (SyscallException e) {
            throw new VfioException(name + ": VFIO_DEVICE_RESET, to leave its migration state, failed: "
                    + Errno.describe(e.errnoValue()), e);
        }
        saving = null;
    }

    /**
     * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: the driver's estimate of the bytes STOP_COPY would read now
     * (for the downtime estimate).
     */
    public synchronized long stopCopyLength() {
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature.request(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
                    VFIO_DEVICE_FEATURE_GET, VfioDeviceFeatureMigDataSize.SIZEOF));
        } catch (SyscallException e) {
            throw new VfioException(name + ": VFIO_DEVICE_FEATURE_MIG_DATA_SIZE failed: " + Errno.describe(e.errnoValue()),
                    e);
        }
        return feature.payloadU64(VfioDeviceFeatureMigDataSize.STOP_COPY_LENGTH);
    }

    @Override
    public String toString() {
        return name + " (migration " + MigrationFlags.describe(flags) + ")";
    }
}
