package io.jvfio.vfio.user.server;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.emulated.host.HostedMigration;
import io.jvfio.vfio.migration.MigrationState;
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
 * VFIO_USER_MIG_DATA_WRITE (RESUMING): the protocol's side; the states, the arcs' actions and the
 * session's bytes are the device host's {@link HostedMigration} (which an in-process back end drives
 * too). An arc that fails leaves the device in ERROR (the spec: the server may move it there), from
 * which VFIO_USER_DEVICE_RESET brings it back.
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

    private final MigratableDevice device;
    private final String name;
    private final HostedMigration hosted;
    /** Why the last failed arc or refused request failed, for the server's owner (a client sees an errno). */
    private volatile String lastFailure;

    ServerMigration(MigratableDevice device, String name) {
        this.device = device;
        this.name = name;
        this.hosted = new HostedMigration(device, name, "VFIO_USER_DEVICE_RESET");
    }

    MigrationState state() {
        return hosted.state();
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
            return get(m, alloc, hosted.state().value, -1, FeatureMigDeviceState.SIZEOF, false);
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
        try {
            to = MigrationState.of(value);
        } catch (VfioException e) {
            throw refused("a migration state change from " + hosted.state() + " to state " + value + " is refused: "
                    + e.getMessage());
        }
        try {
            hosted.set(to);
        } catch (HostedMigration.Refused | HostedMigration.ArcFailed e) {
            lastFailure = e.getMessage();
            throw new VfioUserException(Errno.EINVAL, lastFailure);
        }
    }

    private VfioUserException refused(String why) {
        lastFailure = name + ": " + why;
        return new VfioUserException(Errno.EINVAL, lastFailure);
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
        MigrationState state = hosted.state();
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
        ByteBuf data = alloc.buffer((int) size);
        try {
            int n = hosted.read(data, (int) size);
            ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), MigData.SIZEOF + n);
            r.writeIntLE(MigData.SIZEOF + n);
            r.writeIntLE(n);
            r.writeBytes(data, n);
            return r;
        } finally {
            data.release();
        }
    }

    /** MIG_DATA_WRITE: the next bytes of the stream written into RESUMING; the header is checked as soon as it is whole. */
    ByteBuf write(VfioUserMessage m, ByteBufAllocator alloc) {
        need(m, MigData.SIZEOF);
        long size = m.payloadU32(MigData.SIZE);
        MigrationState state = hosted.state();
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
        ByteBuf data = alloc.buffer((int) size);
        try {
            m.payloadBytes(MigData.DATA, data, (int) size);
            hosted.write(data, (int) size);
        } catch (HostedMigration.TooLarge e) {
            lastFailure = e.getMessage();
            throw new VfioUserException(Errno.ENOMEM, lastFailure);
        } catch (HostedMigration.Refused e) {
            lastFailure = e.getMessage();
            throw new VfioUserException(Errno.EINVAL, lastFailure);
        } finally {
            data.release();
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
        hosted.reset();
    }

    /** The client left: a session ends, and a device it left stopped runs again for the next client. */
    void end() {
        hosted.end();
    }
}
