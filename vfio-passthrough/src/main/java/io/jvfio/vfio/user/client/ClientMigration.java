package io.jvfio.vfio.user.client;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.migration.MigrationStateMachine;
import io.jvfio.vfio.migration.StateChange;
import io.jvfio.vfio.user.client.ClientSession.Reply;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.DeviceFeature;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.FeatureMigDeviceState;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.FeatureMigration;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vmm.linux.Errno;
import io.netty.buffer.ByteBuf;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIGRATION;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;

/**
 * VFIO migration v2 of a vfio-user device ({@link VfioUserClient#migration()}), the counterpart of
 * kernel VFIO's VfioDeviceMigration: VFIO_USER_DEVICE_FEATURE with VFIO_DEVICE_FEATURE_MIGRATION and
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, and the data transfer session over VFIO_USER_MIG_DATA_READ and
 * VFIO_USER_MIG_DATA_WRITE on the same socket ({@link ClientMigrationData}; the spec leaves data_fd
 * unused). The server walks a request for a farther state arc by arc; it is checked here first, so an
 * impossible one is refused by name before it is sent. vfio-user has no VFIO_MIG_GET_PRECOPY_INFO
 * and no VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: a PRE_COPY session's read ends where the device's
 * initial bytes do.
 */
public final class ClientMigration implements DeviceMigration {

    private final ClientSession session;
    private final String name;
    private final int flags;
    private final MigrationStateMachine machine;
    /** The open saving session, which PRE_COPY and STOP_COPY share; null when there is none. */
    private ClientMigrationData saving;

    private ClientMigration(ClientSession session, int flags) {
        this.session = session;
        this.name = session.name();
        this.flags = flags;
        this.machine = new MigrationStateMachine(flags);
    }

    /**
     * Asks the server whether its device migrates (VFIO_DEVICE_FEATURE_MIGRATION, GET). A device
     * without migration answers ENOTTY (as a kernel driver without mig_ops does): refused with
     * {@link VfioException.MigrationNotSupported}, naming the device.
     */
    static ClientMigration probe(ClientSession session) {
        Reply r;
        try {
            r = feature(session, VFIO_DEVICE_FEATURE_MIGRATION | VFIO_DEVICE_FEATURE_GET, FeatureMigration.SIZEOF,
                    b -> { });
        } catch (ClientSession.Refused e) {
            if (e.errno == Errno.ENOTTY.number()) {
                throw new VfioException.MigrationNotSupported(session.name() + " does not migrate: its server answers "
                        + "VFIO_DEVICE_FEATURE_MIGRATION with ENOTTY (the device has no migration support); a VM "
                        + "with it cannot migrate", e);
            }
            throw e;
        }
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < DeviceFeature.SIZEOF + FeatureMigration.SIZEOF) {
                throw session.protocol("its VFIO_DEVICE_FEATURE_MIGRATION reply has " + p.readableBytes()
                        + " bytes, not the 16 of argsz, flags and the migration flags");
            }
            long f = p.getLongLE(DeviceFeature.DATA + FeatureMigration.FLAGS);
            try {
                return new ClientMigration(session, (int) f);
            } catch (VfioException e) {
                throw session.protocol("its VFIO_DEVICE_FEATURE_MIGRATION flags: " + e.getMessage());
            }
        } finally {
            r.release();
        }
    }

    private static Reply feature(ClientSession session, int flags, int dataSize, ClientSession.Payload data) {
        int payload = DeviceFeature.SIZEOF + ((flags & VFIO_DEVICE_FEATURE_SET) != 0 ? dataSize : 0);
        return session.request(VfioUserCommand.DEVICE_FEATURE, payload, null, 0, b -> {
                    b.writeIntLE(DeviceFeature.SIZEOF + dataSize); // argsz: room for the reply's data
                    b.writeIntLE(flags);
                    data.write(b);
                });
    }

    @Override
    public MigrationStateMachine machine() {
        return machine;
    }

    @Override
    public synchronized MigrationState state() {
        Reply r = feature(session, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE | VFIO_DEVICE_FEATURE_GET,
                FeatureMigDeviceState.SIZEOF, b -> { });
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < DeviceFeature.SIZEOF + FeatureMigDeviceState.SIZEOF) {
                throw session.protocol("its VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE reply has " + p.readableBytes()
                        + " bytes, not 16");
            }
            return MigrationState.of(p.getIntLE(DeviceFeature.DATA + FeatureMigDeviceState.DEVICE_STATE));
        } finally {
            r.release();
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws VfioException.MigrationFailed if the server fails the change, naming the state the
     *                                       device is left in (the spec lets it move to ERROR)
     */
    @Override
    public synchronized ClientMigrationData setState(MigrationState to) {
        MigrationState from = state();
        List<MigrationState> walk = StateChange.walk(machine, name, from, to, "the server");
        try {
            feature(session, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE | VFIO_DEVICE_FEATURE_SET,
                    FeatureMigDeviceState.SIZEOF, b -> {
                        b.writeIntLE(to.value);
                        b.writeIntLE(-1); // data_fd: unused in vfio-user
                    }).release();
        } catch (ClientSession.Refused e) {
            throw failed(from, to, walk, e);
        }
        boolean savingState = to == MigrationState.STOP_COPY || to == MigrationState.PRE_COPY
                || to == MigrationState.PRE_COPY_P2P;
        MigrationState last = walk.size() > 1 ? walk.get(walk.size() - 2) : from;
        boolean starts = to == MigrationState.RESUMING
                || savingState && !(last == MigrationState.PRE_COPY || last == MigrationState.PRE_COPY_P2P);
        if (starts) {
            ClientMigrationData data = new ClientMigrationData(session, to, chunk());
            saving = savingState ? data : null;
            return data;
        }
        if (savingState && saving != null) {
            saving.continueAs(to); // PRE_COPY on into STOP_COPY: the same session
        } else if (!savingState) {
            if (saving != null) {
                saving.close();
            }
            saving = null;
        }
        return null;
    }

    private int chunk() {
        return Math.min(session.peer().maxDataXferSize(), VfioUserVersion.CAPABILITIES.maxDataXferSize());
    }

    private VfioException failed(MigrationState from, MigrationState to, List<MigrationState> walk,
                                 ClientSession.Refused e) {
        String why = from == MigrationState.RESUMING && e.errno == Errno.EINVAL.number() ? " (the server found the "
                + "stream written into RESUMING incomplete, inconsistent or another device's: its log says which; load "
                + "a whole stream saved from a device of this type and version)" : "";
        return StateChange.failed(name, from, to, walk, e.errno, why, this::state, "VFIO_USER_DEVICE_RESET", e);
    }

    /** VFIO_USER_DEVICE_RESET: the way out of ERROR (and of a RESUMING session to abandon), back to RUNNING. */
    @Override
    public synchronized void reset() {
        session.request(VfioUserCommand.DEVICE_RESET, 0, null, 0, b -> { }).release();
        if (saving != null) {
            saving.close(); // the reset ended it on the server
        }
        saving = null;
    }

    @Override
    public String toString() {
        return name + " (migration " + MigrationFlags.describe(flags) + ")";
    }
}
