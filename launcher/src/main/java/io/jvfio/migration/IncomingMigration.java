package io.jvfio.migration;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.GuestRam;
import io.jvfio.vmm.migration.MigrationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;

/**
 * The destination of a live migration (QEMU's {@code -incoming}, process_incoming_migration_co): listens
 * on a {@code unix:} socket, or opens a {@code file:}, at once; on a thread of its own it takes the stream,
 * checks its {@link StreamHeader} against this machine (refusing another format, another RAM, another
 * device with one message naming what differs), loads the RAM pages and every part's state
 * ({@link io.jvfio.vmm.migration.Migratable#restore}), and acknowledges on the socket. The launcher
 * {@linkplain #awaitLoaded awaits} it and then starts the vCPUs; a load that fails is QEMU's
 * {@code load of migration failed: ...}, after which a jvfio process exits 1.
 */
public final class IncomingMigration {

    private static final Logger LOG = LoggerFactory.getLogger(IncomingMigration.class);
    private static final byte[] ZERO_PAGE = new byte[StreamFormat.PAGE_SIZE];

    private final VirtualMachine vm;
    private final MigrationUri uri;
    private final String jvfioVersion;
    private final Consumer<MigrationStatus> events;
    private final MigrationChannel.Listener listener;
    private final CountDownLatch loaded = new CountDownLatch(1);
    private final Thread thread;
    private volatile MigrationStatus status = MigrationStatus.SETUP;
    private volatile long startNanos;
    private volatile long loadMs = -1;
    private volatile String error;
    private volatile long received;
    private volatile long duplicate;
    private volatile long normal;

    private IncomingMigration(VirtualMachine vm, MigrationUri uri, String jvfioVersion,
            Consumer<MigrationStatus> events, MigrationChannel.Listener listener) {
        this.vm = vm;
        this.uri = uri;
        this.jvfioVersion = jvfioVersion;
        this.events = events;
        this.listener = listener;
        this.thread = new Thread(this::run, "migration-incoming");
        this.thread.setDaemon(true);
    }

