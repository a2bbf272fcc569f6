package io.jvfio.vfio.migration;

import io.jvfio.vfio.VfioException;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vfio.migration.MigrationState.ERROR;
import static io.jvfio.vfio.migration.MigrationState.PRE_COPY;
import static io.jvfio.vfio.migration.MigrationState.PRE_COPY_P2P;
import static io.jvfio.vfio.migration.MigrationState.RESUMING;
import static io.jvfio.vfio.migration.MigrationState.RUNNING;
import static io.jvfio.vfio.migration.MigrationState.RUNNING_P2P;
import static io.jvfio.vfio.migration.MigrationState.STOP;
import static io.jvfio.vfio.migration.MigrationState.STOP_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;

/**
 * VFIO migration v2's state machine (linux/vfio.h, "enum vfio_device_mig_state"): which single arcs
 * exist, and the shortest legal walk from one state to another for a device with a given set of
 * VFIO_MIGRATION_* flags. A device (a Java device behind vfio-user, which the server must step as the
 * kernel steps its drivers) is only ever moved along an arc: a request for a farther state is taken
 * one arc at a time, so that each arc's action (stop DMA, start a data stream, load) runs once, in
 * order.
 *
 * <p>The arcs and the preferred next step toward each target are the kernel's, as its
 * {@code vfio_mig_get_next_state} (drivers/vfio/vfio_main.c) defines them: where a device lacks an
 * optional state (P2P or PRE_COPY), the walk passes over it to the next one it has, and the
 * PRE_COPY states cannot be reached from STOP_COPY at all (the data stream is already ending).
 */
public final class MigrationStateMachine {

    private static final MigrationState[] STATES = MigrationState.values();
    /** NEXT[from][to]: the kernel's preferred first arc from {@code from} toward {@code to}. */
    private static final MigrationState[][] NEXT = new MigrationState[STATES.length][STATES.length];

    static {
        //     from          toward:   STOP       RUNNING    STOP_COPY  RESUMING   RUNNING_P2P  PRE_COPY  PRE_COPY_P2P
        row(STOP,         STOP,      RUNNING_P2P, STOP_COPY, RESUMING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P);
        row(RUNNING,      RUNNING_P2P, RUNNING, RUNNING_P2P, RUNNING_P2P, RUNNING_P2P, PRE_COPY, RUNNING_P2P);
        row(STOP_COPY,    STOP,      STOP,      STOP_COPY, STOP,      STOP,        ERROR,     ERROR);
        row(RESUMING,     STOP,      STOP,      STOP,      RESUMING,  STOP,        STOP,      STOP);
        row(RUNNING_P2P,  STOP,      RUNNING,   STOP,      STOP,      RUNNING_P2P, RUNNING,   PRE_COPY_P2P);
        row(PRE_COPY,     RUNNING,   RUNNING,   PRE_COPY_P2P, RUNNING, RUNNING,    PRE_COPY,  PRE_COPY_P2P);
        row(PRE_COPY_P2P, RUNNING_P2P, RUNNING_P2P, STOP_COPY, RUNNING_P2P, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P);
        for (MigrationState to : STATES) {
            NEXT[ERROR.ordinal()][to.ordinal()] = ERROR;
            NEXT[to.ordinal()][ERROR.ordinal()] = ERROR;
        }
    }

    private static void row(MigrationState from, MigrationState... towardStopRunningStopCopyResumingP2pPreCopyPreCopyP2p) {
        MigrationState[] order = {STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P};
        for (int i = 0; i < order.length; i++) {
            NEXT[from.ordinal()][order[i].ordinal()] = towardStopRunningStopCopyResumingP2pPreCopyPreCopyP2p[i];
        }
    }

    private final int migrationFlags;

    /** The machine of a device offering {@code migrationFlags} (VFIO_MIGRATION_*; STOP_COPY is mandatory). */
    public MigrationStateMachine(int migrationFlags) {
        if ((migrationFlags & VFIO_MIGRATION_STOP_COPY) == 0) {
            throw new VfioException("a migratable device must offer VFIO_MIGRATION_STOP_COPY (flags 0x"
                    + Integer.toHexString(migrationFlags) + "): without it there is no way to read its state");
        }
        this.migrationFlags = migrationFlags;
    }

    public int migrationFlags() {
        return migrationFlags;
    }

    /**
     * The first arc from {@code from} toward {@code to} on this device (passing over states it lacks),
     * {@code to} itself when it is one arc away, {@code from} when they are equal.
     *
     * @throws VfioException if either state does not exist on this device, or {@code to} cannot be
     *                       reached from {@code from} (into ERROR, out of ERROR, STOP_COPY to PRE_COPY)
     */
    public MigrationState next(MigrationState from, MigrationState to) {
        require(from, "current");
        require(to, "requested");
        if (from == to && from != ERROR) {
            return from;
        }
        MigrationState next = NEXT[from.ordinal()][to.ordinal()];
        while (next != ERROR && !next.supportedBy(migrationFlags)) {
            next = NEXT[next.ordinal()][to.ordinal()];
        }
        if (next == ERROR) {
            throw new VfioException("no migration arc leads from " + from + " to " + to
                    + (from == ERROR ? ": a device in ERROR must be reset first" : to == ERROR
                    ? ": ERROR is where a failed transition leaves a device, not a state to ask for"
                    : ": once STOP_COPY has begun the stream ends; go to STOP (or RUNNING) and start again"));
        }
        return next;
    }

    /** The walk from {@code from} to {@code to}: each state entered, in order ({@code to} last; empty if equal). */
    public List<MigrationState> path(MigrationState from, MigrationState to) {
        List<MigrationState> path = new ArrayList<>();
        MigrationState at = from;
        if (from == ERROR || to == ERROR) {
            next(from, to); // says why
        }
        while (at != to) {
            at = next(at, to);
            path.add(at);
            if (path.size() > STATES.length) {
                throw new IllegalStateException("the migration walk from " + from + " to " + to + " does not end: " + path);
            }
        }
        return path;
    }

    private void require(MigrationState state, String which) {
        if (state != ERROR && !state.supportedBy(migrationFlags)) {
            throw new VfioException("the " + which + " migration state " + state + " does not exist on a device "
                    + "offering " + MigrationFlags.describe(migrationFlags) + "; it needs "
                    + MigrationFlags.describe(state.requiredFlags));
        }
    }
}
