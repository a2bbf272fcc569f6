package io.jvfio.qmp;

import io.jvfio.JvfioException;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.migration.MigrationControl;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A QMP monitor of one {@link VirtualMachine}, as QEMU's QMP specification (docs/interop/qmp-spec.rst)
 * defines the protocol: each client is greeted with the version and capabilities, negotiates with
 * {@code qmp_capabilities}, then sends {@code {"execute": ..., "arguments": ..., "id": ...}} and gets
 * {@code {"return": ...}} or {@code {"error": {"class", "desc"}}} with its {@code id}, and every negotiated
 * client gets the asynchronous events ({@code STOP}, {@code RESUME}, {@code RESET}, {@code SHUTDOWN}).
 *
 * <p>Clients connect to a UNIX socket (Netty, epoll), as many at once as like, or one talks over standard
 * input and output ({@code -qmp stdio}); one monitor may listen on several chardevs (QEMU's several
 * {@code -qmp} and {@code -mon}, {@link MonitorOptions}), all of them one machine's. Commands of all clients run one at a time on one thread, in the
 * order they arrive, as QEMU runs them under its big lock; a client that goes away while its command runs
 * loses only the answer. {@code quit} is answered, {@code SHUTDOWN} sent, and then {@link #awaitQuit}
 * returns for the owner to close the machine.
 */
public final class QmpMonitor implements AutoCloseable {

    static final String QMP_CAPABILITIES = "qmp_capabilities";

    /**
     * The QEMU version jvfio reports. libvirt reads the triple to pick the QMP behaviour it expects and
     * refuses a QEMU older than its minimum (6.2.0 for current libvirt); jvfio follows QEMU 9.2's QMP
     * (StatusInfo without {@code singlestep}, removed in 9.1; the error wordings; {@code irq_pin} in
     * query-pci), so it says 9.2.0. jvfio's own version is in {@code package}.
     */
    static final int QEMU_MAJOR = 9;
    static final int QEMU_MINOR = 2;
    static final int QEMU_MICRO = 0;

    /** Requests of one client queued for the command thread before its input is no longer read. */
    static final int MAX_QUEUED_PER_CLIENT = 8;

    private final VirtualMachine vm;
    private final String jvfioVersion;
    private final RunControl run;
    private final MigrationControl migration;
    private final Map<String, QmpCommand> commands = new LinkedHashMap<>();
    private final Set<QmpSession> sessions = ConcurrentHashMap.newKeySet();
    private final Set<Channel> channels = ConcurrentHashMap.newKeySet();
    private final ExecutorService commandThread = Executors.newSingleThreadExecutor(new DefaultThreadFactory("qmp",
            true));
    private final CountDownLatch quit = new CountDownLatch(1);
    private volatile boolean quitRequested;
    private MultiThreadIoEventLoopGroup group;
    private final List<Channel> listeners = new ArrayList<>();
    private final List<Path> sockets = new ArrayList<>();
    private Thread stdin;

    private QmpMonitor(VirtualMachine vm, MigrationControl migration, String jvfioVersion) {
        this.vm = vm;
        this.jvfioVersion = jvfioVersion;
        this.migration = migration;
        this.run = new RunControl(vm, migration);
        add(new QmpCommand(QMP_CAPABILITIES, List.of(new QmpCommand.Parameter("enable", "array", true)),
                a -> {
                    checkCapabilities(a, false); // QEMU's marshaller visits the arguments first
                    // QEMU's wording (monitor/qmp-cmds-control.c, qmp_qmp_capabilities)
                    throw new QmpError(QmpError.ErrorClass.CommandNotFound,
                            "Capabilities negotiation is already complete, command ignored");
                }));
        add(QmpCommand.of("query-version", a -> version()));
        add(QmpCommand.of("query-commands", a -> {
            List<Object> names = new ArrayList<>();
            for (String n : commands.keySet()) {
                names.add(Map.of("name", n));
            }
            return names;
        }));
        add(QmpCommand.of("query-status", a -> {
            Map<String, Object> s = new LinkedHashMap<>();
            RunControl.State state = run.state();
            s.put("running", state == RunControl.State.RUNNING);
            s.put("status", state.qapi);
            return s;
        }));
        add(QmpCommand.of("stop", a -> {
            if (run.stop()) {
                event("STOP", null);
            }
            return Map.of();
        }));
        add(QmpCommand.of("cont", a -> {
            if (run.state() == RunControl.State.INMIGRATE) {
                run.cont(); // as QEMU's qmp_cont: the machine starts once loaded; no event now
                return Map.of();
            }
            // As QEMU's vm_prepare_start: a cont of a running machine still sends STOP and RESUME (libvirt
            // waits for RESUME).
            if (!run.cont()) {
                event("STOP", null);
            }
            event("RESUME", null);
            return Map.of();
        }));
        add(QmpCommand.of("system_reset", a -> {
            run.reset();
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("guest", false);
            data.put("reason", "host-qmp-system-reset");
            event("RESET", data);
            return Map.of();
        }));
        add(QmpCommand.of("quit", a -> {
            quitRequested = true;
            return Map.of();
        }));
        add(QmpCommand.of("query-pci", a -> PciQuery.query(vm)));
        add(QmpCommand.of("x-query-interrupts", a -> InterruptQuery.query(vm)));
        HotplugCommands.register(this, vm, migration);
        MigrationCommands.register(this, migration, run);
    }

    void add(QmpCommand c) {
        commands.put(c.name(), c);
    }

    /**
     * Opens a monitor of {@code vm} on {@code where}: a UNIX socket listening at once (a stale socket file
     * at its path is replaced, as QEMU replaces it), or standard input and output. {@code vm}'s vCPUs, if
     * any, are running: the monitor's run state starts at {@code running}.
     *
     * @param jvfioVersion jvfio's version, reported in {@code package}
     */
    public static QmpMonitor open(VirtualMachine vm, QmpChardev where, String jvfioVersion, InputStream in,
            OutputStream out) {
        return open(vm, List.of(where), jvfioVersion, in, out);
    }

    /**
     * Opens a monitor of {@code vm} on each of {@code where} (QEMU's several {@code -qmp} and {@code -mon}):
     * one machine, one run state, one command thread, and every client of every one of them gets the events.
     */
    public static QmpMonitor open(VirtualMachine vm, List<QmpChardev> where, String jvfioVersion, InputStream in,
            OutputStream out) {
        return open(vm, new MigrationControl(vm, jvfioVersion), where, jvfioVersion, in, out);
    }

    /**
     * As {@link #open(VirtualMachine, List, String, InputStream, OutputStream)}, with the machine's migrations
     * in {@code migration} (the launcher's, which {@code -incoming} may have started: the run state is then
     * {@code inmigrate} until the load completes).
     */
    public static QmpMonitor open(VirtualMachine vm, MigrationControl migration, List<QmpChardev> where,
            String jvfioVersion, InputStream in, OutputStream out) {
        QmpMonitor m = new QmpMonitor(vm, migration, jvfioVersion);
        try {
            for (QmpChardev w : where) {
                if (w.stdio()) {
                    m.serveStdio(in, out);
                } else {
                    m.listen(w.path());
                }
            }
            return m;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** The machine's migrations, which {@code migrate} and the other migration commands act on. */
    public MigrationControl migration() {
        return migration;
    }

    Map<String, QmpCommand> commands() {
        return commands;
    }

    /**
     * {@code qmp_capabilities}'s {@code enable}, as QEMU checks it: each element a QMPCapability (a string,
     * and {@code oob}, the one QEMU knows) before anything else, negotiated or not; then, in negotiation,
     * whether it is offered: jvfio offers none (no out-of-band execution).
     */
    static void checkCapabilities(Map<String, Object> arguments, boolean negotiating) throws QmpError {
        if (!(arguments.get("enable") instanceof List<?> enable)) {
            return;
        }
        for (int i = 0; i < enable.size(); i++) {
            // QEMU's wording (qapi/qobject-input-visitor.c, and qapi/qapi-visit-core.c, input_type_enum)
            if (!(enable.get(i) instanceof String s)) {
                throw QmpError.generic("Invalid parameter type for 'enable[" + i + "]', expected: string");
            }
            if (!s.equals("oob")) {
                throw QmpError.generic("Parameter 'enable[" + i + "]' does not accept value '" + s + "'");
            }
        }
        if (negotiating && !enable.isEmpty()) {
            // QEMU's wording (monitor/qmp-cmds-control.c, qmp_caps_accept): no quotes
            throw QmpError.generic("Capability oob not available");
        }
    }

    private Map<String, Object> version() {
        Map<String, Object> qemu = new LinkedHashMap<>();
        qemu.put("micro", (long) QEMU_MICRO);
        qemu.put("minor", (long) QEMU_MINOR);
        qemu.put("major", (long) QEMU_MAJOR);
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("qemu", qemu);
        v.put("package", "jvfio " + jvfioVersion);
        return v;
    }

    private Map<String, Object> greeting() {
        Map<String, Object> qmp = new LinkedHashMap<>();
        qmp.put("version", version());
        qmp.put("capabilities", List.of());
        return Map.of("QMP", qmp);
    }

    /** Sends an event to every negotiated client. */
    void event(String name, Map<String, Object> data) {
        java.time.Instant now = java.time.Instant.now();
        Map<String, Object> timestamp = new LinkedHashMap<>();
        timestamp.put("seconds", now.getEpochSecond());
        timestamp.put("microseconds", (long) (now.getNano() / 1000));
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("timestamp", timestamp);
        e.put("event", name);
        if (data != null) {
            e.put("data", data);
        }
        for (QmpSession s : sessions) {
            if (s.negotiated()) {
                s.send(e);
            }
        }
    }

    /** Queues {@code task} of {@code session} for the command thread. */
    void submit(QmpSession session, Runnable task) {
        if (!commandThread.isShutdown()) {
            try {
                commandThread.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // closing: the request goes unanswered, as in QEMU when the monitor goes away
            }
        }
    }

    /** After each answer: a quit answered is followed by SHUTDOWN, and the owner is let go. */
    void afterResponse(QmpSession session) {
        if (quitRequested && quit.getCount() > 0) {
            run.shutdown();
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("guest", false);
            data.put("reason", "host-qmp-quit");
            event("SHUTDOWN", data);
            quit.countDown();
        }
    }

    /**
     * While the returned hold is open, {@code stop}, {@code cont} and {@code system_reset} are refused with
     * {@code reason} (the launcher holds the run state while its built-in driver runs its steps, which drive
     * the vCPUs and the devices themselves); the queries are answered all the time.
     */
    public Hold holdRunState(String reason) {
        return run.hold(reason);
    }

    /** Waits until a client's {@code quit} is answered and SHUTDOWN sent. */
    public void awaitQuit() throws InterruptedException {
        quit.await();
    }

    // ---- UNIX socket ----

    private void listen(Path path) {
        if (!Epoll.isAvailable()) {
            throw new QmpException("-qmp unix:" + path + ": Netty's epoll transport is not available here ("
                    + Epoll.unavailabilityCause() + "); use -qmp stdio");
        }
        try {
            if (Files.readAttributes(path, BasicFileAttributes.class,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS).isOther()) {
                Files.delete(path); // a socket left by an earlier run, as QEMU unlinks it before bind
            }
        } catch (IOException e) {
            // none there (or not ours to remove): bind says what is wrong
        }
        if (group == null) {
            group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("qmp-io", true),
                    EpollIoHandler.newFactory());
        }
        try {
            Channel listener = new ServerBootstrap().group(group).channel(EpollServerDomainSocketChannel.class)
                    .childHandler(new ChannelInitializer<EpollDomainSocketChannel>() {
                        @Override
                        protected void initChannel(EpollDomainSocketChannel ch) {
                            ch.pipeline().addLast(new Client());
                        }
                    }).bind(new DomainSocketAddress(path.toFile())).sync().channel();
            listeners.add(listener);
            sockets.add(path);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QmpException("-qmp unix:" + path + ": interrupted while binding");
        } catch (RuntimeException e) {
            throw new QmpException("-qmp unix:" + path + ": Failed to bind socket: " + e.getMessage()
                    + "; give a path in a directory this user may write to");
        }
    }

    /** One connected client: its session, its input fed to it, its requests bounded. */
    private final class Client extends ChannelInboundHandlerAdapter {
        private QmpSession session;
        private final AtomicInteger queued = new AtomicInteger();

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            Channel ch = ctx.channel();
            session = new QmpSession(QmpMonitor.this, bytes -> ch.writeAndFlush(Unpooled.wrappedBuffer(bytes)));
            channels.add(ch);
            session.send(greeting());
            sessions.add(session);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                byte[] bytes = new byte[buf.readableBytes()];
                buf.readBytes(bytes);
                session.feed(bytes, 0, bytes.length);
            } finally {
                buf.release();
            }
            // A client that sends faster than its commands run stops being read until they catch up.
            Channel ch = ctx.channel();
            if (queued.incrementAndGet() > MAX_QUEUED_PER_CLIENT) {
                ch.config().setAutoRead(false);
            }
            submit(session, () -> {
                if (queued.decrementAndGet() <= MAX_QUEUED_PER_CLIENT && !ch.config().isAutoRead()) {
                    ch.config().setAutoRead(true);
                }
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            channels.remove(ctx.channel());
            if (session != null) {
                sessions.remove(session);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close(); // the connection failed (reset by the peer): this client is gone, nobody else is
        }
    }

    // ---- stdio ----

    private void serveStdio(InputStream in, OutputStream out) {
        QmpSession session = new QmpSession(this, bytes -> {
            synchronized (out) {
                try {
                    out.write(bytes);
                    out.flush();
                } catch (IOException e) {
                    // standard output closed: nobody reads the answers any more
                }
            }
        });
        session.send(greeting());
        sessions.add(session);
        stdin = new Thread(() -> {
            byte[] buf = new byte[4096];
            try {
                for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                    session.feed(buf, 0, n);
                }
            } catch (IOException e) {
                // standard input failed: the client is gone
            } finally {
                sessions.remove(session);
            }
        }, "qmp-stdio");
        stdin.setDaemon(true);
        stdin.start();
    }

    /** Closes the clients (after what was written to them) and the socket, and removes the socket file. */
    @Override
    public void close() {
        commandThread.shutdown();
        try {
            commandThread.awaitTermination(RunControl.STOP_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sessions.clear();
        for (Channel listener : listeners) {
            listener.close().syncUninterruptibly();
        }
        if (group != null) {
            // Each client's writes are queued on the loop before its close: the answers and SHUTDOWN go first.
            for (Channel c : channels) {
                c.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        }
        for (Path socket : sockets) {
            try {
                Files.deleteIfExists(socket);
            } catch (IOException e) {
                // left behind: the next run replaces it
            }
        }
    }

    /** A hold on the run state ({@link #holdRunState}); closing it lets the commands through again. */
    public interface Hold extends AutoCloseable {
        @Override
        void close();
    }

    /** A monitor that cannot open. */
    public static final class QmpException extends JvfioException {
        QmpException(String message) {
            super(message);
        }
    }
}
