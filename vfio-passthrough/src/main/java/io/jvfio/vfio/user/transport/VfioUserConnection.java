package io.jvfio.vfio.user.transport;

import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SocketMessage;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;

import io.netty.util.concurrent.ScheduledFuture;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_DONTWAIT;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_WAITALL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SHUT_RDWR;

/**
 * One vfio-user connection: a UNIX stream socket registered with a Netty epoll event loop as an
 * {@link EpollIoHandle}, so it runs on Netty's loop with Netty's pooled buffers, while its one read
 * and one write are {@code recvmsg}/{@code sendmsg} through JNA, which carry the message bytes and
 * their file descriptors in the same call (Netty's own channels cannot).
 *
 * <p>Messages are framed by the header's size. The kernel attaches fds to the bytes of the sendmsg
 * that carried them and ends a recvmsg right after those bytes, even when earlier messages' bytes
 * came first in the same read: so the fds of a read belong to the message holding its last byte
 * (each sender sends a message's fds with its header, as the spec requires).
 * A size below the header's or above the largest message is a framing error: the stream cannot be
 * resynchronised, so the connection closes.
 *
 * <p>Sending works from any thread: while nothing is queued it goes straight to the socket; what the
 * socket will not take yet is queued and written when epoll says it can be, on the event loop.
 *
 * <p>A server's session reads on a thread of its own ({@link #openOnOwnThread}): a blocking recvmsg
 * per read, each request read and answered on that thread, with no epoll wake-up before it; the
 * event loop only writes what the socket did not take at once, runs the limits' timers and closes.
 *
 * <p>Otherwise, receiving is done under one lock by whoever holds it: the event loop, or, on a connection that
 * {@link #readRepliesOnCallers reads replies on the callers' threads} (the client's), a thread waiting
 * for its own reply ({@link #awaitReply}). Such a thread sends, then reads the socket itself with a
 * blocking recvmsg until its reply has come, handing every other message it reads (another thread's
 * reply, a server's DMA_READ/DMA_WRITE) to the listener on the way: a round trip is one sendmsg and
 * one recvmsg on the calling thread, with no hand-off between threads (cloud-hypervisor's client has
 * the same shape). While callers read, the event loop stops watching the socket (epoll would wake it
 * for every reply the caller reads) and looks again once no caller has read for a millisecond, so
 * that the peer's own messages are served while nobody waits for a reply. Threads waiting while
 * another reads park; the reader completes their replies, and whoever lets go of the lock wakes them,
 * so that one of them reads next.
 *
 * <p>A peer is held to its {@link ConnectionLimits} (issue 13 items 6 and 7), on the event loop with
 * its timers and no thread of its own:
 * <ul>
 *   <li>Back-pressure: while the output queued for the peer is above the high water mark, no further
 *       message is read (EPOLLIN is dropped and what is already buffered waits), so a peer that sends
 *       requests and reads no replies cannot make this end produce more; reading resumes at the low
 *       water mark. The high mark leaves room for one largest reply, so replies never pass the bound.</li>
 *   <li>A message this end starts itself (a server's DMA_READ/WRITE, a client's request) that would
 *       take the queued output past the bound closes the connection.</li>
 *   <li>Queued output that makes no progress for the write-stall timeout closes the connection.</li>
 *   <li>A message whose first byte has arrived must arrive whole within the message timeout. Silence
 *       between messages is never timed.</li>
 * </ul>
 * Each close names the bound and the property that sets it, in one line (the listener's cause).
 */
public final class VfioUserConnection implements EpollIoHandle {

    /** Told what arrives, on the event loop. */
    public interface Listener {
        /** A whole message; the listener owns its fds and keeps nothing of the message after returning. */
        void onMessage(VfioUserConnection connection, VfioUserMessage message);

        /** The connection is closed; {@code cause} is null when the peer closed it or we did. */
        void onClose(VfioUserConnection connection, Throwable cause);

        /**
         * A message of more than {@value VfioUserConnection#DIRECT_MIN} bytes has begun to arrive: {@code head} holds
         * its header and the first {@value VfioUserConnection#DIRECT_PREFIX} bytes of its payload (the access header
         * of REGION_READ/WRITE and DMA_READ/WRITE), no more. Returns where in native memory to
         * receive the rest of its payload straight from the socket, or 0 (the default) to have it
         * buffered. The memory must stay the listener's to write until the message comes whole
         * ({@link VfioUserMessage#dataReceived} then says the data is there, not in the message)
         * or the connection closes; it is written before the message is whole, so only for
         * memory that a message cut short may leave half written (a RAM BAR: a write the peer
         * did not finish). Called on whichever thread reads, as {@link #onMessage} is.
         */
        default long receiveTarget(VfioUserConnection connection, VfioUserMessage head) {
            return 0;
        }
    }

    /** The least message whose payload may be received straight into its destination. */
    public static final int DIRECT_MIN = 64 * 1024;
    /** The payload bytes a listener sees before it names where the rest goes: the access header. */
    public static final int DIRECT_PREFIX = 16;

    /** The fds we accept in one message: more than we announce, for a peer that ignores it. */
    public static final int MAX_RECEIVE_FDS = 64;
    /** The largest message: the largest data transfer we accept, and room for its header and payload. */
    public static final int MAX_MESSAGE = VfioUserVersion.MAX_DATA_XFER + 64 * 1024;

    private static final int READ_CHUNK = 64 * 1024;
    /**
     * The socket buffers asked for (SO_SNDBUF/SO_RCVBUF; the kernel doubles it, within
     * net.core.wmem_max): room for two largest messages, so that a 1 MiB transfer goes out in one
     * sendmsg. The default (208 KiB) took one in about five.
     */
    static final int SOCKET_BUFFER = 2 * MAX_MESSAGE;
    private static final int[] NO_FDS = new int[0];
    /**
     * The interest while this end reads nothing: EPOLLET alone. Not {@link EpollIoOps#NONE}: Netty
     * (4.2) takes NONE for EPOLL_CTL_DEL and keeps the registration "added", so the next interest
     * (an EPOLL_CTL_MOD) fails with ENOENT. Edge-triggered, the hang-up epoll reports whatever the
     * interest comes once, not on every wait.
     */
    private static final EpollIoOps NOT_READING = EpollIoOps.EPOLLET;
    /** EPOLLHUP, which epoll reports whatever the interest (Netty's EpollIoOps has no constant for it). */
    private static final int EPOLLHUP = 0x10;
    /**
     * How long the event loop leaves the socket to the callers once one has read on its own: it looks
     * after this long and watches again if no caller has read since; while callers keep reading it
     * looks half as often each time, down to once per {@link #CALLERS_IDLE_MAX_NANOS}. A message of the
     * peer's own (a DMA request through the socket: rare, as guest RAM is shared by fd) that comes while
     * nobody waits for a reply waits at most about twice the period of the moment: 2 ms after a
     * moment's use, 32 ms after a long spell of round trips.
     */
    private static final long CALLERS_IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    /**
     * The longest period of the look at idle callers. A fixed 1 ms period woke the event loop 1,000
     * times a second for as long as a vCPU made round trips: on two cores, a context switch beside
     * every 28th round trip, at the expense of the caller or the server.
     */
    private static final long CALLERS_IDLE_MAX_NANOS = TimeUnit.MILLISECONDS.toNanos(16);
    /** A partial-message check that found a caller reading tries again this much later. */
    private static final long PARTIAL_RETRY_MILLIS = 10;

