package io.jvfio.vfio.user.server;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.emulated.DeviceStateStream;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.migration.MigrationStateMachine;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.DeviceFeature;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.FeatureMigDeviceState;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.FeatureMigration;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.MigData;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vmm.linux.Errno;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIGRATION;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_PROBE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;

/**
 * A served {@link MigratableDevice}'s migration, as one client drives it: VFIO_USER_DEVICE_FEATURE
 * for VFIO_DEVICE_FEATURE_MIGRATION (GET, PROBE) and VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE (GET, SET),
 * and the data transfer session in VFIO_USER_MIG_DATA_READ (saving: PRE_COPY, STOP_COPY) and
 * VFIO_USER_MIG_DATA_WRITE (RESUMING). A SET is walked arc by arc along {@link MigrationStateMachine}
 * (the kernel's arcs, the shortest path, no saving state inside a walk), each arc running its action:
 * RUNNING to STOP stops the device, STOP to RUNNING starts it, RUNNING to PRE_COPY and STOP to
 * STOP_COPY open a saving session with the stream's initial section, PRE_COPY to STOP_COPY stops the
 * device and appends the final section, leaving the saving states ends the session, STOP to RESUMING
 * opens a loading session and RESUMING to STOP loads it. An arc that fails leaves the device in ERROR
 * (the spec: the server may move it there), from which VFIO_USER_DEVICE_RESET brings it back.
 *
 * <p>Errors: the spec names no errno for a refused state change or a data transfer in the wrong state.
 * Here both are EINVAL, as the kernel's VFIO_DEVICE_FEATURE answers a state with no arc to it
 * ({@code vfio_mig_get_next_state}) and a malformed request, and as libvfio-user's server does (its
 * test/py/test_migration.py expects EINVAL for a transition with no path, STOP_COPY to PRE_COPY, a
 * state that does not exist, MIG_DATA_READ outside PRE_COPY/STOP_COPY, MIG_DATA_WRITE outside RESUMING,
 * a read or write over max_data_xfer_size, a SET or GET whose argsz leaves no room for the data, and
 * SET on VFIO_DEVICE_FEATURE_MIGRATION; PROBE of MIGRATION with argsz 8 echoes the request). A feature this device lacks is ENOTTY, as the kernel's ioctl answers. DMA logging,
 * which the spec lists with these, is {@link ServerDmaLogging}'s.
 *
 * <p>Used on the thread that serves the session, one message at a time.
 */
final class ServerMigration {

    private static final Logger LOG = LoggerFactory.getLogger(ServerMigration.class);

    /** A stream written into RESUMING larger than this is refused: no served device's state is near it. */
    static final int MAX_LOAD_BYTES = 256 << 20;

    private final MigratableDevice device;
    private final String name;
    private final MigrationStateMachine machine;
    private MigrationState state = MigrationState.RUNNING;
    /** The saving session's bytes not read yet; null outside PRE_COPY and STOP_COPY. */
    private ByteBuf saving;
    /** The loading session's bytes written so far; null outside RESUMING. */
    private ByteBuf loading;
    private boolean headerChecked;
    /** Why the last failed arc or refused stream failed, for the server's owner (a client sees an errno). */
    private volatile String lastFailure;

    ServerMigration(MigratableDevice device, String name) {
        this.device = device;
        this.name = name;
        this.machine = new MigrationStateMachine(device.migrationFlags());
    }

    MigrationState state() {
        return state;
    }

    String lastFailure() {
        return lastFailure;
    }

    // ---- VFIO_USER_DEVICE_FEATURE ----

