package io.jvfio.vfio.user;

import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the server over a real socket: random and mutated messages (bad sizes, truncated headers and
 * payloads, wrong fd counts, huge counts and offsets, unknown commands and types, out-of-range regions
 * and interrupt indexes), and among them the attacks of issue 13 as classes of input, each a short
 * script (see {@link #attack}). Every command that asks for a reply must get one within 5 s (no
 * hang); a broken stream may close the connection, after which the next client must be served.
 *
 * <p>CI runs {@value #CI_MESSAGES} messages; the full run is a million:
 * {@code mvn -B -o verify -pl vfio-passthrough -am -Dtest=VfioUserServerFuzzTest
 * -Dsurefire.failIfNoSpecifiedTests=false -DskipITs -Djvfio.fuzz.messages=1000000}.
 * Netty's leak detector runs at PARANOID, and at the end a real {@link VfioUserClient} is served, no
 * leak was reported, and fds, pooled buffers (arena by arena) and resident memory are back
 * ({@link FuzzRun}).
 */
class VfioUserServerFuzzTest {

    /** CI's count (both fuzzers together stay under about two minutes on two cores). */
    static final int CI_MESSAGES = 100_000;
    private static final long SEED = 0x5eed_f00dL;
    private static final int REPLY_WAIT_MS = 5000;
    /** A fresh client this often: DMA windows and eventfds go with the old one. */
    private static final int PER_CLIENT = 5000;
    /** Of a thousand turns, this many run one of the scripted attacks instead of one mutated message. */
    private static final int ATTACK_PER_MILLE = 30;
    /** One silent-client attack (item 7) per this many messages: each costs a timeout. */
    private static final int SILENCE_EVERY = 20_000;
    /** 1 TiB DMA windows mapped (and unmapped) per client at most, far below the 128 TiB of a process. */
    private static final int TIB_MAPS_PER_CLIENT = 32;
    private static final long TIB = 1L << 40;
    /** Where the 1 TiB windows go: above every address the mutated DMA_MAPs use. */
    private static final long TIB_IOVA = 1L << 46;
    /**
     * How long factorial(5) may take after a DEVICE_RESET stopped the one before it: microseconds when
     * the reset stops the work, while the factorial of a number near 2^32 it did not stop keeps edu's
     * worker for seconds.
     */
    private static final int AFTER_RESET_MS = 1000;
    /**
     * Short negotiation and message timeouts, so that each silent client (item 7) costs two seconds; a
     * fuzzing client sends each message whole at once, far within them. Half a second was too short on
     * two cores shared with a build: a fuzzing client's own negotiation was once cut off by a pause.
     */
    private static final ConnectionLimits LIMITS = ConnectionLimits.DEFAULTS.withNegotiationTimeout(2000)
            .withMessageTimeout(2000);
    private static final int MSIX = 2;
    private static final int DATA_NONE_TRIGGER = 0x21;
    private static final int DATA_EVENTFD_TRIGGER = 0x24;

    @TempDir
    Path dir;

    private final int messages = FuzzRun.messages(CI_MESSAGES);
    private final Random random = new Random(SEED);
    private final Map<String, Integer> sent = new TreeMap<>();
    private final Map<String, Integer> classes = new TreeMap<>();
    private final Map<String, Integer> traits = new TreeMap<>();
    private final Map<String, Integer> answers = new TreeMap<>();
    private int reconnects;
    private int silentClients;
    private int sentCount;
    private int sinceConnect;
    private int tibMaps;
    private int nextId = 0x100;

    // The attackers' fds, made once.
    private OwnedFd blockingEventfd;
    /** 8 bytes to read an eventfd's counter into (the buffer held so that its memory stays). */
    private final java.nio.ByteBuffer counter = java.nio.ByteBuffer.allocateDirect(8);
    private final long scratch = io.jvfio.vmm.linux.jna.DirectBuffers.address(counter);
    private Pipe pipe;
    private OwnedFd tibMemfd;
    private OwnedFd devNullReadOnly;

    /**
     * Brings a non-blocking eventfd's counter to its maximum, 0xfffffffffffffffe. A server thread may
     * add to it meanwhile (the signal of a write blocked in an earlier session completes when that
     * session ends; a pending vector is delivered at SET_IRQS): take the count until the fill fits.
     */
    private void fillToMaximum(OwnedFd eventfd) {
        do {
            LibC.read(eventfd.get(), scratch, 8);
        } while (LibC.eventfd_write(eventfd.get(), 0xfffffffffffffffeL) != 0);
    }

    @Test
    void hostileMessagesAndIssue13Attacks() throws Exception {
        FuzzRun run = FuzzRun.start("vfio-user server fuzz");
        long started = System.nanoTime();
        try (ServedEdu served = new ServedEdu(dir, LIMITS);
             EventFd eventfd = new EventFd("fuzz eventfd");
             OwnedFd memfd = sealedMemfd("fuzz-ram", 1 << 20);
             OwnedFd blocking = OwnedFd.adopt(LibC.eventfd(0, LinuxConstants.EFD_CLOEXEC), "blocking eventfd");
             Pipe p = new Pipe();
             OwnedFd tib = sealedMemfd("fuzz-1tib", TIB);
             OwnedFd devNull = Syscalls.open("/dev/null", LinuxConstants.O_RDONLY)) {
            devNullReadOnly = devNull;
            blockingEventfd = blocking;
            assertEquals(0, LibC.eventfd_write(blocking.get(), 0xfffffffffffffffeL), "the counter at its maximum");
            pipe = p;
            pipe.fillAndBlock();
            tibMemfd = tib;
            int[] fdPool = {eventfd.fd().get(), memfd.get()};
            RawPeer peer = connect(served);
            int nextSilence = SILENCE_EVERY / 2;
            while (sentCount < messages) {
                if (sinceConnect >= PER_CLIENT) {
                    peer = reconnect(peer, served, "a fresh client");
                }
                if (sentCount >= nextSilence) {
                    nextSilence += SILENCE_EVERY;
                    peer = silentClient(peer, served);
                    continue;
                }
                if (random.nextInt(1000) < ATTACK_PER_MILLE) {
                    peer = attack(peer, served, fdPool);
                    continue;
                }
                Fuzzed m = next(fdPool);
                count(sent, m.kind);
                sent();
                if (!peer.send(m.bytes, m.fds) || m.breaksStream) {
                    peer = reconnect(peer, served, m.kind);
                    continue;
                }
                if (m.wantsReply) {
                    awaitReply(peer, m);
                    if (m.closes) {
                        peer = reconnect(peer, served, m.kind);
                    }
                }
            }
            // The device still answers, and the server holds only the last client's windows.
            assertTrue(served.server.dmaWindows() <= PER_CLIENT, served.server.dmaWindows() + " DMA windows");
            peer.send(RawPeer.command(1, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build()));
            RawPeer.Frame id = replyTo(peer, 1);
            assertEquals(EduRegisters.ID_VALUE, id.payloadBuffer().getInt(16));
            peer.close();
            assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS));
            // A clean client, this project's own, is served at the end.
            try (VfioUserClient clean = VfioUserClient.connect(served.socket, REPLY_WAIT_MS, null)) {
                assertEquals(EduRegisters.ID_VALUE, clean.read(0, EduRegisters.ID, 4), "a clean client is served");
            }
            assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS));
        }
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
        System.out.printf("vfio-user server fuzz: %,d messages (seed 0x%x) in %d s, %d reconnects%n"
                + "  attack classes (issue 13 item: occurrences): %s%n  sent:    %s%n  of them: %s%n  answers: %s%n",
                sentCount, SEED, seconds, reconnects, classes, sent, traits, answers);
        run.finish();
    }

    private void sent() {
        sentCount++;
        sinceConnect++;
    }

    // ---- the attacks of issue 13, as classes of input ----

    /** One scripted attack, chosen at random; returns the peer to go on with. */
    private RawPeer attack(RawPeer peer, ServedEdu served, int[] fdPool) throws Exception {
        switch (random.nextInt(11)) {
            case 0 -> {
                // Item 1: a 1 MiB reply the socket cannot take at once, never read; the client leaves.
                clazz("1 unread 1 MiB reply, then disconnect");
                send(peer, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(1 << 20).build());
                assertTrue(peer.readableWithin(REPLY_WAIT_MS), "the server began its 1 MiB reply");
                return reconnect(peer, served, "an unread 1 MiB reply");
            }
            case 1 -> {
                // Item 2: triggers whose write would block a writer: a blocking eventfd at its maximum,
                // the same made blocking and full only after SET_IRQS took it (O_NONBLOCK is the file
                // description's, which the client shares), or a full blocking pipe. Then the vector
                // fires, by SET_IRQS (the event loop) and by the device (its worker).
                int kind = random.nextInt(3);
                boolean eventfd = kind != 2;
                clazz(switch (kind) {
                    case 0 -> "2 blocking eventfd at its maximum as a trigger";
                    case 1 -> "2 eventfd made blocking and full after SET_IRQS";
                    default -> "2 full blocking pipe as a trigger";
                });
                OwnedFd trigger = eventfd ? blockingEventfd : pipe.writeEnd;
                if (eventfd) {
                    Pipe.blocking(trigger, false);
                    LibC.read(trigger.get(), scratch, 8);
                    if (kind == 0) {
                        fillToMaximum(trigger);
                        Pipe.blocking(trigger, true);
                    }
                } else {
                    Pipe.blocking(trigger, true);
                }
                int vector = random.nextInt(EduRegisters.MSIX_VECTORS);
                String what = eventfd ? "a blocking eventfd as a trigger" : "a full blocking pipe as a trigger";
                RawPeer.Frame set = call(peer, what, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20)
                        .u32(DATA_EVENTFD_TRIGGER).u32(MSIX).u32(vector).u32(1).build(), trigger.get());
                if (eventfd) {
                    expectOk(set, what);
                } else {
                    expectError(set, Errno.EINVAL, what + " (not an eventfd)");
                }
                if (kind == 1) {
                    fillToMaximum(trigger);
                    Pipe.blocking(trigger, true);
                }
                expectOk(call(peer, what, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(DATA_NONE_TRIGGER)
                        .u32(MSIX).u32(vector).u32(1).build()), what);
                expectOk(call(peer, what, VfioUserCommand.REGION_WRITE, Le.of().u64(EduRegisters.MSIX_FIRE).u32(0).u32(4)
                        .u32(vector).build()), what);
                return peer;
            }
            case 2 -> {
                // Item 3: SET_IRQS's disable form (DATA_NONE|TRIGGER, start 0, count 0) carrying fds.
                clazz("3 SET_IRQS disable form with fds");
                int[] fds = new int[1 + random.nextInt(8)];
                for (int i = 0; i < fds.length; i++) {
                    fds[i] = random.nextBoolean() ? fdPool[0] : blockingEventfd.get(); // eventfds: no EINVAL for the kind
                }
                expectOk(call(peer, "the disable form", VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20)
                        .u32(DATA_NONE_TRIGGER).u32(random.nextInt(5)).u32(0).u32(0).build(), fds), "the disable form");
                return peer;
            }
            case 3 -> {
                // Item 6: 1 MiB reads whose replies are not read; then the client leaves, or reads them late.
                boolean drain = random.nextBoolean();
                clazz(drain ? "6 flood of 1 MiB reads, replies read late" : "6 flood of 1 MiB reads, then disconnect");
                int n = 8 + random.nextInt(57);
                int first = nextId;
                for (int i = 0; i < n; i++) {
                    send(peer, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(1 << 20).build());
                }
                if (!drain) {
                    return reconnect(peer, served, "a flood of unread replies");
                }
                for (int i = 0; i < n; i++) {
                    RawPeer.Frame r = replyTo(peer, (first + i) & 0xFFFF, "a flood of 1 MiB reads");
                    expectOk(r, "a flood of 1 MiB reads");
                    assertEquals(16 + 16 + (1 << 20), r.size());
                }
                return peer;
            }
            case 4 -> {
                // Item 9: offsets whose end passes 2^63 or 2^64, or just the region's end.
                clazz("9 REGION_READ/WRITE offset near 2^63/2^64");
                int region = new int[] {0, 1, 2, 7}[random.nextInt(4)];
                long size = region == 0 ? EduRegisters.BAR0_SIZE : region == 1 ? EduRegisters.BAR1_SIZE
                        : region == 2 ? EduRegisters.BAR2_SIZE : 256;
                int count = 1 << random.nextInt(4);
                long offset = switch (random.nextInt(6)) {
                    case 0 -> Long.MAX_VALUE - 3;
                    case 1 -> Long.MAX_VALUE - random.nextInt(8);
                    case 2 -> Long.MIN_VALUE + random.nextInt(8);
                    case 3 -> -1L - random.nextInt(8);
                    case 4 -> -(1L << 20);
                    default -> size - count + 1 + random.nextInt(count);
                };
                boolean write = random.nextBoolean();
                Le l = Le.of().u64(offset).u32(region).u32(count);
                if (write) {
                    l.zeros(count);
                }
                String what = "an access of " + count + " bytes at 0x" + Long.toHexString(offset) + " of region " + region
                        + " (issue 13 item 9, branch edges)";
                expectError(call(peer, what, write ? VfioUserCommand.REGION_WRITE : VfioUserCommand.REGION_READ,
                        l.build()), Errno.EINVAL, what);
                return peer;
            }
            case 5 -> {
                // Item 9: a DMA window whose end wraps past 2^64 is no range; one across 2^63 is a fine one.
                boolean wraps = random.nextBoolean();
                clazz(wraps ? "9 DMA_MAP window wrapping past 2^64" : "9 DMA_MAP window across 2^63");
                if (!wraps) {
                    // A mutated DMA_MAP may have taken a window of nearly 2^64 bytes: a fresh client has none.
                    peer = reconnect(peer, served, "a fresh client for a window across 2^63");
                }
                long pages = 1 + random.nextInt(16);
                long address = (wraps ? 0 : Long.MIN_VALUE) - pages * 4096;
                long size = (pages + 1 + random.nextInt(16)) * 4096;
                boolean withFd = random.nextBoolean();
                byte[] map = Le.of().u32(32).u32(3).u64(0).u64(address).u64(size).build();
                String what = "DMA_MAP of 0x" + Long.toHexString(size) + " bytes at 0x" + Long.toHexString(address)
                        + " (issue 13 item 9, branch edges)";
                RawPeer.Frame r = withFd ? call(peer, what, VfioUserCommand.DMA_MAP, map, fdPool[1])
                        : call(peer, what, VfioUserCommand.DMA_MAP, map);
                if (wraps) {
                    expectError(r, Errno.EINVAL, what);
                } else {
                    expectOk(r, what);
                    expectOk(call(peer, what, VfioUserCommand.DMA_UNMAP, Le.of().u32(24).u32(0).u64(address).u64(size)
                            .build()), "DMA_UNMAP of the window across 2^63");
                }
                return peer;
            }
            case 6 -> {
                // Item 9: a trigger fd that cannot be written
                // (/dev/null read-only, or a pipe's read end), refused with EINVAL; the connection stays.
                boolean devNull = random.nextBoolean();
                clazz(devNull ? "9 unwritable trigger fd: /dev/null read-only" : "9 unwritable trigger fd: a pipe's read end");
                int vector = random.nextInt(EduRegisters.MSIX_VECTORS);
                String what = "an unwritable trigger fd (issue 13 item 9, branch edges)";
                expectError(call(peer, what, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER)
                        .u32(MSIX).u32(vector).u32(1).build(), (devNull ? devNullReadOnly : pipe.readEnd).get()),
                        Errno.EINVAL, what);
                call(peer, what, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX)
                        .u32(vector).u32(1).build()).closeFds();
                call(peer, what, VfioUserCommand.REGION_WRITE, Le.of().u64(EduRegisters.MSIX_FIRE).u32(0).u32(4)
                        .u32(vector).build()).closeFds();
                expectOk(call(peer, what, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER)
                        .u32(MSIX).u32(vector).u32(1).build()), "de-assigning the unwritable trigger");
                return peer;
            }
            case 7 -> {
                // Item 9: 1 TiB windows mapped and unmapped over and over.
                clazz("9 1 TiB DMA_MAP/DMA_UNMAP cycles");
                if (tibMaps >= TIB_MAPS_PER_CLIENT) {
                    peer = reconnect(peer, served, "a fresh client for 1 TiB maps");
                }
                for (int cycle = 2 + random.nextInt(3); cycle > 0; cycle--) {
                    tibMaps++;
                    String what = "a 1 TiB DMA_MAP";
                    RawPeer.Frame r = call(peer, what, VfioUserCommand.DMA_MAP, Le.of().u32(32).u32(3).u64(0).u64(TIB_IOVA)
                            .u64(TIB).build(), tibMemfd.get());
                    if (!r.isError()) {
                        expectOk(call(peer, what, VfioUserCommand.DMA_UNMAP, Le.of().u32(24).u32(0).u64(TIB_IOVA).u64(TIB)
                                .build()), "DMA_UNMAP of a 1 TiB window");
                    } // else refused by a bound on the client's mapped address space: fine
                }
                return peer;
            }
            case 8 -> {
                // Item 9: DEVICE_RESET while the factorial of a large number runs; the next one is quick.
                clazz("9 DEVICE_RESET during a factorial");
                String what = "a factorial after DEVICE_RESET (issue 13 item 9, branch edges)";
                expectOk(call(peer, what, VfioUserCommand.REGION_WRITE, Le.of().u64(EduRegisters.FACTORIAL).u32(0).u32(4)
                        .u32(0xFFFF_FFFFL - random.nextInt(1 << 20)).build()), what);
                expectOk(call(peer, what, VfioUserCommand.DEVICE_RESET, new byte[0]), what);
                expectOk(call(peer, what, VfioUserCommand.REGION_WRITE, Le.of().u64(EduRegisters.FACTORIAL).u32(0).u32(4)
                        .u32(5).build()), what);
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(AFTER_RESET_MS);
                while (true) {
                    RawPeer.Frame status = call(peer, what, VfioUserCommand.REGION_READ, Le.of()
                            .u64(EduRegisters.STATUS).u32(0).u32(4).build());
                    expectOk(status, what);
                    if ((status.payloadBuffer().getInt(16) & EduRegisters.STATUS_COMPUTING) == 0) {
                        break;
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(1_000_000L); // polls the register, bounded
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("factorial(5) after DEVICE_RESET still computing after " + AFTER_RESET_MS
                                + " ms: the reset did not stop the factorial before it (issue 13 item 9, branch edges)");
                    }
                }
                RawPeer.Frame result = call(peer, what, VfioUserCommand.REGION_READ, Le.of()
                        .u64(EduRegisters.FACTORIAL).u32(0).u32(4).build());
                assertEquals(120, result.payloadBuffer().getInt(16), what);
                return peer;
            }
            default -> {
                // Item 7, the cheap half: a partial message, then the rest, slowly; the connection goes on.
                clazz("7 message sent in pieces");
                ByteBuffer whole = RawPeer.command(nextId++ & 0xFFFF, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0)
                        .u32(4).build());
                int id = whole.getShort(0) & 0xFFFF;
                int cut = 1 + random.nextInt(whole.remaining() - 1);
                sent();
                count(sent, "REGION_READ");
                assertTrue(peer.send(whole.duplicate().limit(cut)));
                assertTrue(peer.send(whole.duplicate().position(cut)));
                expectOk(replyTo(peer, id, "a message sent in pieces"), "a message sent in pieces");
                return peer;
            }
        }
    }

    /**
     * Item 7: a client that connects and sends nothing, half a header, or part of a message, and stays;
     * the next client must be served all the same (the server's negotiation and message timeouts).
     */
    private RawPeer silentClient(RawPeer peer, ServedEdu served) throws Exception {
        int form = silentClients++ % 3;
        count(classes, form == 0 ? "7 silent client: nothing" : form == 1 ? "7 silent client: half a header"
                : "7 silent client: part of a message");
        peer.close();
        reconnects++;
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the last client left");
        RawPeer silent = form == 0 ? RawPeer.connect(served.socket) : connect(served);
        if (form > 0) {
            ByteBuffer m = RawPeer.command(7, VfioUserCommand.REGION_WRITE, Le.of().u64(0).u32(0).u32(4).u32(1).build());
            sent();
            count(sent, form == 1 ? "half a header" : "part of a message");
            assertTrue(silent.send(m.limit(form == 1 ? 8 : 16 + 10)));
        }
        try {
            return connect(served);
        } catch (AssertionError e) {
            throw new AssertionError("a silent client (" + (form == 0 ? "nothing sent" : form == 1 ? "half a header"
                    : "part of a message") + ") kept the next client waiting: issue 13 item 7, fixed by the server's "
                    + "negotiation and message timeouts (branch output)", e);
        } finally {
            silent.close();
        }
    }

    private void clazz(String name) {
        count(classes, name);
    }

    /** Sends a well-formed command with the next ID, counted. */
    private int send(RawPeer peer, VfioUserCommand c, byte[] payload, int... fds) {
        int id = nextId++ & 0xFFFF;
        sent();
        count(sent, c.name());
        if (!peer.send(RawPeer.command(id, c, payload), fds)) {
            throw new AssertionError("the server closed the connection before " + c.name());
        }
        return id;
    }

    /** Sends and waits for the reply; the connection must stay. */
    private RawPeer.Frame call(RawPeer peer, String what, VfioUserCommand c, byte[] payload, int... fds) {
        int id = send(peer, c, payload, fds);
        RawPeer.Frame r = replyTo(peer, id, what);
        assertEquals(c.number(), r.command(), "the reply names the command of " + what);
        count(answers, r.isError() ? "error " + Errno.describe(r.error()) : "ok");
        return r;
    }

    private static void expectOk(RawPeer.Frame r, String what) {
        r.closeFds();
        if (r.isError()) {
            throw new AssertionError(what + ": refused with " + Errno.describe(r.error()));
        }
    }

    private static void expectError(RawPeer.Frame r, Errno errno, String what) {
        r.closeFds();
        if (!r.isError() || r.error() != errno.number()) {
            throw new AssertionError(what + ": expected " + errno + ", got " + (r.isError() ? Errno.describe(r.error())
                    : "success"));
        }
    }

    // ---- the messages ----

    /** One fuzzed message and what the server must do with it. */
    private record Fuzzed(String kind, ByteBuffer bytes, int[] fds, boolean wantsReply, boolean breaksStream,
                          boolean closes, int id, int command) {
    }

    private Fuzzed next(int[] fdPool) {
        int id = random.nextInt(0x10000);
        int roll = random.nextInt(1000);
        if (roll < 3) {
            // A size the stream cannot survive: below the header or above the largest message.
            int size = random.nextBoolean() ? random.nextInt(16) : VfioUserConnection.MAX_MESSAGE + 1
                    + random.nextInt(Integer.MAX_VALUE - VfioUserConnection.MAX_MESSAGE - 1);
            return new Fuzzed("bad-size", RawPeer.message(id, random.nextInt(20), size, 0, 0, new byte[0]), new int[0],
                    false, true, true, id, 0);
        }
        if (roll < 6) {
            // A truncated header, then the peer goes away.
            byte[] partial = new byte[1 + random.nextInt(15)];
            random.nextBytes(partial);
            return new Fuzzed("truncated-header", ByteBuffer.wrap(partial), new int[0], false, true, true, id, 0);
        }
        if (roll < 10) {
            // A declared size larger than what follows: the stream is out of step from here.
            byte[] payload = randomBytes(random.nextInt(64));
            return new Fuzzed("size-mismatch", RawPeer.message(id, random.nextInt(20), 16 + payload.length
                    + 1 + random.nextInt(4096), 0, 0, payload), new int[0], false, true, true, id, 0);
        }
        int command;
        int type = 0;
        int flags;
        if (roll < 20) {
            command = random.nextInt(2); // 0 is no command; VERSION again is refused
        } else if (roll < 60) {
            command = 19 + random.nextInt(0x10000 - 19); // not a vfio-user command
        } else {
            command = 2 + random.nextInt(17); // everything but VERSION, which is negotiated already
        }
        if (random.nextInt(20) == 0) {
            type = 1 + random.nextInt(15); // a reply, or a type that does not exist
        }
        boolean noReply = random.nextInt(20) == 0;
        flags = type | (noReply ? VfioUserHeader.NO_REPLY : 0) | (random.nextInt(50) == 0 ? VfioUserHeader.ERROR_FLAG : 0);
        byte[] payload = payloadFor(command);
        int[] fds = new int[0];
        if (random.nextInt(8) == 0) {
            fds = new int[1 + random.nextInt(random.nextInt(10) == 0 ? 70 : 4)];
            for (int i = 0; i < fds.length; i++) {
                fds[i] = fdPool[random.nextInt(fdPool.length)];
            }
        }
        String kind = VfioUserCommand.of(command) == null ? "unknown command" : VfioUserCommand.of(command).name();
        if (type != 0) {
            count(traits, type == 1 ? "reply type" : "undefined type");
        }
        if (noReply) {
            count(traits, "No_reply");
        }
        if (fds.length > 0) {
            count(traits, fds.length > VfioUserConnection.MAX_RECEIVE_FDS ? "more fds than max_msg_fds" : "with fds");
        }
        boolean wantsReply = type == 0 && !noReply;
        boolean tooManyFds = fds.length > VfioUserConnection.MAX_RECEIVE_FDS;
        return new Fuzzed(kind, RawPeer.message(id, command, 16 + payload.length, flags, random.nextInt(3) == 0
                ? random.nextInt() : 0, payload), fds, wantsReply && !tooManyFds, tooManyFds, tooManyFds, id, command);
    }

    /** A payload shaped like the command's (mutated), or random bytes of a random length. */
    private byte[] payloadFor(int command) {
        VfioUserCommand c = VfioUserCommand.of(command);
        if (c == null || random.nextInt(5) == 0) {
            return randomBytes(random.nextInt(random.nextInt(10) == 0 ? 8192 : 64));
        }
        byte[] p = switch (c) {
            case DMA_MAP -> Le.of().u32(32).u32(random.nextInt(4)).u64(page() * 4096L).u64(address())
                    .u64(page() * 4096L).build();
            case DMA_UNMAP -> Le.of().u32(24).u32(random.nextInt(20) == 0 ? random.nextInt() : 0).u64(address())
                    .u64(page() * 4096L).build();
            case DEVICE_GET_INFO -> Le.of().u32(random.nextInt(64)).zeros(12).build();
            case DEVICE_GET_REGION_INFO -> Le.of().u32(random.nextInt(200)).u32(0).u32(index()).zeros(20).build();
            case DEVICE_GET_IRQ_INFO -> Le.of().u32(16).u32(0).u32(index()).u32(0).build();
            case DEVICE_SET_IRQS -> {
                int count = random.nextInt(10) == 0 ? random.nextInt() : random.nextInt(10);
                Le l = Le.of().u32(20).u32(1 << random.nextInt(6) | 1 << (3 + random.nextInt(3))).u32(index())
                        .u32(random.nextInt(10)).u32(count);
                yield random.nextBoolean() ? l.bytes(randomBytes(random.nextInt(16))).build() : l.build();
            }
            case REGION_READ, REGION_WRITE -> {
                long offset = random.nextInt(4) == 0 ? random.nextLong() : random.nextInt(1 << 21);
                int count = random.nextInt(6) == 0 ? random.nextInt() : 1 << random.nextInt(12);
                Le l = Le.of().u64(offset).u32(index()).u32(count);
                if (c == VfioUserCommand.REGION_WRITE) {
                    l.bytes(randomBytes(Math.max(0, Math.min(count, 4096) + random.nextInt(9) - 4)));
                }
                yield l.build();
            }
            case DMA_READ, DMA_WRITE -> Le.of().u64(address()).u64(random.nextInt(8192)).build();
            default -> randomBytes(random.nextInt(64));
        };
        if (random.nextInt(10) == 0 && p.length > 0) {
            count(traits, "truncated payload");
            p = java.util.Arrays.copyOf(p, random.nextInt(p.length));
        }
        return p;
    }

    private int index() {
        return random.nextInt(10) == 0 ? random.nextInt() : random.nextInt(12) - 1;
    }

    private int page() {
        return random.nextInt(10) == 0 ? random.nextInt() : random.nextInt(300);
    }

    private long address() {
        return random.nextInt(10) == 0 ? random.nextLong() : (long) random.nextInt(1 << 16) << 12;
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    // ---- the conversation ----

    private RawPeer connect(ServedEdu served) {
        sinceConnect = 0;
        tibMaps = 0;
        RawPeer peer = RawPeer.connect(served.socket);
        peer.send(RawPeer.command(0, VfioUserCommand.VERSION, Le.of().u16(0).u16(1)
                .cstring("{\"capabilities\":{\"max_msg_fds\":8}}").build()));
        RawPeer.Frame r = replyTo(peer, 0);
        assertEquals(0x1, r.flags(), "VERSION is answered");
        return peer;
    }

    private RawPeer reconnect(RawPeer peer, ServedEdu served, String after) throws Exception {
        peer.close();
        reconnects++;
        if (!served.server.awaitNoClient(5, TimeUnit.SECONDS)) {
            throw new AssertionError("the server did not let go of a client after " + after);
        }
        return connect(served);
    }

    private void awaitReply(RawPeer peer, Fuzzed m) {
        RawPeer.Frame r;
        r = replyTo(peer, m.id, m.kind);
        assertEquals(m.command & 0xFFFF, r.command(), "the reply names the command of " + m.kind);
        count(answers, r.isError() ? "error " + Errno.describe(r.error()) : "ok");
        r.closeFds();
    }

    private RawPeer.Frame replyTo(RawPeer peer, int id) {
        return replyTo(peer, id, "message " + id);
    }

    /** The reply with {@code id}; a DMA command from the server meanwhile gets an error reply. */
    private RawPeer.Frame replyTo(RawPeer peer, int id, String what) {
        while (true) {
            RawPeer.Frame f;
            try {
                f = peer.receive(REPLY_WAIT_MS);
            } catch (RawPeer.ClosedException e) {
                throw new AssertionError("the server closed the connection on " + what + ", which it must survive");
            }
            if (f == null) {
                throw new AssertionError("no reply to " + what + " within " + REPLY_WAIT_MS + " ms: a hang");
            }
            f.closeFds();
            if (f.isReply() && f.id() == id) {
                return f;
            }
            if (!f.isReply()) {
                count(answers, "server command " + f.command());
                peer.send(RawPeer.message(f.id(), f.command(), 16, 0x21, io.jvfio.vmm.linux.Errno.EFAULT.number(),
                        new byte[0]));
            }
        }
    }

    // ---- bookkeeping ----

    private static void count(Map<String, Integer> counts, String key) {
        counts.merge(key, 1, Integer::sum);
    }

    /** A memfd of {@code size} bytes (sparse), sealed against shrinking and growing, as a DMA_MAP needs. */
    private static OwnedFd sealedMemfd(String name, long size) {
        OwnedFd fd = Syscalls.memfdCreate(name, LinuxConstants.MFD_ALLOW_SEALING);
        Syscalls.ftruncate(fd, size);
        Syscalls.addSeals(fd, LinuxConstants.F_SEAL_SHRINK | LinuxConstants.F_SEAL_GROW);
        return fd;
    }
}
