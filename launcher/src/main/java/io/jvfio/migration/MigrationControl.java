package io.jvfio.migration;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vmm.migration.MigrationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One machine's migrations, as QEMU keeps its current outgoing and incoming migration: the parameters, the
 * listeners, at most one outgoing migration running, and the incoming one a {@code -incoming} asked for.
 * The QMP commands ({@code migrate}, {@code migrate-incoming}, {@code migrate_cancel}, {@code query-migrate})
 * and the launcher act on it; its errors are QEMU's words (migration/migration.c).
 */
public final class MigrationControl {

    private static final Logger LOG = LoggerFactory.getLogger(MigrationControl.class);

    private final VirtualMachine vm;
    private final String jvfioVersion;
    private final MigrationParameters parameters = new MigrationParameters();
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private OutgoingMigration outgoing;
    private IncomingMigration incoming;
    /** {@code -incoming defer}: waiting for {@code migrate-incoming}. */
    private boolean deferred;

    /** The migrations of {@code vm}; {@code jvfioVersion} goes into the streams it sends. */
    public MigrationControl(VirtualMachine vm, String jvfioVersion) {
        this.vm = Objects.requireNonNull(vm, "vm");
        this.jvfioVersion = Objects.requireNonNull(jvfioVersion, "jvfioVersion");
    }

    public VirtualMachine machine() {
        return vm;
    }

    public MigrationParameters parameters() {
        return parameters;
    }

    /** Adds a listener of every migration's steps and statuses from now on (the built-in driver's, QMP's events). */
    public void addListener(MigrationListener listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /**
     * Starts migrating the machine to {@code uri} ({@code migrate}): the blockers are checked first, and
     * nothing starts if one says no. {@code vcpus} stops and restarts the guest.
     *
     * @throws MigrationException in QEMU's words: a migration under way, an incoming one awaited, a bad URI,
     *                            a blocker's reason
     */
    public synchronized OutgoingMigration migrate(String uri, VcpuControl vcpus) {
        MigrationUri where = MigrationUri.parse(uri); // first, as QEMU's qmp_migrate parses before migrate_prepare
        if (outgoing != null && outgoing.status().running()) {
            // QEMU's wording (migration/migration.c, migrate_prepare)
            throw new MigrationException("There's a migration process in progress");
        }
        if (awaitingIncoming()) {
            // QEMU's wording (migration/migration.c, migrate_prepare)
            throw new MigrationException("Guest is waiting for an incoming migration");
        }
        outgoing = OutgoingMigration.start(vm, where, parameters, vcpus, listeners, jvfioVersion);
        return outgoing;
    }

    /** Cancels the outgoing migration, if one runs ({@code migrate_cancel}; nothing otherwise, as in QEMU). */
    public synchronized void cancel() {
        if (outgoing != null) {
            outgoing.cancel();
        }
    }

    /**
     * A source whose migration completed runs again ({@code cont} in {@code postmigrate}): the parts the
     * migration left paused resume.
     */
    public synchronized void resumeAfterCompletion() {
        if (outgoing != null && outgoing.status() == MigrationStatus.COMPLETED) {
            outgoing.resumeParts();
        }
    }

    /**
     * Whether a migration is under way, out or in (QEMU's {@code !migration_is_idle()}): the machine's set of
     * devices must not change meanwhile.
     */
    public synchronized boolean migrating() {
        return (outgoing != null && outgoing.status().running())
                || (incoming != null && incoming.status().running());
    }

    /** The outgoing migration last started; null if none was. */
    public synchronized OutgoingMigration outgoing() {
        return outgoing;
    }

    /**
     * {@code -incoming URI}, or {@code -incoming defer} ({@link MigrationUri#DEFER}, which waits for
     * {@link #migrateIncoming}): the machine is to take its state from a migration (QEMU's run state
     * {@code inmigrate}) before its vCPUs run. Returns the incoming migration, null for {@code defer}.
     */
    public synchronized IncomingMigration incoming(String uri) {
        if (incoming != null || deferred) {
            throw new MigrationException("The incoming migration has already been started");
        }
        if (uri.equals(MigrationUri.DEFER)) {
            deferred = true;
            return null;
        }
        incoming = IncomingMigration.start(vm, MigrationUri.parse(uri), jvfioVersion, this::incomingStatus);
        notifyAll();
        return incoming;
    }

    /**
     * {@code migrate-incoming uri=...} after {@code -incoming defer}.
     *
     * @throws MigrationException in QEMU's words (qmp_migrate_incoming): no {@code -incoming} given, or one
     *                            started already
     */
    public synchronized IncomingMigration migrateIncoming(String uri) {
        if (incoming != null) {
            throw new MigrationException("The incoming migration has already been started");
        }
        if (!deferred) {
            throw new MigrationException("'-incoming' was not specified on the command line");
        }
        IncomingMigration m = IncomingMigration.start(vm, MigrationUri.parse(uri), jvfioVersion, this::incomingStatus);
        deferred = false;
        incoming = m;
        notifyAll();
        return m;
    }

    /**
     * Waits for the incoming migration ({@code -incoming URI}, or {@code -incoming defer} until
     * {@code migrate-incoming} names one) and for its load: the launcher's way to the destination's start,
     * after which it runs the vCPUs.
     *
     * @throws MigrationException {@code load of migration failed: ...} (a jvfio process then exits 1, as QEMU's)
     * @throws IllegalStateException if no {@code -incoming} was given
     */
    public MigrationInfo awaitIncomingLoaded() throws InterruptedException {
        IncomingMigration m;
        synchronized (this) {
            if (incoming == null && !deferred) {
                throw new IllegalStateException("no -incoming was given: there is no incoming migration to await");
            }
            while (incoming == null && !abandoned) {
                wait();
            }
            if (incoming == null) {
                throw new MigrationException(ABANDONED);
            }
            m = incoming;
        }
        return m.awaitLoaded();
    }

    private static final String ABANDONED = "the machine was told to quit before its incoming migration came";
    private boolean abandoned;

    /**
     * The machine is told to quit while it waits for its incoming migration (QMP {@code quit}): the wait ends
     * ({@link #awaitIncomingLoaded} throws), and the listening socket is closed and its file removed.
     */
    public synchronized void abandonIncoming() {
        abandoned = true;
        if (incoming != null && incoming.status() != MigrationStatus.COMPLETED) {
            incoming.abort();
        }
        notifyAll();
    }

    /** The incoming migration started; null before (or without) one. */
    public synchronized IncomingMigration incomingMigration() {
        return incoming;
    }

    /** Whether the machine waits for (or loads) an incoming migration: QEMU's run state {@code inmigrate}. */
    public synchronized boolean awaitingIncoming() {
        return deferred || (incoming != null && incoming.status() != MigrationStatus.COMPLETED);
    }

    /** What {@code query-migrate} reports: the outgoing migration's, else the incoming one's, else none. */
    public synchronized MigrationInfo info() {
        if (outgoing != null) {
            return outgoing.info();
        }
        if (incoming != null) {
            return incoming.info();
        }
        return MigrationInfo.NONE;
    }

    private void incomingStatus(MigrationStatus s) {
        for (MigrationListener l : listeners) {
            try {
                l.statusChanged(s);
            } catch (RuntimeException e) {
                LOG.error("a migration listener failed: {}", e.getMessage(), e);
            }
        }
    }
}
