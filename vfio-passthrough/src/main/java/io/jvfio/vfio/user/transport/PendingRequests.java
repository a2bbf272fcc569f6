package io.jvfio.vfio.user.transport;

import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.jna.LibC;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import java.util.concurrent.locks.LockSupport;

/**
 * The requests an endpoint has sent and awaits replies to, in a fixed set of reusable slots so that a
 * round trip allocates nothing: the caller takes a slot (its index is the low bits of the message
 * ID, a sequence number the high bits), sends, and waits; whoever reads the reply (the caller itself
 * on a connection that {@linkplain VfioUserConnection#readRepliesOnCallers reads replies on the
 * callers' threads}, another caller reading for it, or the event loop) copies it into the slot's
 * own buffer and unparks the caller. A reply whose ID matches no waiting slot (a late reply after a
 * timeout, or a forged one), or that names another command than the request's, is dropped.
 *
 * <p>A slot moves FREE -> WAITING (acquire) -> FILLING (the event loop copies a reply in) -> DONE ->
 * FREE (release). A waiter that gives up releases straight from WAITING; it cannot while the event
 * loop is FILLING, so a late reply never lands in a slot a newer request has taken.
 */
public final class PendingRequests {

    static final int SLOTS = 64;
    /** Room in a slot's own request buffer: a header and a REGION_WRITE of 8 bytes, with room to spare. */
    static final int REQUEST_CAPACITY = 64;
    private static final int INDEX_MASK = SLOTS - 1;
    private static final int INDEX_BITS = 6;

    /** A slot whose reply may name any command (the server's own requests, which check what comes back). */
    static final int ANY_COMMAND = -1;

    private static final int FREE = 0;
    static final int WAITING = 1;
    private static final int FILLING = 2;
    static final int DONE = 3;
    private static final AtomicIntegerFieldUpdater<Slot> STATE = AtomicIntegerFieldUpdater.newUpdater(Slot.class,
            "state");

    /** One request in flight and, once it arrives, its reply. */
    public static final class Slot {
        final int index;
        public int id;
        volatile int state = FREE;
        volatile Thread waiter;
        /**
         * The reply's payload (header excluded), reused from request to request. A heap buffer: the
         * garbage collector reclaims it with the slot, which a pooled buffer nobody released would not.
         */
        public final ByteBuf payload = Unpooled.buffer(256);
        /**
         * The slot's own request buffer for short requests (register accesses): reused, never released,
         * so a round trip allocates nothing. JDK-owned direct memory, freed with the slot.
         */
        public final ByteBuf request = Unpooled.wrappedBuffer(ByteBuffer.allocateDirect(REQUEST_CAPACITY)).clear();
        /**
         * Room for one register's value (up to 8 bytes), little-endian: a region read's reply data is
         * copied here to be decoded, which allocates nothing.
         */
        public final ByteBuffer register = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        public int[] fds;
        /**
         * Where a bulk reply's data goes (native memory, e.g. a caller's buffer), or 0: the reply's
         * payload from byte {@link #targetFrom} on is copied there (at most {@link #targetLength}
         * bytes; {@link #targetReceived} says how many came), and only what comes before it into
         * {@link #payload}, so that a 1 MiB REGION_READ is copied once, into its destination.
         */
        public long target;
        public int targetFrom;
        public int targetLength;
        public int targetReceived;
        int command;
        public boolean error;
        public int errno;
        private int sequence;

        Slot(int index) {
            this.index = index;
        }
    }

    private final Slot[] slots = new Slot[SLOTS];
    private int next;
    private volatile boolean closed;

    public PendingRequests() {
        for (int i = 0; i < SLOTS; i++) {
            slots[i] = new Slot(i);
        }
    }

    /** Takes a free slot and gives it a fresh message ID; waits if all are in flight. Any command's reply fits. */
    public Slot acquire() {
        return acquire(ANY_COMMAND);
    }

    /**
     * As {@link #acquire()}, for a request of {@code command}: only a reply with the same message ID
     * and the same command completes it (spec, "Header": a reply carries both of its command).
     */
    public Slot acquire(int command) {
        while (true) {
            synchronized (this) {
                if (closed) {
                    throw new VfioUserException(Errno.ENOTCONN, "the connection is closed");
                }
                for (int i = 0; i < SLOTS; i++) {
                    Slot s = slots[(next + i) & INDEX_MASK];
                    if (s.state == FREE) {
                        next = (s.index + 1) & INDEX_MASK;
                        s.sequence = (s.sequence + 1) & ((1 << (16 - INDEX_BITS)) - 1);
                        s.id = (s.sequence << INDEX_BITS) | s.index;
                        s.command = command;
                        s.error = false;
                        s.errno = 0;
                        s.fds = null;
                        s.target = 0;
                        s.targetReceived = 0;
                        s.payload.clear();
                        s.waiter = Thread.currentThread();
                        s.state = WAITING;
                        return s;
                    }
                }
            }
            Thread.yield(); // all 64 in flight: let a reply through
        }
    }