    // What one receive did.
    private static final int STOPPED = -1; // the connection is closing, or reading paused
    private static final int NOTHING = 0; // no bytes (EAGAIN: the timeout of a blocking read, or none waiting)
    private static final int DRAINED = 1; // bytes, and the socket had no more
    private static final int MORE = 2; // bytes filling the buffer: more may wait

    private record ReceivedFds(long position, int[] fds) {
    }

    private static final class Outbound {
        final ByteBuf data;
        OwnedFd[] fds;

        Outbound(ByteBuf data, OwnedFd[] fds) {
            this.data = data;
            this.fds = fds;
        }
    }

    private final String name;
    private final OwnedFd socket;
    private final FileDescriptor nettyFd;
    private final IoEventLoop loop;
    private final Listener listener;
    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    /** The buffer lent to the output queue for what a full socket did not take ({@link #queueBuffer}); guarded by sendLock. */
    private ByteBuf spare;
    private final ConnectionLimits limits;

    // Receiving: whoever holds receiveLock (the event loop, or a caller reading its own reply).
    private final ReentrantLock receiveLock = new ReentrantLock();
    private final SocketMessage receiver;
    private final VfioUserMessage message = new VfioUserMessage();
    private final ArrayDeque<ReceivedFds> receivedFds = new ArrayDeque<>();
    private ByteBuf cumulation;
    private long received;
    private long consumed;
    private IoRegistration registration;
    /** Above the high water mark: no message is read until the output is down to the low one. */
    private volatile boolean readingPaused;
    /** The stream position of the message that has begun to arrive and is not whole yet, or -1. */
    private long partialAt = -1;
    private long partialSince;
    private ScheduledFuture<?> partialTimer;
    private ScheduledFuture<?> stallTimer;
    private final Runnable checkPartial = this::checkPartial;
    private final Runnable checkStall = this::checkStall;
    /**
     * A large message's payload being received straight into memory its listener named
     * ({@link Listener#receiveTarget}): where (0: none), how many bytes, how many came. The header
     * and the first {@link #DIRECT_PREFIX} payload bytes stay in the buffer meanwhile.
     */
    private long directTarget;
    private int directLength;
    private int directDone;
    /** The stream position of the last message the listener declined to take straight (asked once). */
    private long directDeclinedAt = -1;
    /** Set once the buffer, received fds and socket have been let go (after close, by the lock's holder). */
    private boolean receiveReleased;

    // Callers reading their own replies (readRepliesOnCallers).
    private volatile boolean callersRead;
    /** The requests whose waiters may read: woken when a reader lets go, so that one reads next. */
    private volatile PendingRequests readers;
    /** Threads in awaitReply: each reading or parked. */
    private final AtomicInteger waitingReaders = new AtomicInteger();
    /** Times a caller took over reading: the event loop watches again once it stops changing. */
    private volatile long callerReads;
    // The event loop only: whether it has left the socket to the callers, and its idle check.
    private boolean handedToCallers;
    private long callerReadsSeen;
    private ScheduledFuture<?> idleTimer;
    /** The period of {@link #idleTimer} now. Event loop only. */
    private long idlePeriodNanos;
    private final Runnable checkCallersIdle = this::checkCallersIdle;
    /** A reader on a caller's thread hit the end or an error: it stops, and the loop closes the connection. */
    private volatile boolean broken;

    // A connection read by a thread of its own (openOnOwnThread): a server's session.
    /** The thread that reads every message, or null where the event loop (and callers) read. */
    private final Thread ownReader;
    /** Whether the own reader's blocking reads are bounded now (SO_RCVTIMEO): only since a message came part-way. */
    private boolean ownReaderTimed;
    /**
     * With an own reader, the listener is told of the close by whichever comes last, the close or the
     * reader's end, so that it is never told while the reader still hands it a message.
     */
    private final AtomicInteger closeParties = new AtomicInteger(2);
    private final java.util.concurrent.atomic.AtomicBoolean ownReaderStarted = new java.util.concurrent.atomic.AtomicBoolean();
    /** The close's cause, for the one who tells the listener (written before closeParties counts down). */
    private Throwable closeCause;
    /** The listener has been told of the close: a waiter fails only then, so that its error can say why. */
    private volatile boolean closeTold;

    // Sending: any thread, under the lock.
    private final ReentrantLock sendLock = new ReentrantLock();
    private final SocketMessage sender;
    private final ArrayDeque<Outbound> outbound = new ArrayDeque<>();
    private final int[] sendFds = new int[SocketMessage.SCM_MAX_FD];
    private final Runnable wantWritable = this::submitInterest;
    /** The bytes queued and not yet taken by the socket: written under the lock, read anywhere. */
    private volatile long queuedBytes;
    private long queuedPeak;
    /** When queued output last went out (or began to wait), System.nanoTime(). */
    private long lastOutputProgress;

    private volatile boolean closed;

    private VfioUserConnection(String name, OwnedFd socket, IoEventLoop loop, Listener listener,
                               ConnectionLimits limits, boolean ownThread) {
        this.name = name;
        this.socket = socket;
        this.nettyFd = new FileDescriptor(socket.get());
        this.loop = loop;
        this.listener = listener;
        this.limits = limits;
        this.receiver = new SocketMessage(name, MAX_RECEIVE_FDS);
        this.sender = new SocketMessage(name, SocketMessage.SCM_MAX_FD);
        if (ownThread) {
            ownReader = new Thread(this::readOnOwnThread, "vfio-user-reader " + name);
            ownReader.setDaemon(true);
        } else {
            ownReader = null;
        }
    }

    /** Starts serving a connected socket on {@code loop}, with the default limits. */
    public static VfioUserConnection open(String name, OwnedFd socket, IoEventLoop loop, Listener listener) {
        return open(name, socket, loop, listener, ConnectionLimits.DEFAULTS);
    }

    /** Starts serving a connected socket on {@code loop}, holding the peer to {@code limits}. */
    public static VfioUserConnection open(String name, OwnedFd socket, IoEventLoop loop, Listener listener,
                                          ConnectionLimits limits) {
        return open(name, socket, loop, listener, limits, false);
    }