    /**
     * Listens on (or opens) {@code uri} now, so that an error of the transport is the caller's at once, and
     * loads the stream into {@code vm} on a thread of its own; {@code events} is told each status.
     */
    static IncomingMigration start(VirtualMachine vm, MigrationUri uri, String jvfioVersion,
            Consumer<MigrationStatus> events) {
        MigrationChannel.Listener l = MigrationChannel.listen(uri);
        IncomingMigration m = new IncomingMigration(vm, uri, jvfioVersion, events, l);
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
     * Waits until the stream is loaded: the machine's RAM and parts hold the source's state, and its vCPUs
     * may start. Returns what {@code query-migrate} reports (its total time is the load's).
     *
     * @throws MigrationException {@code load of migration failed: ...}, naming what differs or where the stream
     *                            broke off
     */
    public MigrationInfo awaitLoaded() throws InterruptedException {
        loaded.await();
        if (status != MigrationStatus.COMPLETED) {
            throw new MigrationException("load of migration failed: " + error);
        }
        return info();
    }

    /** Stops waiting for a source that never came (the machine is closing). */
    public void abort() {
        listener.abort();
    }

    public MigrationInfo info() {
        MigrationStatus s = status;
        if (s == MigrationStatus.SETUP) {
            return new MigrationInfo(s, null, null, null, null, null, null);
        }
        long total = loadMs >= 0 ? loadMs : (System.nanoTime() - startNanos) / 1_000_000;
        MigrationInfo.Ram ram = new MigrationInfo.Ram(received, 0, vm.memory().ram().totalSize(), duplicate, normal,
                normal * StreamFormat.PAGE_SIZE, 0, 0, 0, 0);
        return new MigrationInfo(s, total, null, null, null, ram, s == MigrationStatus.FAILED ? error : null);
    }

    private void run() {
        MigrationChannel c = null;
        try {
            c = listener.accept();
            startNanos = System.nanoTime();
            event(MigrationStatus.ACTIVE);
            Counting counted = new Counting(c.input());
            DataInputStream in = new DataInputStream(counted);
            try {
                load(in, counted);
            } catch (EOFException e) {
                throw new MigrationException("the stream is truncated: it ends after " + counted.count + " bytes, "
                        + "before its end marker (the source stopped sending, or the file is incomplete)", e);
            }
            loadMs = (System.nanoTime() - startNanos) / 1_000_000;
            c.answer(null);
            event(MigrationStatus.COMPLETED);
        } catch (Throwable t) {
            error = t instanceof IOException e ? "reading the stream: " + MigrationChannel.reason(e)
                    : t.getMessage() != null ? t.getMessage() : t.toString();
            LOG.error("load of migration failed: {}", error);
            if (c != null) {
                try {
                    c.answer(error);
                } catch (IOException e) {
                    // the source is gone: nobody to tell
                }
            }
            event(MigrationStatus.FAILED);
        } finally {
            if (c != null) {
                c.close();
            }
            listener.abort();
            loaded.countDown();
        }
    }

    private void load(DataInputStream in, Counting counted) throws IOException {
        List<VirtualMachine.Part> parts = vm.migratables();
        StreamHeader mine = StreamHeader.of(vm, parts, jvfioVersion);
        StreamHeader theirs = StreamHeader.read(in, jvfioVersion);
        theirs.check(mine);
        GuestRam ram = vm.memory().ram();
        byte[] page = new byte[StreamFormat.PAGE_SIZE];
        byte[] current = new byte[StreamFormat.PAGE_SIZE];
        int nextPart = 0;
        while (true) {
            int tag = in.readUnsignedByte();
            switch (tag) {
                case StreamFormat.TAG_PAGE -> {
                    long gpa = pageAddress(in.readLong(), ram);
                    in.readFully(page);
                    ram.write(gpa, page, 0, page.length);
                    normal++;
                }
                case StreamFormat.TAG_ZERO -> {
                    long gpa = pageAddress(in.readLong(), ram);
                    // Left alone when it is zero already: a page never touched stays unallocated.
                    ram.read(gpa, current, 0, current.length);
                    if (!Arrays.equals(current, ZERO_PAGE)) {
                        ram.write(gpa, ZERO_PAGE, 0, ZERO_PAGE.length);
                    }
                    duplicate++;
                }
                case StreamFormat.TAG_ROUND -> in.readInt();
                case StreamFormat.TAG_PART -> {
                    int index = in.readInt();
                    int length = in.readInt();
                    if (index != nextPart || index >= parts.size()) {
                        throw new MigrationException("the stream is corrupt: part " + index + " where part " + nextPart
                                + " was due");
                    }
                    if (length < 0 || length > StreamFormat.MAX_PART_STATE) {
                        throw new MigrationException("the stream is corrupt: part " + index + " claims " + length
                                + " bytes");
                    }
                    byte[] state = new byte[length];
                    in.readFully(state);
                    VirtualMachine.Part p = parts.get(index);
                    try {
                        p.part().restore(state);
                    } catch (RuntimeException e) {
                        throw new MigrationException((p.writesGuestMemory() ? "device '" : "part '") + p.name() + "' ("
                                + p.part().stateId() + ") refused its state: " + e.getMessage(), e);
                    }
                    nextPart++;
                }
                case StreamFormat.TAG_END -> {
                    if (nextPart != parts.size()) {
                        throw new MigrationException("the stream ends after " + nextPart + " of " + parts.size()
                                + " parts' states");
                    }
                    received = counted.count;
                    return;
                }
                default -> throw new MigrationException("the stream is corrupt: record tag " + tag + " at byte "
                        + (counted.count - 1));
            }
            received = counted.count;
        }
    }

    private static long pageAddress(long gpa, GuestRam ram) {
        if ((gpa & (StreamFormat.PAGE_SIZE - 1)) != 0 || ram.find(gpa) == null) {
            throw new MigrationException("the stream is corrupt: a page at 0x" + Long.toHexString(gpa)
                    + ", which is no page of this machine's RAM");
        }
        return gpa;
    }

    private void event(MigrationStatus s) {
        status = s;
        if (events != null) {
            try {
                events.accept(s);
            } catch (RuntimeException e) {
                LOG.error("a migration status listener failed: {}", e.getMessage(), e);
            }
        }
    }

    /** Counts what is read through it. */
    private static final class Counting extends FilterInputStream {
        volatile long count;

        Counting(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                count += n;
            }
            return n;
        }
    }
}