    /**
     * By whoever read the reply (the event loop, or a caller reading the socket): completes the slot
     * this reply answers. Returns false if none waits for it
     * (the caller then closes any fds the reply carried).
     */
    public boolean complete(VfioUserMessage reply) {
        Slot s = slots[reply.id() & INDEX_MASK];
        if (!STATE.compareAndSet(s, WAITING, FILLING)) {
            return false;
        }
        if (s.id != reply.id() || (s.command != ANY_COMMAND && s.command != reply.commandNumber())) {
            // A late reply to an earlier request in this slot; or one naming another command, which
            // cannot be this request's answer (QEMU's client matches the ID alone and would take it).
            s.state = WAITING;
            return false;
        }
        try {
            s.error = reply.isError();
            s.errno = reply.error();
            int n = reply.payloadSize();
            s.payload.clear();
            if (reply.dataReceived()) {
                // The data came straight into the target (receiveTarget): only the access header is here.
                reply.payloadBytes(0, s.payload, s.targetFrom);
                s.targetReceived = n - s.targetFrom;
            } else if (s.target != 0 && n > s.targetFrom && !s.error) {
                int data = Math.min(n - s.targetFrom, s.targetLength);
                reply.payloadBytes(0, s.payload, s.targetFrom);
                reply.payloadTo(s.targetFrom, s.target, data);
                s.targetReceived = data;
            } else {
                s.payload.ensureWritable(n);
                reply.payloadBytes(0, s.payload, n);
            }
            s.fds = reply.fds().length > 0 ? reply.fds().clone() : null;
        } catch (RuntimeException | Error e) {
            // Never left FILLING (its waiter's release would wait for ever): answered as failed (EIO).
            s.error = true;
            s.errno = Errno.EIO.number();
            s.state = DONE;
            LockSupport.unpark(s.waiter);
            throw e;
        }
        s.state = DONE;
        LockSupport.unpark(s.waiter);
        return true;
    }

    /**
     * Where the data of the large reply {@code head} (its header and access header, arrived) may be
     * received straight from the socket: the target of the slot it answers, if that slot waits for
     * exactly this much data after a {@link VfioUserConnection#DIRECT_PREFIX}-byte access header and
     * the thread reading is the slot's own waiter; else 0. Only the waiter: it reads on until the
     * reply is whole (or the connection fails) and cannot release the slot, and free its memory,
     * meanwhile; a reply another thread reads for it is copied in whole instead ({@link #complete}).
     */
    public long receiveTarget(VfioUserMessage head) {
        Slot s = slots[head.id() & INDEX_MASK];
        if (s.state != WAITING || s.waiter != Thread.currentThread() || s.id != head.id() || s.target == 0
                || head.isError() || (s.command != ANY_COMMAND && s.command != head.commandNumber())
                || s.targetFrom != VfioUserConnection.DIRECT_PREFIX
                || head.payloadSize() != s.targetFrom + (long) s.targetLength) {
            return 0;
        }
        return s.target;
    }

    /**
     * Waits for the slot's reply for at most {@code timeoutNanos}. Returns true when it came, false on
     * timeout; throws if the connection closed meanwhile.
     */
    public boolean await(Slot s, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        // A pending interrupt would make every park return at once (a spin): taken, and set again at
        // the end; it does not end the wait, as the reply is still owed and the slot still ours.
        boolean interrupted = Thread.interrupted();
        try {
            while (s.state != DONE) {
                if (closed) {
                    throw new VfioUserException(Errno.ENOTCONN, "the connection closed before the reply came");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                LockSupport.parkNanos(this, left);
                interrupted |= Thread.interrupted();
            }
            return true;
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Wakes every thread waiting for a reply (but the calling one): the thread that read the socket
     * for them has let go of it, so one of them reads next ({@link VfioUserConnection#awaitReply}).
     */
    void wakeWaiters() {
        Thread self = Thread.currentThread();
        for (Slot s : slots) {
            Thread t = s.waiter;
            if (t != null && t != self && s.state == WAITING) {
                LockSupport.unpark(t);
            }
        }
    }

    /** Frees the slot; fds of a reply nobody took are closed. */
    public void release(Slot s) {
        // Hold the slot in FILLING while clearing it, so a late reply cannot complete it meanwhile.
        while (s.state != DONE && !STATE.compareAndSet(s, WAITING, FILLING)) {
            Thread.onSpinWait(); // the event loop is copying a reply in
        }
        if (s.fds != null) {
            for (int fd : s.fds) {
                LibC.close(fd);
            }
            s.fds = null;
        }
        s.waiter = null;
        s.state = FREE;
    }

    /** The connection is gone: every waiter wakes up and fails. */
    public void close() {
        closed = true;
        for (Slot s : slots) {
            Thread t = s.waiter;
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }
}