    /**
     * Opens a connected socket whose messages are read by a thread of its own, which {@link #startReading}
     * starts once the listener is ready: it waits in a blocking recvmsg and hands each message to the
     * listener on that thread, with no epoll wake-up and no hand-off before a request is read (a
     * server's session: a request in one recvmsg, its reply in one sendmsg, as a blocking C server
     * does). The event loop keeps the rest: output the socket did not take at once, the limits'
     * timers, the close. The socket becomes blocking (sends still pass MSG_DONTWAIT); a read is
     * bounded (SO_RCVTIMEO) only while a message has come part-way, so that the reader times it out
     * itself, and an idle connection's reader sleeps until the peer sends or the connection closes.
     * A listener that waits for a reply of the peer (a server's DMA_READ) must not wait on this
     * thread, which would read it: {@link #readsOnThisThread} tells.
     */
    public static VfioUserConnection openOnOwnThread(String name, OwnedFd socket, IoEventLoop loop, Listener listener,
                                                     ConnectionLimits limits) {
        return open(name, socket, loop, listener, limits, true);
    }

    private static VfioUserConnection open(String name, OwnedFd socket, IoEventLoop loop, Listener listener,
                                           ConnectionLimits limits, boolean ownThread) {
        Syscalls.socketBuffers(socket, SOCKET_BUFFER);
        if (ownThread) {
            Syscalls.blockingWithReceiveTimeout(socket, 0);
        }
        VfioUserConnection c = new VfioUserConnection(name, socket, loop, listener, limits, ownThread);
        loop.execute(() -> loop.register(c).addListener(f -> {
            if (f.isSuccess()) {
                c.registration = (IoRegistration) f.getNow();
                c.submitInterest();
            } else {
                c.closeOnLoop(f.cause());
            }
        }));
        return c;
    }

    public String name() {
        return name;
    }

    public IoEventLoop loop() {
        return loop;
    }

    public boolean isOpen() {
        return !closed;
    }

    public ByteBufAllocator alloc() {
        return alloc;
    }

    public ConnectionLimits limits() {
        return limits;
    }

    /** The bytes queued for the peer that the socket has not taken yet. */
    public long queuedOutputBytes() {
        return queuedBytes;
    }

    /** The most ever queued for the peer at once: at most {@link ConnectionLimits#maxQueuedOutput}. */
    public long queuedOutputPeak() {
        sendLock.lock();
        try {
            return queuedPeak;
        } finally {
            sendLock.unlock();
        }
    }

    /** True while no message is read because the peer leaves too much output unread (back-pressure). */
    public boolean isReadingPaused() {
        return readingPaused;
    }

    // ---- a thread of its own (openOnOwnThread) ----

    /** Starts the own reader of a connection opened with {@link #openOnOwnThread}; once. */
    public void startReading() {
        if (ownReader == null) {
            throw new IllegalStateException(this + " is read by its event loop, not by a thread of its own");
        }
        if (ownReaderStarted.compareAndSet(false, true)) {
            ownReader.start();
        }
    }

    /**
     * Whether messages are read on the calling thread (the event loop, a connection's own reader, a
     * caller reading its reply): a wait for the peer's reply here would wait for itself.
     */
    public boolean readsOnThisThread() {
        return loop.inEventLoop() || Thread.currentThread() == ownReader || receiveLock.isHeldByCurrentThread();
    }

    /**
     * The own reader: a blocking recvmsg, every message it completes handed to the listener, until
     * the connection closes or breaks. It parks while reading is paused (back-pressure: the loop
     * unparks it at the low water mark). Once it ends, and the close has come, the listener is told.
     */
    private void readOnOwnThread() {
        try {
            while (!closed && !broken) {
                if (readingPaused) {
                    LockSupport.park(this);
                    continue;
                }
                receiveLock.lock();
                try {
                    if (closed || broken || readingPaused) {
                        continue; // closed meanwhile (the buffer may be gone), or paused again
                    }
                    if (wholeMessageBuffered()) {
                        // Left when reading paused (the pause may have been lifted before we parked):
                        // handed on before any wait, and they may pause it again.
                        decode();
                        continue;
                    }
                    receiveOnOwnThread();
                } finally {
                    unlockReceive(0);
                }
            }
        } catch (RuntimeException | Error e) {
            fail(e);
        } finally {
            if (closeParties.decrementAndGet() == 0) {
                tellClose(closeCause);
            }
        }
    }

    /** Whether the buffer holds a whole message not yet handed on. Holds the receive lock. */
    private boolean wholeMessageBuffered() {
        if (cumulation == null || directTarget != 0 || cumulation.readableBytes() < VfioUserHeader.SIZE) {
            return false;
        }
        long size = cumulation.getUnsignedIntLE(cumulation.readerIndex() + VfioUserHeader.MSG_SIZE);
        // A size decode refuses counts as whole: decode closes the connection for it.
        return size < VfioUserHeader.SIZE || size > MAX_MESSAGE || cumulation.readableBytes() >= size;
    }

    /** One blocking receive on the own reader, timed while a message is part-way. Holds the receive lock. */
    private void receiveOnOwnThread() {
        if (partialAt >= 0 && !ownReaderTimed) {
            // A message has begun: wake at least every eighth of the message timeout to time it.
            Syscalls.receiveTimeout(socket, Math.max(1, Math.min(1000, limits.messageTimeoutMillis() / 8)));
            ownReaderTimed = true;
        }
        int r = receive(0);
        if (r == STOPPED || closed || broken) {
            return;
        }
        if (partialAt >= 0) {
            VfioUserException late = partialTimedOut(System.nanoTime());
            if (late != null) {
                fail(late);
            }
        } else if (r == NOTHING && ownReaderTimed) {
            // Timed out with nothing part-way: idle, so wait for ever again (no wake-ups while idle).
            Syscalls.receiveTimeout(socket, 0);
            ownReaderTimed = false;
        }
    }

    // ---- replies read on the callers' threads ----

    /**
     * From now on a thread waiting for a reply of {@code pending} reads the socket itself
     * ({@link #awaitReply}) instead of waiting for the event loop to read it and hand it over. The
     * socket becomes blocking, its reads bounded by SO_RCVTIMEO at {@code pollMillis}, so that a
     * reader looks at its deadline that often; the event loop and every send use MSG_DONTWAIT. For a
     * socket only this process holds (a client's): O_NONBLOCK belongs to the open file.
     */
    public void readRepliesOnCallers(PendingRequests pending, long pollMillis) {
        Syscalls.blockingWithReceiveTimeout(socket, pollMillis);
        readers = pending;
        callersRead = true;
    }

