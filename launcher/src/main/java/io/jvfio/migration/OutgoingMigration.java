package io.jvfio.migration;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One outgoing live migration, on a thread of its own (QEMU's migration thread, migration/migration.c):
 * setup (the transport, the header, every dirty log started), RAM pre-copy while the machine runs (round 0
 * all of it, then the pages written since, until what is left would go within {@code downtime-limit} at
 * the bandwidth measured, or {@link #MAX_ROUNDS} rounds), then the stop: the vCPUs stopped, every part
 * paused, the last dirty pages (all of RAM when a writer is not logged), each part's state, the end, and on
 * a socket the destination's acknowledgement, where the downtime ends. A failure anywhere, or
 * {@link #cancel}, resumes every part, runs the vCPUs again if they ran, stops the logs, and leaves the
 * status {@code failed} (with the error) or {@code cancelled}.
 */
public final class OutgoingMigration {

    /**
     * The most rounds of dirty pages before the machine is stopped whatever is left. QEMU iterates without
     * a bound while the guest dirties faster than the stream carries; jvfio stops instead, which lengthens
     * the downtime of such a guest but always ends.
     */
    public static final int MAX_ROUNDS = 30;

    private static final Logger LOG = LoggerFactory.getLogger(OutgoingMigration.class);

    private final VirtualMachine vm;
    private final MigrationUri uri;
    private final MigrationParameters parameters;
    private final VcpuControl vcpus;
    private final List<MigrationListener> listeners;
    private final List<VirtualMachine.Part> parts;
    private final String jvfioVersion;
    private final CountDownLatch ended = new CountDownLatch(1);
    private final Thread thread;

    private volatile MigrationStatus status = MigrationStatus.SETUP;
    private volatile boolean cancelRequested;
    /**
     * The end marker is on its way: from here a cancel is no longer taken, since the destination may already
     * have the whole machine and run it; the destination's answer decides (guarded by {@code this}, with
     * {@link #cancelRequested}).
     */
    private boolean endWritten;
    /** The machine is stopped for the last round, which {@code max-bandwidth} no longer throttles (QEMU's). */
    private volatile boolean lastRound;
    private volatile MigrationChannel channel;
    private volatile String returnPathError;
    private final CountDownLatch answered = new CountDownLatch(1);

    // What query-migrate reports; written by the migration's thread only.
    private final long startNanos = System.nanoTime();
    private volatile long setupMs = -1;
    private volatile long totalMs = -1;
    private volatile long downtimeMs = -1;
    private volatile long expectedDowntimeMs;
    private volatile long remainingBytes;
    private volatile long duplicate;
    private volatile long normal;
    private volatile long dirtySyncCount;
    private volatile double mbps;
    private volatile long dirtyPagesRate;
    private volatile double pagesPerSecond;
    private volatile String error;
    private volatile StreamWriter writer;

    private OutgoingMigration(VirtualMachine vm, MigrationUri uri, MigrationParameters parameters, VcpuControl vcpus,
            List<MigrationListener> listeners, List<VirtualMachine.Part> parts, String jvfioVersion) {
        this.vm = vm;
        this.uri = uri;
        this.parameters = parameters;
        this.vcpus = vcpus;
        this.listeners = listeners;
        this.parts = parts;
        this.jvfioVersion = jvfioVersion;
        this.thread = new Thread(this::run, "migration");
        this.thread.setDaemon(true);
    }

    /**
     * Checks every part's blocker (the first one's words are the error, and nothing starts), then starts
     * the migration on its thread; {@code listeners} are told of its steps and statuses.
     *
     * @throws MigrationException with a blocker's words
     */
    static OutgoingMigration start(VirtualMachine vm, MigrationUri uri, MigrationParameters parameters,
            VcpuControl vcpus, List<MigrationListener> listeners, String jvfioVersion) {
        List<VirtualMachine.Part> parts = vm.migratables();
        for (VirtualMachine.Part p : parts) {
            String blocker = p.part().migrationBlocker();
            if (blocker != null) {
                throw new MigrationException(blocker);
            }
        }
        OutgoingMigration m = new OutgoingMigration(vm, uri, parameters, vcpus, List.copyOf(listeners), parts,
                jvfioVersion);
        m.event(MigrationStatus.SETUP);
        m.thread.start();
        return m;
    }

    public MigrationUri uri() {
        return uri;
    }

    public MigrationStatus status() {
        return status;
    }

    /**
     * Cancels it (QEMU's {@code migrate_cancel}): the transport is closed under the stream, and the
     * migration's thread resumes the machine. Returns at once; nothing happens to one that has ended.
     */
    public void cancel() {
        synchronized (this) {
            if (!status.running() || endWritten) {
                return;
            }
            cancelRequested = true;
            event(MigrationStatus.CANCELLING); // under the lock: before the thread can say CANCELLED
        }
        MigrationChannel c = channel;
        if (c != null) {
            c.close();
        }
        thread.interrupt();
    }

    /** Resumes every part (after a completed migration, when the source runs again). */
    void resumeParts() {
        for (int i = parts.size() - 1; i >= 0; i--) {
            parts.get(i).part().resume();
        }
    }

    /** Waits at most {@code timeout} for it to end; returns its info then, or null if it still runs. */
    public MigrationInfo awaitEnd(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toNanos(), TimeUnit.NANOSECONDS) ? info() : null;
    }

    /** What {@code query-migrate} reports of it now. */
    public MigrationInfo info() {
        MigrationStatus s = status;
        if (s == MigrationStatus.SETUP) {
            return new MigrationInfo(s, null, null, null, null, null, null);
        }
        long total = totalMs >= 0 ? totalMs : elapsedMs(startNanos);
        StreamWriter w = writer;
        long ramTotal = vm.memory().ram().totalSize();
        MigrationInfo.Ram ram = new MigrationInfo.Ram(w == null ? 0 : w.transferred(), remainingBytes, ramTotal,
                duplicate, normal, normal * StreamFormat.PAGE_SIZE, dirtySyncCount, mbps, dirtyPagesRate,
                pagesPerSecond);
        return new MigrationInfo(s, total, setupMs >= 0 ? setupMs : null,
                s == MigrationStatus.COMPLETED ? downtimeMs : null,
                s == MigrationStatus.ACTIVE ? expectedDowntimeMs : null, ram,
                s == MigrationStatus.FAILED ? error : null);
    }

    // ---- the migration's thread ----

    private void run() {
        List<DirtyLog> logs = new ArrayList<>();
        Deque<Migratable> paused = new ArrayDeque<>();
        boolean stopped = false;
        boolean wereRunning = false;
        try {
            MigrationChannel c = MigrationChannel.connect(uri);
            channel = c;
            if (cancelRequested) {
                throw new Cancelled();
            }
            if (c.hasReturnPath()) {
                startReturnPath(c);
            }
            StreamWriter w = new StreamWriter(c.output(), () -> lastRound ? 0 : parameters.maxBandwidth());
            writer = w;
            w.header(StreamHeader.of(vm, parts, jvfioVersion));
            each(MigrationListener::setup);
            GuestRam ram = vm.memory().ram();
            MigrationBitmap dirty = new MigrationBitmap(ram.regions());
            boolean logsEveryWriter = vm.vcpuWritesLogged();
            for (DirtyLog l : vm.dirtyLogs()) {
                l.start();
                logs.add(l);
            }
            for (VirtualMachine.Part p : parts) {
                DirtyLog l = p.part().dirtyLog();
                if (l != null) {
                    l.start();
                    logs.add(l);
                } else if (p.writesGuestMemory()) {
                    logsEveryWriter = false;
                }
            }
            setupMs = elapsedMs(startNanos);
            event(MigrationStatus.ACTIVE);

            // Pre-copy: round 0 sends every page, each later round what the logs reported meanwhile.
            dirty.setAll();
            byte[] page = new byte[StreamFormat.PAGE_SIZE];
            int round = 0;
            while (true) {
                long roundStart = System.nanoTime();
                long bytesBefore = w.transferred();
                long pages = sendPages(w, ram, dirty, page);
                w.round(round);
                w.flush();
                sync(logs, dirty);
                long roundNanos = Math.max(1, System.nanoTime() - roundStart);
                long sent = w.transferred() - bytesBefore;
                double bytesPerMs = sent * 1e6 / roundNanos;
                mbps = sent * 8.0 / 1e6 / (roundNanos / 1e9);
                pagesPerSecond = pages / (roundNanos / 1e9);
                long dirtyPages = dirty.pages();
                dirtyPagesRate = (long) (dirtyPages / (roundNanos / 1e9));
                remainingBytes = dirtyPages * StreamFormat.PAGE_SIZE;
                expectedDowntimeMs = (long) (remainingBytes / Math.max(bytesPerMs, 1e-3));
                round++;
                LOG.debug("migration round {}: {} pages, {} bytes in {} ms; {} pages dirty, expected downtime {} ms",
                        round - 1, pages, sent, roundNanos / 1_000_000, dirtyPages, expectedDowntimeMs);
                if (expectedDowntimeMs <= parameters.downtimeLimitMs() || round >= MAX_ROUNDS) {
                    break;
                }
            }

            // The stop: the downtime runs from here to the destination's acknowledgement. A guest side that
            // cannot stop its writers (the host-side driver's step) fails the migration here: a write after the
            // last collect would be lost.
            for (MigrationListener l : listeners) {
                l.stopping();
            }
            long downtimeStart = System.nanoTime();
            wereRunning = vcpus.stopForMigration();
            stopped = true;
            lastRound = true;
            event(MigrationStatus.DEVICE);
            for (VirtualMachine.Part p : parts) {
                // Counted as paused before it pauses: a pause that fails half-way is resumed with the rest.
                paused.push(p.part());
                p.part().pause();
            }
            sync(logs, dirty);
            if (!logsEveryWriter) {
                dirty.setAll(); // a writer without a log: only all of RAM is sure to be the last state
            }
            sendPages(w, ram, dirty, page);
            w.round(round);
            remainingBytes = 0;
            for (int i = 0; i < parts.size(); i++) {
                VirtualMachine.Part p = parts.get(i);
                byte[] state;
                try {
                    state = p.part().snapshot();
                } catch (RuntimeException e) {
                    throw new MigrationException("part '" + p.name() + "' (" + p.part().stateId() + "): its state "
                            + "could not be taken: " + e.getMessage(), e);
                }
                w.part(i, state);
            }
            synchronized (this) {
                if (cancelRequested) {
                    throw new Cancelled();
                }
                endWritten = true;
            }
            w.end();
            c.force();
            if (c.hasReturnPath()) {
                awaitAnswer();
            }
            downtimeMs = elapsedMs(downtimeStart);
            stopLogs(logs);
            totalMs = elapsedMs(startNanos);
            c.close();
            vcpus.completed();
            event(MigrationStatus.COMPLETED);
            each(MigrationListener::completed);
        } catch (Throwable t) {
            Thread.interrupted(); // a cancel's interrupt has done its work: resuming must not see it
            String reason = describe(t);
            for (Migratable m : paused) {
                try {
                    m.resume();
                } catch (RuntimeException e) {
                    LOG.error("resuming a part after the migration failed: {}", e.getMessage(), e);
                }
            }
            if (stopped) {
                try {
                    vcpus.resumeAfterFailure(wereRunning);
                } catch (RuntimeException e) {
                    LOG.error("running the vCPUs again after the migration failed: {}", e.getMessage(), e);
                }
            }
            stopLogs(logs);
            MigrationChannel c = channel;
            if (c != null) {
                c.close();
            }
            totalMs = elapsedMs(startNanos);
            if (cancelRequested) {
                event(MigrationStatus.CANCELLED);
                each(l -> l.failed("cancelled"));
            } else {
                error = reason;
                LOG.warn("migration to {} failed: {}", uri, reason);
                event(MigrationStatus.FAILED);
                each(l -> l.failed(reason));
            }
            if (t instanceof Error e) {
                throw e;
            }
        } finally {
            ended.countDown();
        }
    }

    /** Sends every dirty page, clearing the bitmap; returns how many. */
    private long sendPages(StreamWriter w, GuestRam ram, MigrationBitmap dirty, byte[] page) throws IOException {
        long[] n = {0};
        dirty.drain(gpa -> {
            if (cancelRequested) {
                throw new Cancelled();
            }
            ram.read(gpa, page, 0, page.length);
            if (w.page(gpa, page)) {
                normal++;
            } else {
                duplicate++;
            }
            n[0]++;
        });
        return n[0];
    }

    private void sync(List<DirtyLog> logs, MigrationBitmap dirty) {
        for (DirtyLog l : logs) {
            l.collect(dirty);
        }
        dirtySyncCount++;
    }

    private static void stopLogs(List<DirtyLog> logs) {
        for (DirtyLog l : logs) {
            try {
                l.stop();
            } catch (RuntimeException e) {
                LOG.error("stopping a dirty log: {}", e.getMessage(), e);
            }
        }
        logs.clear();
    }

    /** The return path: the destination's one answer, read on a thread of its own while the stream goes out. */
    private void startReturnPath(MigrationChannel c) {
        DataInputStream in = c.answers();
        Thread t = new Thread(() -> {
            try {
                String refusal = c.readAnswer(in);
                if (refusal != null) {
                    returnPathError = "the destination refused the stream: " + refusal;
                    c.close(); // the writer stops at once, with the destination's reason
                }
            } catch (IOException e) {
                if (!cancelRequested && status != MigrationStatus.COMPLETED) {
                    returnPathError = "the destination went away: " + MigrationChannel.reason(e);
                }
            } finally {
                answered.countDown();
            }
        }, "migration-return-path");
        t.setDaemon(true);
        t.start();
    }

    private void awaitAnswer() throws InterruptedException {
        answered.await();
        if (cancelRequested) {
            throw new Cancelled();
        }
        if (returnPathError != null) {
            throw new MigrationException(returnPathError);
        }
    }

    private String describe(Throwable t) {
        if (returnPathError != null) {
            return returnPathError;
        }
        if (t instanceof IOException e) {
            MigrationChannel c = channel;
            return c != null ? c.writeFailure(e) : MigrationChannel.reason(e);
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    private void each(Consumer<MigrationListener> call) {
        for (MigrationListener l : listeners) {
            try {
                call.accept(l);
            } catch (RuntimeException e) {
                LOG.error("a migration listener failed: {}", e.getMessage(), e);
            }
        }
    }

    /**
     * The status becomes {@code s}, and the listeners hear it, in the order of the changes. Once CANCELLING,
     * only an end follows (as QEMU's migrate_set_state, a compare-and-set from the state expected): the
     * thread's next phase, reached as the cancel came, is not announced after it.
     */
    private synchronized void event(MigrationStatus s) {
        if (status == MigrationStatus.CANCELLING && s.running()) {
            return;
        }
        status = s;
        each(l -> l.statusChanged(s));
    }

    private static long elapsedMs(long since) {
        return (System.nanoTime() - since) / 1_000_000;
    }

    /** Thrown on the migration's thread when a cancel is seen between pages. */
    private static final class Cancelled extends MigrationException {
        private static final long serialVersionUID = 1L;

        Cancelled() {
            super("cancelled");
        }
    }
}
