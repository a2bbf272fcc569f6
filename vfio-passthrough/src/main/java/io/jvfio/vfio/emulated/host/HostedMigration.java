package io.jvfio.vfio.emulated.host;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.emulated.DeviceStateStream;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.migration.MigrationFlags;
import io.jvfio.vfio.migration.MigrationState;
import io.jvfio.vfio.migration.MigrationStateMachine;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * A hosted {@link MigratableDevice}'s VFIO migration v2, the device's side of it whoever drives it (a
 * vfio-user server's session, or an in-process back end's VMM): the state, a SET walked arc by arc
 * along {@link MigrationStateMachine} (the kernel's arcs, the shortest path, no saving state inside a
 * walk), each arc running its action, and the data transfer session's bytes. RUNNING to STOP stops
 * the device, STOP to RUNNING starts it, RUNNING to PRE_COPY and STOP to STOP_COPY open a saving
 * session with the stream's initial section, PRE_COPY to STOP_COPY stops the device and appends the
 * final section, leaving the saving states ends the session, STOP to RESUMING opens a loading session
 * and RESUMING to STOP loads it. An arc that fails leaves the device in ERROR, from which
 * {@link #reset} brings it back.
 *
 * <p>Used by one thread at a time (the caller serializes).
 */
public final class HostedMigration {

    private static final Logger LOG = LoggerFactory.getLogger(HostedMigration.class);

    /** A stream written into RESUMING larger than this is refused: no hosted device's state is near it. */
    public static final int MAX_LOAD_BYTES = 256 << 20;

    private final MigratableDevice device;
    private final String name;
    private final String resetBy;
    private final MigrationStateMachine machine;
    private MigrationState state = MigrationState.RUNNING;
    /** The saving session's bytes not read yet; null outside PRE_COPY and STOP_COPY. */
    private ByteBuf saving;
    /** The loading session's bytes written so far; null outside RESUMING. */
    private ByteBuf loading;
    private boolean headerChecked;
    /** Why the last failed arc or refused stream failed, for the host's owner. */
    private volatile String lastFailure;

    /** {@code name} names the device in messages, {@code resetBy} what resets it ({@code "VFIO_USER_DEVICE_RESET"}). */
    public HostedMigration(MigratableDevice device, String name, String resetBy) {
        this.device = device;
        this.name = name;
        this.resetBy = resetBy;
        this.machine = new MigrationStateMachine(device.migrationFlags());
    }

    /** VFIO_MIGRATION_* flags the device offers. */
    public int migrationFlags() {
        return machine.migrationFlags();
    }

    public MigrationStateMachine machine() {
        return machine;
    }

    public MigrationState state() {
        return state;
    }

    /** Why the last failed arc or refused stream failed, or null. */
    public String lastFailure() {
        return lastFailure;
    }

    /**
     * Walks to {@code to} arc by arc.
     *
     * @throws Refused        if no walk leads there (the device untouched)
     * @throws ArcFailed      if an arc's action failed: the device is in ERROR now
     */
    public void set(MigrationState to) {
        List<MigrationState> walk;
        try {
            if (to == MigrationState.ERROR) {
                throw new VfioException("ERROR cannot be asked for (the spec): it is where a failed arc leaves a device");
            }
            walk = machine.path(state, to);
        } catch (VfioException e) {
            throw refused("a migration state change from " + state + " to " + to + " is refused: " + e.getMessage()
                    + " (" + name + " offers " + MigrationFlags.describe(machine.migrationFlags()) + ")");
        }
        for (MigrationState next : walk) {
            try {
                arc(state, next);
            } catch (RuntimeException e) {
                MigrationState from = state;
                enterError();
                String why = e instanceof VfioException ? e.getMessage() : e.toString();
                lastFailure = name + ": the migration arc " + from + " -> " + next + " failed: " + why
                        + "; the device is in ERROR: " + resetBy + " brings it back to RUNNING";
                LOG.warn("{}", lastFailure);
                throw new ArcFailed(lastFailure, e);
            }
            state = next;
        }
    }

    /** One arc's action (linux/vfio.h and the vfio-user spec's "Direct State Transitions"). */
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

    /**
     * Up to {@code max} bytes of the saving session into {@code out}; fewer (0 at the end) when no more is
     * there now: in PRE_COPY that is the end of the initial section, in STOP_COPY of the stream.
     *
     * @throws Refused outside PRE_COPY and STOP_COPY
     */
    public int read(ByteBuf out, int max) {
        if (state != MigrationState.PRE_COPY && state != MigrationState.STOP_COPY) {
            throw refused("migration data is read in a saving state (PRE_COPY or STOP_COPY) only, and the device is "
                    + "in " + state + "; set one first");
        }
        int n = Math.min(max, saving.readableBytes());
        out.writeBytes(saving, n);
        saving.discardReadBytes();
        return n;
    }

    /**
     * The next {@code length} bytes of the stream written into RESUMING; the header is checked as soon
     * as it is whole, and a foreign one refused at once (as the kernel's mtty refuses one on write): the
     * stream is dropped, and the device stays in RESUMING for a good one (or a reset).
     *
     * @throws Refused       outside RESUMING, or for a header this device does not load
     * @throws TooLarge      past {@link #MAX_LOAD_BYTES}
     */
    public void write(ByteBuf in, int length) {
        if (state != MigrationState.RESUMING) {
            throw refused("migration data is written in RESUMING only, and the device is in " + state
                    + "; set it first (from STOP)");
        }
        if ((long) loading.readableBytes() + length > MAX_LOAD_BYTES) {
            lastFailure = name + ": a migration stream over " + MAX_LOAD_BYTES + " bytes is no hosted device's state: "
                    + "load the stream of a device of this type";
            throw new TooLarge(lastFailure);
        }
        loading.writeBytes(in, length);
        if (!headerChecked) {
            try {
                headerChecked = DeviceStateStream.headerAccepted(device, loading);
            } catch (VfioException e) {
                loading.clear();
                throw refused(e.getMessage());
            }
        }
    }

    private Refused refused(String why) {
        lastFailure = name + ": " + why;
        return new Refused(lastFailure);
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

    /** A device reset: whatever the state (ERROR too), the device is RUNNING afterwards; a session ends. */
    public void reset() {
        enterError(); // drops the sessions
        state = MigrationState.RUNNING;
    }

    /** Its driver left (a client disconnected): a session ends, and a device it left stopped runs again. */
    public void end() {
        MigrationState was = state;
        enterError();
        state = MigrationState.RUNNING;
        if (was != MigrationState.RUNNING && was != MigrationState.PRE_COPY) {
            device.start();
        }
    }

    /** A request this device's migration does not take in its state (a vfio-user server answers EINVAL). */
    public static final class Refused extends VfioException {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message);
        }
    }

    /** An arc's action failed; the device is in ERROR (a vfio-user server answers EINVAL). */
    public static final class ArcFailed extends VfioException {
        private static final long serialVersionUID = 1L;

        ArcFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A stream written into RESUMING is larger than any hosted device's state (a vfio-user server answers ENOMEM). */
    public static final class TooLarge extends VfioException {
        private static final long serialVersionUID = 1L;

        TooLarge(String message) {
            super(message);
        }
    }
}
