package io.jvfio.vfio.user.server;

import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vfio.user.transport.VfioUserEventLoop;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.UnixSocket;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Serves one {@link EmulatedDevice} on a UNIX socket, to one client at a time (spec, "Connection
 * Initiation"): while a client is connected the listening socket is left alone, so the next client
 * waits in the backlog and is accepted when the current one disconnects. The listening socket is
 * watched edge-triggered, so a client waiting in the backlog does not wake the loop over and over;
 * the end of a session looks at the backlog itself. Each session's requests are read and answered on
 * a thread of the session's own, blocked in recvmsg between them (a round trip costs the server one
 * recvmsg and one sendmsg); the event loop accepts, and keeps the sessions' timers and queued output.
 * The device keeps its state
 * across clients; each client's DMA windows and interrupt eventfds go with it.
 *
 * <p>Because the others wait, each client is held to the server's {@link ConnectionLimits}: one that
 * does not complete VFIO_USER_VERSION, stops part-way through a message, or leaves its replies
 * unread is dropped within its bound, and the next client in the backlog is served; one whose DMA
 * windows would take more of this process's address space than its bound gets ENOMEM.
 */
public final class VfioUserServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VfioUserServer.class);

    private final Path path;
    private final EmulatedDevice device;
    private final VfioUserEventLoop ownLoop;
    private final IoEventLoop loop;
    private final Acceptor acceptor;
    private final ConnectionLimits limits;
    private final Object lock = new Object();
    private ServerSession session;
    private int clientsServed;
    private boolean closed;
    private CompletableFuture<Void> clientGone = CompletableFuture.completedFuture(null);

    private VfioUserServer(Path path, EmulatedDevice device, VfioUserEventLoop ownLoop, IoEventLoop loop,
                           ConnectionLimits limits) {
        this.path = path;
        this.device = device;
        this.ownLoop = ownLoop;
        this.loop = loop;
        this.limits = java.util.Objects.requireNonNull(limits, "limits");
        this.acceptor = new Acceptor(UnixSocket.listen(path, 4));
    }

    /** Serves {@code device} at {@code path} on its own event loop thread, with the default limits. */
    public static VfioUserServer start(Path path, EmulatedDevice device) {
        return start(path, device, ConnectionLimits.DEFAULTS);
    }

    /** Serves {@code device} at {@code path} on its own event loop thread, holding each client to {@code limits}. */
    public static VfioUserServer start(Path path, EmulatedDevice device, ConnectionLimits limits) {
        VfioUserEventLoop own = new VfioUserEventLoop("vfio-user-server");
        try {
            VfioUserServer s = new VfioUserServer(path, device, own, own.loop(), limits);
            s.register();
            return s;
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
    }

    /** Serves {@code device} at {@code path} on a shared event loop (which the caller closes), with the default limits. */
    public static VfioUserServer start(Path path, EmulatedDevice device, VfioUserEventLoop loop) {
        return start(path, device, loop, ConnectionLimits.DEFAULTS);
    }

    /** Serves {@code device} at {@code path} on a shared event loop (which the caller closes). */
    public static VfioUserServer start(Path path, EmulatedDevice device, VfioUserEventLoop loop,
                                       ConnectionLimits limits) {
        VfioUserServer s = new VfioUserServer(path, device, null, loop.loop(), limits);
        s.register();
        return s;
    }

    private void register() {
        loop.register(acceptor).addListener(f -> {
            if (f.isSuccess()) {
                acceptor.registration = (IoRegistration) f.getNow();
                acceptor.registration.submit(EpollIoOps.EPOLLIN.with(EpollIoOps.EPOLLET));
                accept(); // a client may have connected before the registration
            } else {
                LOG.error("vfio-user server on {} cannot wait for clients: {}", path, f.cause().toString());
            }
        }).syncUninterruptibly();
    }

    public Path path() {
        return path;
    }

    public EmulatedDevice device() {
        return device;
    }

    public ConnectionLimits limits() {
        return limits;
    }

    /** The current client's connection (null without one): its queued output, for tests of the bound. */
    public VfioUserConnection clientConnection() {
        ServerSession s;
        synchronized (lock) {
            s = session;
        }
        return s == null ? null : s.connection();
    }

    /** True while a client is connected. */
    public boolean hasClient() {
        synchronized (lock) {
            return session != null;
        }
    }

    /**
     * The current client's bytes of DMA windows mmap'd in this process (0 without a client): at most
     * its {@link ConnectionLimits#maxDmaMapped}.
     */
    public long dmaMappedBytes() {
        ServerSession s = current();
        return s == null ? 0 : s.dmaMappedBytes();
    }

    private ServerSession current() {
        synchronized (lock) {
            return session;
        }
    }

    /** How many clients have connected since the server started. */
    public int clientsServed() {
        synchronized (lock) {
            return clientsServed;
        }
    }

    /** Waits until no client is connected; false on timeout. */
    public boolean awaitNoClient(long timeout, TimeUnit unit) throws InterruptedException {
        CompletableFuture<Void> f;
        synchronized (lock) {
            f = clientGone;
        }
        try {
            f.get(timeout, unit);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            return true;
        }
    }

    /** The current client's DMA windows (0 without a client): for tests of disconnect cleanup. */
    public int dmaWindows() {
        ServerSession s = current();
        return s == null ? 0 : s.dmaWindows();
    }

    /** The current client's assigned interrupt eventfds (0 without a client). */
    public int assignedEventfds() {
        ServerSession s = current();
        return s == null ? 0 : s.assignedEventfds();
    }

    /**
     * The device's migration state as the current client moved it (null without a client, or for a
     * device that does not migrate).
     */
    public io.jvfio.vfio.migration.MigrationState migrationState() {
        ServerSession s = current();
        return s == null ? null : s.migrationState();
    }

    /**
     * Why the current client's last migration step failed (a refused state change, a stream of another
     * device or version, a failed load), in words: the client sees only the errno. Null if none did.
     */
    public String migrationFailure() {
        ServerSession s = current();
        return s == null ? null : s.migrationFailure();
    }

    /** DMA_READ/DMA_WRITE messages sent to the current client (0 without one): DMA that could not use a mapping. */
    public long dmaMessages() {
        ServerSession s = current();
        return s == null ? 0 : s.dmaMessages();
    }

    /**
     * Doorbell writes the device took from the current client's doorbell eventfds (0 without a client,
     * or before it asked for them with DEVICE_GET_REGION_IO_FDS); coalesced kicks count once.
     */
    public long doorbellsRung() {
        ServerSession s = current();
        return s == null ? 0 : s.doorbellsRung();
    }

    /** Drops the current client, if any (its DMA windows and eventfds are released). */
    public void disconnectClient() {
        ServerSession s;
        synchronized (lock) {
            s = session;
        }
        if (s != null) {
            s.close();
        }
    }

    private void accept() {
        synchronized (lock) {
            if (closed || session != null) {
                return; // it waits in the backlog until sessionEnded looks again
            }
        }
        OwnedFd socket;
        try {
            socket = UnixSocket.accept(acceptor.socket);
        } catch (SyscallException e) {
            LOG.warn("vfio-user server on {}: {}", path, e.getMessage());
            return;
        }
        if (socket == null) {
            return;
        }
        synchronized (lock) {
            clientsServed++;
            clientGone = new CompletableFuture<>();
            LOG.info("vfio-user client {} connected to {}", clientsServed, path);
            session = new ServerSession(this, device, socket, loop, limits);
        }
    }

    /** Called by the session when its connection is gone: wait for the next client. */
    void sessionEnded(ServerSession ended) {
        CompletableFuture<Void> gone;
        synchronized (lock) {
            if (session != ended) {
                return;
            }
            session = null;
            gone = clientGone;
        }
        if (loop.inEventLoop()) {
            accept(); // the next client may be waiting in the backlog
        } else {
            loop.execute(this::accept);
        }
        LOG.info("vfio-user client disconnected from {}", path);
        gone.complete(null);
    }

    @Override
    public void close() {
        ServerSession s;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            s = session;
        }
        if (s != null) {
            s.close();
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        loop.execute(() -> {
            acceptor.closeOnLoop();
            done.complete(null);
        });
        try {
            done.get(5, TimeUnit.SECONDS);
            awaitNoClient(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("vfio-user server on {} did not stop cleanly: {}", path, e.toString());
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.warn("cannot remove the socket {}: {}", path, e.getMessage());
        }
        if (ownLoop != null) {
            ownLoop.close();
        }
    }

    /** The listening socket on the event loop. */
    private final class Acceptor implements EpollIoHandle {
        final OwnedFd socket;
        final FileDescriptor nettyFd;
        volatile IoRegistration registration;

        Acceptor(OwnedFd socket) {
            this.socket = socket;
            this.nettyFd = new FileDescriptor(socket.get());
        }

        @Override
        public FileDescriptor fd() {
            return nettyFd;
        }

        @Override
        public void handle(IoRegistration registration, IoEvent event) {
            accept();
        }

        void closeOnLoop() {
            IoRegistration r = registration;
            if (r != null) {
                r.cancel();
            }
            socket.close();
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    @Override
    public String toString() {
        return "vfio-user server on " + path + " for " + device;
    }
}
