package io.jvfio.vfio.user.client;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.user.protocol.VfioUserCapabilities;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.protocol.VfioUserPayloads;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vfio.user.transport.PendingRequests;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vfio.user.transport.VfioUserEventLoop;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.LibC;
import io.netty.buffer.ByteBuf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The client's session with one vfio-user server: the connection, the VERSION negotiation, request
 * plumbing (a request waits for its reply at most x-msg-timeout), and liveness: when the server goes
 * away or stops answering, the device is gone, once, for a stated reason. Messages the server sends
 * on its own (its commands) go to the {@link ServerCommands} given at {@link #open}.
 */
final class ClientSession implements VfioUserConnection.Listener {

    // The facade's logger: the parts log as the client always did.
    private static final Logger LOG = LoggerFactory.getLogger(VfioUserClient.class);

    /**
     * How many requests in a row may go unanswered before the server counts as stopped: one may be
     * a slow request (its late reply is dropped; the next request's reply resets the count), but a
     * second means the server no longer answers, or answers only with what is no reply (wrong IDs,
     * wrong commands, its own requests). Without this, every access of a VM waits x-msg-timeout,
     * and a driver's run never ends.
     */
    static final int SILENT_TIMEOUTS = 2;

    /** Serves a command the server sent (the spec's server-to-client commands); returns its reply. */
    interface ServerCommands {
        /** The reply to {@code m}, a DMA_READ or DMA_WRITE, or null if sent already; throws the errno to refuse it with. */
        ByteBuf serve(VfioUserConnection c, VfioUserMessage m) throws VfioUserException;
    }

    private final Path socket;
    private final String name;
    private final long timeoutNanos;
    private final VfioUserEventLoop ownLoop;
    private final PendingRequests pending = new PendingRequests();
    /** Requests in a row that got no reply within x-msg-timeout; a reply that answers one resets it. */
    private final AtomicInteger silentTimeouts = new AtomicInteger();
    /** Why the device is gone (the server stopped answering or went away); null while it works. */
    private final AtomicReference<String> failure = new AtomicReference<>();
    // Guarded by failure.
    private Consumer<String> goneObserver = reason -> LOG.error("{}; the device now reads all-ones and drops "
            + "writes, and the VM keeps running", reason);

    // Set once by open, before the facade is published.
    private VfioUserConnection connection;
    private ServerCommands serverCommands;
    private VfioUserCapabilities peer = VfioUserCapabilities.DEFAULTS;
    private volatile boolean closing;
    private volatile boolean dead;

    ClientSession(Path socket, long timeoutMillis, VfioUserEventLoop ownLoop) {
        this.socket = socket;
        this.name = "vfio-user:" + socket;
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.ownLoop = ownLoop;
    }

    /**
     * Starts the connection over {@code fd}; the server's own commands go to {@code commands}. A
     * request's reply is read by the thread that sent it (see {@link VfioUserConnection#awaitReply});
     * its blocking reads look at the x-msg-timeout deadline every eighth of it (1 ms to 1 s).
     */
    void open(OwnedFd fd, VfioUserEventLoop loop, ServerCommands commands) {
        this.serverCommands = commands;
        long pollMillis = Math.max(1, Math.min(1000, TimeUnit.NANOSECONDS.toMillis(timeoutNanos) / 8));
        VfioUserConnection c = VfioUserConnection.open(socket.toString(), fd, loop.loop(), this);
        c.readRepliesOnCallers(pending, pollMillis);
        this.connection = c;
    }

    String name() {
        return name;
    }

    Path socket() {
        return socket;
    }

    long timeoutNanos() {
        return timeoutNanos;
    }

    PendingRequests pending() {
        return pending;
    }

    VfioUserConnection connection() {
        return connection;
    }

    /** The capabilities the server announced. */
    VfioUserCapabilities peer() {
        return peer;
    }

    /** True once the server has gone away: the device reads all-ones and drops writes. */
    boolean dead() {
        return dead;
    }

    // ---- VERSION ----

    void negotiate() {
        byte[] json = VfioUserVersion.CAPABILITIES.toJson();
        Reply r = request(VfioUserCommand.VERSION, VfioUserPayloads.Version.DATA + json.length, null, 0, b -> {
            b.writeShortLE(VfioUserVersion.MAJOR);
            b.writeShortLE(VfioUserVersion.MINOR);
            b.writeBytes(json);
        });
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < VfioUserPayloads.Version.DATA) {
                throw protocol("its VERSION reply has " + p.readableBytes() + " bytes, less than the 4 of a version");
            }
            int major = p.getUnsignedShortLE(VfioUserPayloads.Version.MAJOR);
            int minor = p.getUnsignedShortLE(VfioUserPayloads.Version.MINOR);
            if (major != VfioUserVersion.MAJOR || minor > VfioUserVersion.MINOR) {
                throw protocol("it answered version " + major + "." + minor + " to our " + VfioUserVersion.MAJOR + "."
                        + VfioUserVersion.MINOR + " (the spec requires the same major and a minor no higher)");
            }
            int length = p.readableBytes() - VfioUserPayloads.Version.DATA;
            byte[] text = new byte[length];
            p.getBytes(VfioUserPayloads.Version.DATA, text);
            int end = 0;
            while (end < length && text[end] != 0) {
                end++;
            }
            try {
                peer = VfioUserCapabilities.parse(text, end);
            } catch (VfioUserException e) {
                throw protocol(e.getMessage());
            }
        } finally {
            r.release();
        }
    }

    VfioException protocol(String what) {
        return new VfioException("vfio-user server at " + socket + " broke the protocol: " + what);
    }

    // ---- requests ----

    /** An error reply: the errno the server answered, for the callers that tell errnos apart. */
    static final class Refused extends VfioException {
        final int errno;

        Refused(String message, int errno) {
            super(message);
            this.errno = errno;
        }
    }

    /** Writes a request's payload. */
    @FunctionalInterface
    interface Payload {
        void write(ByteBuf b);
    }

    /** A reply, held in its slot until released. */
    final class Reply {
        final PendingRequests.Slot slot;

        Reply(PendingRequests.Slot slot) {
            this.slot = slot;
        }

        ByteBuf payload() {
            return slot.payload;
        }

        int[] takeFds() {
            int[] fds = slot.fds == null ? new int[0] : slot.fds;
            slot.fds = null;
            return fds;
        }

        void release() {
            pending.release(slot);
        }
    }

    /**
     * Sends a command and waits for its reply; an error reply, a timeout or a lost connection throw a
     * {@link VfioException} that names the command. For set-up and control paths (it allocates).
     */
    Reply request(VfioUserCommand command, int payloadSize, int[] fds, int fdCount, Payload payload) {
        PendingRequests.Slot s = acquire(command);
        boolean ok = false;
        try {
            ByteBuf msg = VfioUserMessages.command(connection.alloc(), s.id, command, payloadSize, false);
            payload.write(msg);
            if (!connection.send(msg, fds == null ? new int[0] : fds, fdCount)) {
                throw gone(command);
            }
            await(s, command);
            if (s.error) {
                throw new Refused(name + ": the server refused " + command.specName() + ": "
                        + Errno.describe(s.errno), s.errno);
            }
            ok = true;
            return new Reply(s);
        } finally {
            if (!ok) {
                pending.release(s);
            }
        }
    }

    private PendingRequests.Slot acquire(VfioUserCommand command) {
        try {
            return pending.acquire(command.number());
        } catch (VfioUserException e) {
            throw gone(command);
        }
    }

    /**
     * Waits at most x-msg-timeout for the reply to {@code s}, reading it on this thread; throws
     * {@link VfioUserException} if the connection closed first.
     */
    boolean awaitReply(PendingRequests.Slot s) {
        return connection.awaitReply(pending, s, timeoutNanos);
    }

    private void await(PendingRequests.Slot s, VfioUserCommand command) {
        boolean came;
        try {
            came = awaitReply(s);
        } catch (VfioUserException e) {
            throw gone(command);
        }
        if (!came) {
            noReply(command);
            throw new VfioException(name + ": no reply to " + command.specName() + " within x-msg-timeout="
                    + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms (is the server stuck, or busy with another "
                    + "client? it serves one at a time)");
        }
    }

    // ---- liveness ----

    /**
     * A request got no reply within x-msg-timeout. After {@link #SILENT_TIMEOUTS} in a row the server
     * counts as stopped answering: the device is treated as surprise-removed, as when the server goes
     * away, and the connection is closed (a late reply then has nowhere to go).
     */
    void noReply(VfioUserCommand command) {
        if (silentTimeouts.incrementAndGet() < SILENT_TIMEOUTS || closing) {
            return;
        }
        if (declareGone("the vfio-user server at " + socket + " stopped answering: " + SILENT_TIMEOUTS + " requests in "
                + "a row, the last " + command.specName() + ", got no reply within x-msg-timeout="
                + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms (raise x-msg-timeout if it is only slow)")) {
            connection.close();
        }
    }

    /** Records why the device is gone and tells the observer, once; true for the first reason. */
    private boolean declareGone(String reason) {
        Consumer<String> observer;
        synchronized (failure) { // with onGone: each observer is told once
            if (!failure.compareAndSet(null, reason)) {
                return false;
            }
            dead = true;
            observer = goneObserver;
        }
        observer.accept(reason);
        return true;
    }

    /** Why the device is gone (its server stopped answering, or went away), or null while it works. */
    String failure() {
        return failure.get();
    }

    /** Who is told, once, why the device is gone; told at once if it is gone already. */
    void onGone(Consumer<String> observer) {
        String already;
        synchronized (failure) {
            goneObserver = observer;
            already = failure.get();
        }
        if (already != null) {
            observer.accept(already);
        }
    }

    private VfioException gone(VfioUserCommand command) {
        String why = failure.get();
        return new VfioException(why != null ? why + "; " + command.specName() + " got no reply"
                : name + ": the connection to the server is closed; " + command.specName() + " cannot be sent");
    }

    // ---- messages from the server ----

    /** A large reply may come straight into the memory its request named (a bulk REGION_READ's). */
    @Override
    public long receiveTarget(VfioUserConnection c, VfioUserMessage head) {
        return head.isReply() ? pending.receiveTarget(head) : 0;
    }

    @Override
    public void onMessage(VfioUserConnection c, VfioUserMessage m) {
        if (m.isReply()) {
            if (pending.complete(m)) {
                silentTimeouts.set(0); // the server answers
            } else {
                closeFds(m.fds()); // a late reply (after a timeout), or one nobody asked for
            }
            return;
        }
        closeFds(m.fds()); // no server command carries fds
        int errno;
        try {
            VfioUserCommand command = m.command();
            if (!m.isCommand()) {
                throw new VfioUserException(Errno.EINVAL, "message type " + (m.flags() & VfioUserHeader.TYPE_MASK));
            }
            if (command != VfioUserCommand.DMA_READ && command != VfioUserCommand.DMA_WRITE) {
                throw new VfioUserException(command == null ? Errno.ENOSYS : Errno.EINVAL,
                        (command == null ? "command " + m.commandNumber() : command.specName())
                                + " is not a server-to-client command");
            }
            ByteBuf reply = serverCommands.serve(c, m);
            if (reply == null) {
                return; // sent already, its data straight from guest memory
            }
            if (m.noReply()) {
                reply.release();
            } else {
                c.send(reply);
            }
            return;
        } catch (VfioUserException e) {
            LOG.debug("{}: refused the server's {}: {}", name, m, e.getMessage());
            errno = e.errno().number();
        }
        if (!m.noReply() && m.isCommand()) {
            c.send(VfioUserMessages.error(c.alloc(), m.id(), m.commandNumber(), errno));
        }
    }

    static void closeFds(int[] fds) {
        for (int fd : fds) {
            LibC.close(fd);
        }
    }

    @Override
    public void onClose(VfioUserConnection c, Throwable cause) {
        if (!closing) { // the reason first: a waiter woken below says it
            declareGone("the vfio-user server at " + socket + " went away ("
                    + (cause == null ? "it closed the connection" : cause.getMessage()) + ")");
        }
        pending.close();
    }

    // ---- end ----

    /** Closes the connection (if it was opened) and wakes every waiter; the server is not gone, we left. */
    void close() {
        closing = true;
        if (connection != null) {
            connection.close();
        }
        pending.close();
    }

    /** Closes the event loop if the session has its own. */
    void closeLoop() {
        if (ownLoop != null) {
            ownLoop.close();
        }
    }
}