    /** A DEVICE_FEATURE request (checked to hold argsz and flags): the reply, or a VfioUserException. */
    ByteBuf feature(VfioUserMessage m, ByteBufAllocator alloc) {
        int argsz = m.payloadInt(DeviceFeature.ARGSZ);
        int flags = m.payloadInt(DeviceFeature.FLAGS);
        int feature = flags & VFIO_DEVICE_FEATURE_MASK;
        int ops = flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET);
        if ((flags & ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET
                | VFIO_DEVICE_FEATURE_PROBE)) != 0) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE flags 0x" + Integer.toHexString(flags)
                    + " have bits beyond the feature index, GET, SET and PROBE");
        }
        boolean probe = (flags & VFIO_DEVICE_FEATURE_PROBE) != 0;
        if (ops == (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET) && !probe) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE GET and SET are mutually exclusive but for PROBE");
        }
        int supported;
        int dataSize;
        switch (feature) {
            case VFIO_DEVICE_FEATURE_MIGRATION -> {
                supported = VFIO_DEVICE_FEATURE_GET;
                dataSize = FeatureMigration.SIZEOF;
            }
            case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE -> {
                supported = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
                dataSize = FeatureMigDeviceState.SIZEOF;
            }
            default -> throw new VfioUserException(Errno.ENOTTY, "device feature " + feature + " is not supported by "
                    + name + " (it offers VFIO_DEVICE_FEATURE_MIGRATION, _MIG_DEVICE_STATE and DMA logging)");
        }
        // As the kernel's vfio_check_feature: an op the feature lacks is EINVAL, PROBE then succeeds.
        if ((ops & ~supported) != 0) {
            throw new VfioUserException(Errno.EINVAL, "device feature " + feature + " takes "
                    + (supported == VFIO_DEVICE_FEATURE_GET ? "GET only" : "GET or SET"));
        }
        if (probe) {
            return echo(m, alloc); // the spec: the reply to a probe is the request
        }
        if (ops == 0) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE names neither GET, SET nor PROBE");
        }
        if (argsz < DeviceFeature.SIZEOF + dataSize) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE argsz " + argsz + " leaves no room for feature "
                    + feature + "'s " + dataSize + " bytes of data");
        }
        if (feature == VFIO_DEVICE_FEATURE_MIGRATION) {
            return get(m, alloc, device.migrationFlags(), 0, FeatureMigration.SIZEOF, true);
        }
        if (ops == VFIO_DEVICE_FEATURE_GET) {
            return get(m, alloc, state.value, -1, FeatureMigDeviceState.SIZEOF, false);
        }
        if (m.payloadSize() < DeviceFeature.SIZEOF + FeatureMigDeviceState.SIZEOF) {
            throw new VfioUserException(Errno.EINVAL, "a SET of VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE carries device_state "
                    + "and data_fd (8 bytes of data), got " + (m.payloadSize() - DeviceFeature.SIZEOF));
        }
        set(m.payloadInt(DeviceFeature.DATA + FeatureMigDeviceState.DEVICE_STATE));
        return echo(m, alloc); // the spec: the reply to a SET is the request
    }

    private static ByteBuf echo(VfioUserMessage m, ByteBufAllocator alloc) {
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), m.payloadSize());
        m.payloadBytes(0, r, m.payloadSize());
        return r;
    }

    /** A GET's reply: the request's flags, argsz grown by the data, then the data. */
    private static ByteBuf get(VfioUserMessage m, ByteBufAllocator alloc, long first, int second, int dataSize,
                               boolean u64) {
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), DeviceFeature.SIZEOF + dataSize);
        r.writeIntLE(DeviceFeature.SIZEOF + dataSize);
        r.writeIntLE(m.payloadInt(DeviceFeature.FLAGS));
        if (u64) {
            r.writeLongLE(first);
        } else {
            r.writeIntLE((int) first);
            r.writeIntLE(second); // data_fd: unused in vfio-user; -1 as the kernel's "no fd"
        }
        return r;
    }

    /** Walks to {@code value} arc by arc; an arc that fails leaves the device in ERROR. */
    private void set(int value) {
        MigrationState to;
        List<MigrationState> walk;
        try {
            to = MigrationState.of(value);
            if (to == MigrationState.ERROR) {
                throw new VfioException("ERROR cannot be asked for (the spec): it is where a failed arc leaves a device");
            }
            walk = machine.path(state, to);
        } catch (VfioException e) {
            throw refused("a migration state change from " + state + " to state " + value + " is refused: "
                    + e.getMessage() + " (" + name + " offers " + MigrationFlags.describe(machine.migrationFlags()) + ")");
        }
        for (MigrationState next : walk) {
            try {
                arc(state, next);
            } catch (RuntimeException e) {
                MigrationState from = state;
                enterError();
                String why = e instanceof VfioException ? e.getMessage() : e.toString();
                lastFailure = name + ": the migration arc " + from + " -> " + next + " failed: " + why
                        + "; the device is in ERROR: VFIO_USER_DEVICE_RESET brings it back to RUNNING";
                LOG.warn("{}", lastFailure);
                throw new VfioUserException(Errno.EINVAL, lastFailure);
            }
            state = next;
        }
    }

    private VfioUserException refused(String why) {
        lastFailure = name + ": " + why;
        return new VfioUserException(Errno.EINVAL, lastFailure);
    }

    /** One arc's action (linux/vfio.h and the spec's "Direct State Transitions"). */
    private void arc(MigrationState from, MigrationState to) {
        switch (from) {
            case RUNNING -> {
                if (to == MigrationState.STOP) {
                    device.stop();
                } else if (to == MigrationState.PRE_COPY) {
                    saving = Unpooled.buffer();
                    DeviceStateStream.saveInitial(device, saving);
                }
            }
            case STOP -> {
                if (to == MigrationState.RUNNING) {
                    device.start();
                } else if (to == MigrationState.STOP_COPY) {
                    ByteBuf s = Unpooled.buffer();
                    DeviceStateStream.saveInitial(device, s);
                    DeviceStateStream.saveFinal(device, s);
                    saving = s;
                } else if (to == MigrationState.RESUMING) {
                    loading = Unpooled.buffer();
                    headerChecked = false;
                }
            }
            case PRE_COPY -> {
                if (to == MigrationState.STOP_COPY) {
                    device.stop();
                    DeviceStateStream.saveFinal(device, saving); // the same session goes on
                } else {
                    endSaving(); // to RUNNING: the session ends
                }
            }
            case STOP_COPY -> endSaving(); // to STOP
            case RESUMING -> { // to STOP: the stream is complete; load it
                ByteBuf stream = loading;
                loading = null;
                try {
                    DeviceStateStream.load(device, stream);
                } finally {
                    stream.release();
                }
            }
            default -> throw new IllegalStateException(from + " -> " + to + " is not an arc of a device offering "
                    + MigrationFlags.describe(machine.migrationFlags()));
        }
    }

    private void endSaving() {
        if (saving != null) {
            saving.release();
            saving = null;
        }
    }

    private void enterError() {
        state = MigrationState.ERROR;
        endSaving();
        if (loading != null) {
            loading.release();
            loading = null;
        }
    }

    // ---- VFIO_USER_MIG_DATA_READ / WRITE ----

    /**
     * MIG_DATA_READ: up to {@code size} bytes of the saving session; fewer (0 at the end) when no more
     * is there now: in PRE_COPY that is the end of the initial section, in STOP_COPY of the stream.
     */
    ByteBuf read(VfioUserMessage m, ByteBufAllocator alloc) {
        need(m, MigData.SIZEOF);
        long argsz = m.payloadU32(MigData.ARGSZ);
        long size = m.payloadU32(MigData.SIZE);
        if (state != MigrationState.PRE_COPY && state != MigrationState.STOP_COPY) {
            throw refused("VFIO_USER_MIG_DATA_READ in " + state + ": migration data is read in a saving state "
                    + "(PRE_COPY or STOP_COPY) only; set one first");
        }
        if (size > VfioUserVersion.CAPABILITIES.maxDataXferSize()) {
            throw refused("VFIO_USER_MIG_DATA_READ of " + size + " bytes exceeds max_data_xfer_size "
                    + VfioUserVersion.CAPABILITIES.maxDataXferSize() + ": read in pieces");
        }
        if (argsz < MigData.SIZEOF + size) {
            throw refused("VFIO_USER_MIG_DATA_READ argsz " + argsz + " has no room for " + size + " bytes of data and "
                    + "the 8 bytes before them");
        }
        int n = (int) Math.min(size, saving.readableBytes());
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), MigData.SIZEOF + n);
        r.writeIntLE(MigData.SIZEOF + n);
        r.writeIntLE(n);
        r.writeBytes(saving, n);
        saving.discardReadBytes();
        return r;
    }

    /** MIG_DATA_WRITE: the next bytes of the stream written into RESUMING; the header is checked as soon as it is whole. */
    ByteBuf write(VfioUserMessage m, ByteBufAllocator alloc) {
        need(m, MigData.SIZEOF);
        long size = m.payloadU32(MigData.SIZE);
        if (state != MigrationState.RESUMING) {
            throw refused("VFIO_USER_MIG_DATA_WRITE in " + state + ": migration data is written in RESUMING only; "
                    + "set it first (from STOP)");
        }
        if (size > VfioUserVersion.CAPABILITIES.maxDataXferSize()) {
            throw refused("VFIO_USER_MIG_DATA_WRITE of " + size + " bytes exceeds max_data_xfer_size "
                    + VfioUserVersion.CAPABILITIES.maxDataXferSize() + ": write in pieces");
        }
        if (size != m.payloadSize() - MigData.SIZEOF) {
            throw refused("VFIO_USER_MIG_DATA_WRITE says " + size + " bytes and carries "
                    + (m.payloadSize() - MigData.SIZEOF));
        }
        if (loading.readableBytes() + size > MAX_LOAD_BYTES) {
            lastFailure = name + ": a migration stream over " + MAX_LOAD_BYTES + " bytes is no served device's state: "
                    + "load the stream of a device of this type";
            throw new VfioUserException(Errno.ENOMEM, lastFailure);
        }
        m.payloadBytes(MigData.DATA, loading, (int) size);
        if (!headerChecked) {
            try {
                headerChecked = DeviceStateStream.headerAccepted(device, loading);
            } catch (VfioException e) {
                // Refused at once, as the kernel's mtty refuses a foreign header on write; the stream is
                // dropped, and the device stays in RESUMING for a good one (or a reset).
                loading.clear();
                throw refused(e.getMessage());
            }
        }
        return VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), 0);
    }

    private static void need(VfioUserMessage m, int bytes) {
        if (m.payloadSize() < bytes) {
            throw new VfioUserException(Errno.EINVAL, m.command().specName() + " needs " + bytes
                    + " bytes of payload, got " + m.payloadSize());
        }
    }

    // ---- the device's life ----

    /** VFIO_USER_DEVICE_RESET: whatever the state (ERROR too), the device is RUNNING afterwards. */
    void reset() {
        enterError(); // drops the sessions
        state = MigrationState.RUNNING;
    }

    /** The client left: a session ends, and a device it left stopped runs again for the next client. */
    void end() {
        MigrationState was = state;
        enterError();
        state = MigrationState.RUNNING;
        if (was != MigrationState.RUNNING && was != MigrationState.PRE_COPY) {
            device.start();
        }
    }
}