    /**
     * Waits at most {@code timeoutNanos} for slot {@code s}'s reply (sent already), reading the
     * socket on this thread while no other thread does, and handing whatever else it reads to the
     * listener. True when the reply came, false on timeout; throws if the connection closed first.
     * Without {@link #readRepliesOnCallers} it waits for the event loop to read it.
     */
    public boolean awaitReply(PendingRequests pending, PendingRequests.Slot s, long timeoutNanos) {
        if (!callersRead) {
            return pending.await(s, timeoutNanos);
        }
        long deadline = System.nanoTime() + timeoutNanos;
        // An interrupt does not end the wait (the reply is still owed and the slot still ours), and a
        // pending one would make every park return at once, a spin: it is taken after a park and set
        // again at the end. (Not also before the loop: in that shape BulkTransferTest measured 46
        // bytes allocated on the caller per 1 MiB round trip, in this one none.)
        boolean interrupted = false;
        waitingReaders.incrementAndGet();
        try {
            while (s.state != PendingRequests.DONE) {
                if (closeTold) {
                    throw new VfioUserException(Errno.ENOTCONN, "the connection closed before the reply came");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return lastLook(s, deadline);
                }
                if (!readingPaused && !closed && !broken && receiveLock.tryLock()) {
                    try {
                        readUntil(s, deadline);
                    } finally {
                        unlockReceive(1);
                    }
                } else {
                    // Another thread reads (it completes our reply, or wakes us when it lets go), or
                    // reading is paused (the event loop reads again when the peer has taken our output),
                    // or the connection is closing (we are woken once the listener knows why).
                    LockSupport.parkNanos(this, left);
                    interrupted |= Thread.interrupted();
                }
            }
            return true;
        } finally {
            waitingReaders.decrementAndGet();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * At the deadline: reads, without waiting, what the socket already holds, so that a caller held up
     * past its deadline between its send and its read (a collection, a descheduled vCPU of the host) does
     * not call a reply that is there a timeout (and drop it as late). True if {@code s}'s reply was there.
     */
    private boolean lastLook(PendingRequests.Slot s, long deadline) {
        if (s.state != PendingRequests.DONE && !readingPaused && !closed && !broken && directTarget == 0
                && receiveLock.tryLock()) {
            try {
                if (cumulation == null || decode()) {
                    readAll();
                }
                if (directTarget != 0) {
                    readUntil(s, deadline); // a reply begun straight into a caller's memory is read to its end
                }
            } finally {
                unlockReceive(1);
            }
        }
        return s.state == PendingRequests.DONE;
    }

    /** Reads on the calling thread until {@code s} is answered, the deadline passes or reading must stop. */
    private void readUntil(PendingRequests.Slot s, long deadline) {
        callerReads++; // under the lock: one writer at a time
        if (cumulation != null && !decode()) { // whole messages left by a reader that paused
            return;
        }
        while (s.state != PendingRequests.DONE && !closed && !broken && !readingPaused) {
            int r = receive(0); // blocking, for at most SO_RCVTIMEO
            if (r == STOPPED) {
                return;
            }
            if (directTarget != 0) {
                // A reply coming straight into a caller's memory (ours: only its waiter starts one) is
                // read to its end whatever the deadline, since the memory is the caller's to free once
                // it stops waiting; held to the message timeout here, as the event loop would hold it.
                if (System.nanoTime() - partialSince > TimeUnit.MILLISECONDS.toNanos(limits.messageTimeoutMillis())) {
                    fail(new VfioUserException(Errno.ETIMEDOUT, "a message stopped part-way (" + directDone + " of its "
                            + directLength + " bytes of data) and was not whole within x-message-timeout="
                            + limits.messageTimeoutMillis() + " ms"));
                    return;
                }
            } else if (deadline - System.nanoTime() <= 0) {
                // The deadline after every read, whatever it brought: a peer that keeps sending other
                // messages (DMA requests, replies for others, a partial message a byte at a time) must
                // not hold this caller past its deadline, nor the partial-message check off the lock.
                return;
            }
        }
    }

    /**
     * Lets go of the receive lock; a closed connection's reading state is freed now that nobody
     * reads, and threads waiting to read are woken so that one reads next. {@code self} is 1 for a
     * caller in {@link #awaitReply} (counted among the waiters itself), 0 for the event loop.
     */
    private void unlockReceive(int self) {
        receiveLock.unlock();
        if (closed) {
            releaseReceive();
            return;
        }
        PendingRequests r = readers;
        if (r != null && waitingReaders.get() > self) {
            r.wakeWaiters();
        }
    }

    /**
     * The event loop found a caller reading: it stops watching the socket, so that epoll does not
     * wake it for each reply the caller reads, until callers have been idle a while.
     */
    private void handToCallers() {
        if (!handedToCallers) {
            handedToCallers = true;
            callerReadsSeen = callerReads;
            submitInterest();
        }
        if (idleTimer == null) {
            idlePeriodNanos = CALLERS_IDLE_NANOS;
            lookAtIdleCallersEvery(idlePeriodNanos);
        }
    }

    /**
     * Periodic: one timer per period (at most five in a spell of round trips, from 1 to 16 ms), not one
     * allocated per look. On the event loop.
     */
    private void lookAtIdleCallersEvery(long periodNanos) {
        if (idleTimer != null) {
            idleTimer.cancel(false);
        }
        idleTimer = loop.scheduleAtFixedRate(checkCallersIdle, periodNanos, periodNanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Watches the socket again if no caller has read since the last look; else looks again later, and
     * less often while callers keep reading ({@link #CALLERS_IDLE_MAX_NANOS}).
     */
    private void checkCallersIdle() {
        long reads = callerReads;
        if (!closed && (reads != callerReadsSeen || !receiveLock.tryLock())) {
            callerReadsSeen = reads;
            if (idlePeriodNanos < CALLERS_IDLE_MAX_NANOS) {
                idlePeriodNanos = Math.min(CALLERS_IDLE_MAX_NANOS, idlePeriodNanos * 2);
                lookAtIdleCallersEvery(idlePeriodNanos);
            }
            return; // callers still read: look again next period
        }
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
        if (closed) {
            return;
        }
        try {
            handedToCallers = false;
            submitInterest();
            if (!readingPaused) {
                readAll(); // what came while nobody watched
            }
        } finally {
            unlockReceive(0);
        }
    }

    /**
     * Closes for {@code cause}: at once on the event loop; from a caller's thread the reading stops
     * here and the loop closes (timers and the registration are the loop's).
     */
    private void fail(Throwable cause) {
        if (loop.inEventLoop()) {
            closeOnLoop(cause);
        } else {
            broken = true;
            loop.execute(() -> closeOnLoop(cause));
        }
    }

    @Override
    public FileDescriptor fd() {
        return nettyFd;
    }

    // ---- receiving ----

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        EpollIoOps ops = ((EpollIoEvent) event).ops();
        if (ops.contains(EpollIoOps.EPOLLOUT)) {
            flushOutbound();
        }
        if (closed) {
            return;
        }
        if (ownReader != null) {
            // Its reader reads (and sees the end itself); only a peer gone while reading is paused,
            // which nobody reads, ends here, as handleLocked ends it.
            if (readingPaused && ((ops.value() & EPOLLHUP) != 0 || ops.contains(EpollIoOps.EPOLLERR))) {
                closeOnLoop(null);
            }
            return;
        }
        if (!receiveLock.tryLock()) {
            // A caller reads its own reply and hands on the rest. Epoll reports a hang-up whatever the
            // interest; it is not closed here, as replies the peer wrote before it went may still be
            // unread: the caller reads them and then the end (recvmsg returns 0), or, if it stops
            // before, the idle check reads them and the end on the loop (readAll).
            handToCallers();
            return;
        }
        try {
            handleLocked(ops);
        } finally {
            unlockReceive(0);
        }
    }

    private void handleLocked(EpollIoOps ops) {
        if (readingPaused) {
            // Epoll reports a hang-up and an error whatever the interest, level-triggered: a peer gone
            // both ways reads none of what is queued, so it ends here rather than spin the loop.
            if ((ops.value() & EPOLLHUP) != 0 || ops.contains(EpollIoOps.EPOLLERR)) {
                closeOnLoop(null);
            }
            return;
        }
        if (ops.contains(EpollIoOps.EPOLLIN) || ops.contains(EpollIoOps.EPOLLRDHUP)
                || ops.contains(EpollIoOps.EPOLLERR)) {
            readAll();
        }
    }

    /** Reads what the socket has, without waiting. Caller holds the receive lock. */
    private void readAll() {
        while (!closed && receive(MSG_DONTWAIT) == MORE) {
            // the buffer filled: more may wait
        }
    }

    /**
     * One recvmsg into the buffer ({@code flags} 0 on a caller's thread: blocking, for at most
     * SO_RCVTIMEO), then every message it completed handed to the listener. Caller holds the
     * receive lock.
     */
    private int receive(int flags) {
        if (directTarget != 0) {
            return receiveDirect(flags);
        }
        if (cumulation == null) {
            cumulation = alloc.directBuffer(READ_CHUNK);
        }
        // The rest of a large message that has begun to arrive, in one recvmsg: room for all of it
        // (not 64 KiB at a time) and, on a caller's blocking read, MSG_WAITALL for exactly it, so a
        // 1 MiB reply is one call rather than sixteen.
        long rest = missing();
        int writable;
        if (rest > READ_CHUNK) {
            cumulation.ensureWritable((int) rest);
            writable = (int) rest;
            if (flags == 0) {
                flags = MSG_WAITALL;
            }
        } else {
            cumulation.ensureWritable(READ_CHUNK);
            writable = cumulation.writableBytes();
        }
        long n = recvmsg(address(cumulation) + cumulation.writerIndex(), writable, flags);
        if (n <= 0) {
            return n == 0 ? NOTHING : STOPPED;
        }
        cumulation.writerIndex(cumulation.writerIndex() + (int) n);
        received += n;
        if (!decode() || readingPaused) {
            return STOPPED;
        }
        return n < writable ? DRAINED : MORE;
    }

    /**
     * One recvmsg of the rest of a payload straight into its listener's memory ({@code flags} 0 on
     * a caller's thread: MSG_WAITALL, for at most SO_RCVTIMEO); once whole, the message is handed
     * on and the buffer decoded on. Caller holds the receive lock.
     */
    private int receiveDirect(int flags) {
        int want = directLength - directDone;
        long n = recvmsg(directTarget + directDone, want, flags == 0 ? MSG_WAITALL : flags);
        if (n <= 0) {
            return n == 0 ? NOTHING : STOPPED;
        }
        directDone += (int) n;
        received += n;
        if (directDone < directLength) {
            return n < want ? DRAINED : MORE;
        }
        int at = cumulation.readerIndex();
        int size = VfioUserHeader.SIZE + DIRECT_PREFIX + directLength;
        directTarget = 0;
        message.setReceived(cumulation, at, size, fdsBefore(consumed + size));
        cumulation.readerIndex(at + VfioUserHeader.SIZE + DIRECT_PREFIX);
        consumed += size;
        try {
            listener.onMessage(this, message);
        } catch (RuntimeException e) {
            fail(e);
            return STOPPED;
        }
        if (!decode() || readingPaused) {
            return STOPPED;
        }
        return MORE;
    }

    /**
     * One recvmsg into native memory, the fds that came with it noted at their stream position.
     * The bytes received; 0 for none (drained, or a blocking read's timeout); -1 if the connection
     * ends (the peer closed it, or broke the rules: it closes).
     */
    private long recvmsg(long into, int length, int flags) {
        long n;
        try {
            n = receiver.receive(socket.get(), into, length, flags);
        } catch (SyscallException e) {
            fail(e.is(Errno.ECONNRESET) ? null : e);
            return -1;
        }
        if (n < 0) {
            return 0; // drained, or a blocking read's timeout
        }
        if (n == 0) {
            fail(null); // the peer closed
            return -1;
        }
        if (receiver.controlTruncated()) {
            receiver.closeReceivedFds();
            fail(new VfioUserException(Errno.EINVAL, "the peer sent more than " + MAX_RECEIVE_FDS
                    + " file descriptors in one message (our max_msg_fds)"));
            return -1;
        }
        int count = receiver.receivedFdCount();
        if (count > 0) {
            int[] fds = new int[count];
            for (int i = 0; i < count; i++) {
                fds[i] = receiver.receivedFd(i);
            }
            receivedFds.add(new ReceivedFds(received + n - 1, fds)); // the message holding the last byte
        }
        return n;
    }

    /**
     * Asks the listener where the rest of the large message at {@code at} goes; if it names memory,
     * moves what of its payload has come already there, and receives the rest straight into it
     * ({@link #receiveDirect}). False if the listener failed and the connection closes.
     */
    private boolean startDirect(int at, int size) {
        if (directDeclinedAt == consumed
                || !receivedFds.isEmpty() && receivedFds.peekFirst().position() < consumed + size) {
            return true; // declined already; or it carries fds, which no bulk message may: buffered, refused whole
        }
        message.set(cumulation, at, size, NO_FDS);
        long target;
        try {
            target = listener.receiveTarget(this, message);
        } catch (RuntimeException e) {
            fail(e);
            return false;
        }
        if (target == 0) {
            directDeclinedAt = consumed;
            return true;
        }
        int headAndPrefix = VfioUserHeader.SIZE + DIRECT_PREFIX;
        int have = cumulation.readableBytes() - headAndPrefix;
        LibC.memcpy(target, address(cumulation) + at + headAndPrefix, have); // what came with the header
        cumulation.writerIndex(at + headAndPrefix);
        directTarget = target;
        directLength = size - headAndPrefix;
        directDone = have;
        return true;
    }

    /** The bytes still to come of the message at the head of the buffer, once its header is in; else 0. */
    private long missing() {
        int have = cumulation.readableBytes();
        if (have < VfioUserHeader.SIZE) {
            return 0;
        }
        long size = cumulation.getUnsignedIntLE(cumulation.readerIndex() + VfioUserHeader.MSG_SIZE);
        return size > MAX_MESSAGE ? 0 : Math.max(0, size - have); // an oversized one fails in decode
    }

    /** Hands every whole message to the listener; false if the stream broke and the connection closed. */
    private boolean decode() {
        while (!closed && !broken && cumulation.readableBytes() >= VfioUserHeader.SIZE) {
            if (queuedBytes > limits.pauseReadingAbove() && pauseReading()) {
                break;
            }
            int at = cumulation.readerIndex();
            long size = cumulation.getUnsignedIntLE(at + VfioUserHeader.MSG_SIZE);
            if (size < VfioUserHeader.SIZE || size > MAX_MESSAGE) {
                fail(new VfioUserException(Errno.EINVAL, "a message declares " + size + " bytes: the least is "
                        + VfioUserHeader.SIZE + ", the most " + MAX_MESSAGE + "; the stream cannot be resynchronised"));
                return false;
            }
            if (cumulation.readableBytes() < size) {
                if (size > DIRECT_MIN && cumulation.readableBytes() >= VfioUserHeader.SIZE + DIRECT_PREFIX) {
                    if (!startDirect(at, (int) size)) {
                        return false;
                    }
                }
                break;
            }
            int[] fds = fdsBefore(consumed + size);
            message.set(cumulation, at, (int) size, fds);
            cumulation.readerIndex(at + (int) size);
            consumed += size;
            try {
                listener.onMessage(this, message);
            } catch (RuntimeException e) {
                fail(e);
                return false;
            }
        }
        if (closed || broken) {
            return false; // the listener closed the connection (a VERSION it cannot agree to): the buffer is gone
        }
        cumulation.discardSomeReadBytes();
        trackPartial();
        return true;
    }

    /**
     * Times the message at the head of the buffer if it has begun to arrive and is not whole. Not
     * while reading is paused: then the peer is not the one waiting. One timer at most, re-armed
     * only when it fires, so a stream of large messages arriving in pieces allocates none per read.
     */
    private void trackPartial() {
        if (readingPaused || !cumulation.isReadable()) {
            partialAt = -1;
            return;
        }
        if (partialAt != consumed) {
            partialAt = consumed;
            partialSince = System.nanoTime();
        }
        if (partialTimer == null && ownReader == null && (directTarget == 0 || loop.inEventLoop())) {
            // (A caller receiving straight into its memory times the message itself: readUntil; an
            // own reader times every message itself: receiveOnOwnThread.)
            partialTimer = loop.schedule(checkPartial, limits.messageTimeoutMillis(), TimeUnit.MILLISECONDS);
        }
    }

    private void checkPartial() {
        if (closed) {
            return;
        }
        if (!receiveLock.tryLock()) {
            // A caller is reading (it times its own wait): look again later. partialTimer stays set,
            // so that no second timer is armed meanwhile.
            loop.schedule(checkPartial, PARTIAL_RETRY_MILLIS, TimeUnit.MILLISECONDS);
            return;
        }
        try {
            checkPartialLocked();
        } finally {
            unlockReceive(0);
        }
    }

    private void checkPartialLocked() {
        partialTimer = null;
        if (closed || partialAt < 0) {
            return;
        }
        long limit = TimeUnit.MILLISECONDS.toNanos(limits.messageTimeoutMillis());
        long waited = System.nanoTime() - partialSince;
        if (waited < limit) {
            partialTimer = loop.schedule(checkPartial, limit - waited, TimeUnit.NANOSECONDS);
            return;
        }
        closeOnLoop(partialTimedOut(System.nanoTime()));
    }

    /**
     * The error to close with if the message at the head of the buffer has been part-way for the
     * message timeout at {@code now}; else null. Caller holds the receive lock.
     */
    private VfioUserException partialTimedOut(long now) {
        if (partialAt < 0 || now - partialSince < TimeUnit.MILLISECONDS.toNanos(limits.messageTimeoutMillis())) {
            return null;
        }
        int have = cumulation.readableBytes() + (directTarget != 0 ? directDone : 0);
        String what = have < VfioUserHeader.SIZE ? have + " bytes of a " + VfioUserHeader.SIZE + "-byte header"
                : have + " of the " + cumulation.getUnsignedIntLE(cumulation.readerIndex() + VfioUserHeader.MSG_SIZE)
                        + " bytes its header declares";
        return new VfioUserException(Errno.ETIMEDOUT, "a message stopped part-way (" + what + ") and was not "
                + "whole within x-message-timeout=" + limits.messageTimeoutMillis() + " ms");
    }

    /**
     * Stops reading messages until the peer has taken the queued output down to the low water mark;
     * false if it need not after all.
     */
    private boolean pauseReading() {
        readingPaused = true;
        if (!loop.inEventLoop() && queuedBytes <= limits.resumeReadingAt()) {
            // Off the loop, the loop may have flushed the output down between our look at it and the
            // pause, and seen no pause to lift: then we read on. (Both volatile: the loop, writing
            // queuedBytes before it reads readingPaused, sees the pause or we see its flush.)
            readingPaused = false;
            return false;
        }
        submitInterest();
        return true;
    }

    /** Reads again: first the messages already buffered (which may pause it again), then the socket. */
    private void resumeReading() {
        if (ownReader != null) {
            readingPaused = false;
            LockSupport.unpark(ownReader); // it decodes what is buffered, then reads
            submitInterest();
            return;
        }
        // Blocking is safe: a caller holding the lock stops reading as soon as it sees the pause.
        receiveLock.lock();
        try {
            readingPaused = false;
            if (cumulation != null && decode()) {
                submitInterest();
            }
        } finally {
            unlockReceive(0);
        }
    }

    /** The fds received with bytes before stream position {@code end}: those sent with this message. */
    private int[] fdsBefore(long end) {
        if (receivedFds.isEmpty() || receivedFds.peekFirst().position() >= end) {
            return NO_FDS;
        }
        ReceivedFds first = receivedFds.pollFirst();
        if (receivedFds.isEmpty() || receivedFds.peekFirst().position() >= end) {
            return first.fds();
        }
        int[] all = first.fds();
        while (!receivedFds.isEmpty() && receivedFds.peekFirst().position() < end) {
            int[] more = receivedFds.pollFirst().fds();
            int[] joined = new int[all.length + more.length];
            System.arraycopy(all, 0, joined, 0, all.length);
            System.arraycopy(more, 0, joined, all.length, more.length);
            all = joined;
        }
        return all;
    }

    // ---- sending ----

    /**
     * Sends a whole message (its readable bytes) with {@code fds[0..fdCount)} attached, and releases
     * the buffer. The fds are the caller's: the kernel duplicates them into the peer. Returns false
     * if the connection is closed (nothing is sent), or closes now because what the socket did not
     * take would pass {@link ConnectionLimits#maxQueuedOutput}.
     */
    public boolean send(ByteBuf data, int[] fds, int fdCount) {
        sendLock.lock();
        try {
            if (closed) {
                data.release();
                return false;
            }
            if (outbound.isEmpty()) {
                long sent = trySend(data, fds, fdCount);
                if (sent < 0) {
                    data.release(); // never queued: still the caller's buffer, handed to us to release
                    return false;
                }
                if (!data.isReadable()) {
                    data.release();
                    return true;
                }
                if (!admit(data.readableBytes())) {
                    data.release();
                    return false;
                }
                // Part (or none) went out; the fds went with the first bytes if any did.
                OwnedFd[] held = sent == 0 ? duplicate(fds, fdCount) : null;
                enqueue(new Outbound(data, held));
            } else {
                if (!admit(data.readableBytes())) {
                    data.release();
                    return false;
                }
                enqueue(new Outbound(data, duplicate(fds, fdCount)));
            }
        } finally {
            sendLock.unlock();
        }
        loop.execute(wantWritable);
        return true;
    }

    /** Sends without fds. */
    public boolean send(ByteBuf data) {
        return send(data, NO_FDS, 0);
    }

    /**
     * Sends a message from a buffer the caller keeps and reuses (a request's own buffer on an MMIO
     * path, so that sending allocates nothing): the buffer is neither released nor moved. What the
     * socket does not take at once is copied into a pooled buffer and queued. False if closed, or
     * closing because that copy would pass {@link ConnectionLimits#maxQueuedOutput}.
     */
    public boolean sendKeeping(ByteBuf data) {
        sendLock.lock();
        try {
            if (closed) {
                return false;
            }
            int start = data.readerIndex();
            try {
                if (outbound.isEmpty()) {
                    if (trySend(data, NO_FDS, 0) < 0) {
                        return false;
                    }
                    if (!data.isReadable()) {
                        return true;
                    }
                }
                if (!admit(data.readableBytes())) {
                    return false;
                }
                ByteBuf rest = queueBuffer(data.readableBytes());
                rest.writeBytes(data);
                enqueue(new Outbound(rest, null));
            } finally {
                data.readerIndex(start);
            }
        } finally {
            sendLock.unlock();
        }
        loop.execute(wantWritable);
        return true;
    }

    /**
     * Sends a message whose header is in {@code head} (kept by the caller, neither released nor
     * moved, as with {@link #sendKeeping}) and whose {@code length} bytes of data lie in native memory
     * at {@code data} (a region's memory, a caller's buffer): both in one sendmsg, two iovecs, the data
     * copied nowhere on the way. A stream socket may take part: the rest is offered again at once;
     * what a full socket does not take is copied into a pooled buffer and queued (rare: the socket
     * buffers hold two largest messages). False if closed, or closing because that copy would pass
     * {@link ConnectionLimits#maxQueuedOutput}.
     */
    public boolean sendGathering(ByteBuf head, long data, int length) {
        sendLock.lock();
        try {
            if (closed) {
                return false;
            }
            int headAt = head.readerIndex();
            int headLength = head.readableBytes();
            long sent = 0;
            if (outbound.isEmpty()) {
                long total = headLength + (long) length;
                long headAddress = address(head) + headAt;
                while (sent < total) {
                    long n;
                    try {
                        n = sent < headLength
                                ? sender.send(socket.get(), headAddress + sent, headLength - sent, data, length, NO_FDS, 0,
                                MSG_DONTWAIT)
                                : sender.send(socket.get(), data + (sent - headLength), total - sent, NO_FDS, 0, MSG_DONTWAIT);
                    } catch (SyscallException e) {
                        loop.execute(() -> closeOnLoop(e.is(Errno.EPIPE) || e.is(Errno.ECONNRESET) ? null : e));
                        return false;
                    }
                    if (n < 0) {
                        break; // the socket is full
                    }
                    sent += n;
                }
                if (sent == total) {
                    return true;
                }
            }
            long rest = headLength + (long) length - sent;
            if (!admit(rest)) {
                return false;
            }
            ByteBuf copy = queueBuffer((int) rest);
            if (sent < headLength) {
                copy.writeBytes(head, headAt + (int) sent, headLength - (int) sent);
                sent = headLength;
            }
            int from = (int) (sent - headLength);
            LibC.memcpy(address(copy) + copy.writerIndex(), data + from, length - from);
            copy.writerIndex(copy.writerIndex() + length - from);
            enqueue(new Outbound(copy, null));
        } finally {
            sendLock.unlock();
        }
        loop.execute(wantWritable);
        return true;
    }

    /**
     * A buffer for {@code bytes} a full socket did not take: the connection's spare when it is free and
     * large enough (it is held here, and lent to the queue with a reference the flush releases), a
     * pooled one else. Without the spare, each such copy of a large message took the pooled arena a
     * new chunk and gave it back (20 KB of heap a time, a 1 MiB transfer each under load). Caller holds
     * the lock.
     */
    private ByteBuf queueBuffer(int bytes) {
        ByteBuf s = spare;
        if (s != null && s.refCnt() == 1 && s.capacity() >= bytes) {
            return s.clear().retain();
        }
        if (s == null || s.refCnt() == 1) {
            if (s != null) {
                s.release();
            }
            spare = alloc.directBuffer(bytes);
            return spare.retain();
        }
        return alloc.directBuffer(bytes); // the spare is queued already: a second message behind it
    }

    /**
     * Whether {@code bytes} more fit under the bound; if not, the connection closes (on the loop).
     * Replies never get here over the bound (reading pauses first, with room for the largest), so
     * this is a message this end starts while its peer reads nothing. Caller holds the lock.
     */
    private boolean admit(long bytes) {
        long queued = queuedBytes;
        if (queued + bytes <= limits.maxQueuedOutput()) {
            return true;
        }
        VfioUserException e = new VfioUserException(Errno.ENOBUFS, "a message of " + bytes + " bytes would take the "
                + "output queued for the peer past x-max-queued-output=" + limits.maxQueuedOutput() + " bytes ("
                + queued + " queued and not read)");
        loop.execute(() -> closeOnLoop(e));
        return false;
    }

    /** Queues what the socket did not take. Caller holds the lock. */
    private void enqueue(Outbound o) {
        long queued = queuedBytes;
        if (queued == 0) {
            lastOutputProgress = System.nanoTime(); // the stall is timed from here
        }
        queued += o.data.readableBytes();
        queuedBytes = queued;
        if (queued > queuedPeak) {
            queuedPeak = queued;
        }
        outbound.add(o);
    }

    /**
     * Writes what the socket takes; advances the buffer. -1 if the connection broke. Never releases
     * the buffer: a buffer has one owner and one release (the caller's, or the queue's, which
     * {@link #closeOnLoop} empties), so a failed flush of a queued reply cannot free it twice.
     * Caller holds the lock.
     */
    private long trySend(ByteBuf data, int[] fds, int fdCount) {
        long total = 0;
        while (data.isReadable()) {
            long n;
            try {
                n = sender.send(socket.get(), address(data) + data.readerIndex(), data.readableBytes(),
                        total == 0 ? fds : NO_FDS, total == 0 ? fdCount : 0, MSG_DONTWAIT);
            } catch (SyscallException e) {
                loop.execute(() -> closeOnLoop(e.is(Errno.EPIPE) || e.is(Errno.ECONNRESET) ? null : e));
                return -1;
            }
            if (n < 0) {
                break; // the socket is full
            }
            data.skipBytes((int) n);
            total += n;
        }
        return total;
    }

    /**
     * Copies of fds for a message that waits in the queue: the caller may close its own as soon as
     * send returns, so the queue holds duplicates until the message goes out.
     */
    private static OwnedFd[] duplicate(int[] fds, int count) {
        if (count == 0) {
            return null;
        }
        OwnedFd[] copies = new OwnedFd[count];
        for (int i = 0; i < count; i++) {
            copies[i] = Syscalls.dup(fds[i], "fd queued to send");
        }
        return copies;
    }

    private void flushOutbound() {
        boolean resume;
        sendLock.lock();
        try {
            while (!outbound.isEmpty() && !closed) {
                Outbound o = outbound.peekFirst();
                int count = 0;
                if (o.fds != null) {
                    for (OwnedFd f : o.fds) {
                        sendFds[count++] = f.get();
                    }
                }
                long sent = trySend(o.data, sendFds, count);
                if (sent < 0) {
                    return; // o stays queued: closeOnLoop, already scheduled, releases it
                }
                if (sent > 0) {
                    queuedBytes -= sent;
                    lastOutputProgress = System.nanoTime();
                    if (o.fds != null) {
                        closeAll(o.fds);
                        o.fds = null;
                    }
                }
                if (o.data.isReadable()) {
                    break;
                }
                o.data.release();
                outbound.pollFirst();
            }
            resume = readingPaused && queuedBytes <= limits.resumeReadingAt();
        } finally {
            sendLock.unlock();
        }
        if (resume && !closed) {
            resumeReading();
        }
        submitInterest();
    }

    /** Asks epoll for readability, and writability while something waits to be sent. Event loop only. */
    private void submitInterest() {
        if (!loop.inEventLoop()) {
            loop.execute(wantWritable); // reading paused on a caller's thread
            return;
        }
        IoRegistration r = registration;
        if (r == null || closed || !r.isValid()) {
            return;
        }
        boolean pending;
        sendLock.lock();
        try {
            pending = !outbound.isEmpty();
        } finally {
            sendLock.unlock();
        }
        // Paused, not even EPOLLRDHUP: it is level-triggered and would wake the loop until read.
        // Left to the callers: they read; the loop looks again when they are idle (handToCallers).
        // Read by a thread of its own: never by the loop.
        EpollIoOps ops = readingPaused || handedToCallers || ownReader != null ? NOT_READING
                : EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLRDHUP);
        r.submit(pending ? ops.with(EpollIoOps.EPOLLOUT) : ops);
        if (pending && stallTimer == null) {
            stallTimer = loop.schedule(checkStall, limits.writeStallTimeoutMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Closes the connection if queued output has gone nowhere for the write-stall timeout. Event loop. */
    private void checkStall() {
        stallTimer = null;
        if (closed) {
            return;
        }
        long queued;
        long since;
        sendLock.lock();
        try {
            queued = queuedBytes;
            since = lastOutputProgress;
        } finally {
            sendLock.unlock();
        }
        if (queued == 0) {
            return; // armed again when something is queued
        }
        long limit = TimeUnit.MILLISECONDS.toNanos(limits.writeStallTimeoutMillis());
        long stalled = System.nanoTime() - since;
        if (stalled < limit) {
            stallTimer = loop.schedule(checkStall, limit - stalled, TimeUnit.NANOSECONDS);
            return;
        }
        closeOnLoop(new VfioUserException(Errno.ETIMEDOUT, "the peer took none of the " + queued + " bytes queued "
                + "for it for x-write-stall-timeout=" + limits.writeStallTimeoutMillis() + " ms"
                + (readingPaused ? ", while its further messages waited under x-max-queued-output="
                + limits.maxQueuedOutput() + " bytes" : "")));
    }

    // ---- closing ----

    /** Closes the connection (from any thread); the listener is told once. */
    public void close() {
        close(null);
    }

    /** Closes the connection for {@code cause} (from any thread), which the listener is told once. */
    public void close(Throwable cause) {
        if (loop.inEventLoop()) {
            closeOnLoop(cause);
        } else if (Thread.currentThread() == ownReader) {
            fail(cause); // its listener closes: no further message is read, as on the loop
        } else if (!closed) {
            loop.execute(() -> closeOnLoop(cause));
        }
    }

    private void closeOnLoop(Throwable cause) {
        if (closed) {
            return;
        }
        sendLock.lock();
        try {
            closed = true;
            for (Outbound o : outbound) {
                o.data.release();
                if (o.fds != null) {
                    closeAll(o.fds);
                }
            }
            outbound.clear();
            queuedBytes = 0;
            if (spare != null) {
                spare.release();
                spare = null;
            }
        } finally {
            sendLock.unlock();
        }
        if (registration != null) {
            registration.cancel();
        }
        if (stallTimer != null) {
            stallTimer.cancel(false);
            stallTimer = null;
        }
        if (idleTimer != null) {
            idleTimer.cancel(false);
            idleTimer = null;
        }
        // Wakes a caller blocked reading its reply (close alone would not); it reads what is left,
        // then the end. The socket itself is closed once nobody reads it (releaseReceive).
        LibC.shutdown(socket.get(), SHUT_RDWR);
        releaseReceive();
        if (ownReader != null) {
            closeCause = cause;
            LockSupport.unpark(ownReader); // parked while reading is paused: it sees the close and ends
            if (ownReaderStarted.compareAndSet(false, true)) {
                ownReader.start(); // closed before startReading: it ends at once, counting down
            }
            if (closeParties.decrementAndGet() == 0) {
                tellClose(cause);
            }
            return;
        }
        tellClose(cause);
    }

    /** Tells the listener of the close, once; then the waiters, who fail saying why. */
    private void tellClose(Throwable cause) {
        try {
            listener.onClose(this, cause);
        } finally {
            // Even if the listener threw: the waiters learn the connection is closed, rather than
            // waiting out their deadlines as if the peer were silent.
            closeTold = true;
            PendingRequests r = readers;
            if (r != null) {
                r.wakeWaiters();
            }
        }
    }

    /**
     * After close: frees what reading holds (the buffer, fds received and not handed on, the timer of
     * a partial message) and closes the socket, once nobody reads; else its reader does, letting go.
     */
    private void releaseReceive() {
        if (!receiveLock.tryLock()) {
            return; // the reader frees it in unlockReceive
        }
        try {
            if (receiveReleased) {
                return;
            }
            receiveReleased = true;
            if (partialTimer != null) {
                partialTimer.cancel(false);
                partialTimer = null;
            }
            for (ReceivedFds r : receivedFds) {
                for (int fd : r.fds()) {
                    LibC.close(fd);
                }
            }
            receivedFds.clear();
            if (cumulation != null) {
                cumulation.release();
                cumulation = null;
            }
            socket.close();
        } finally {
            receiveLock.unlock();
        }
    }

    private static void closeAll(OwnedFd[] fds) {
        for (OwnedFd f : fds) {
            if (f != null) {
                f.close();
            }
        }
    }

    private static long address(ByteBuf b) {
        return b.hasMemoryAddress() ? b.memoryAddress() : DirectBuffers.address(b.nioBuffer(0, b.capacity()));
    }

    @Override
    public String toString() {
        return "vfio-user connection " + name;
    }
}
