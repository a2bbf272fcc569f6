package io.jvfio.vfio.user;

import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.LinuxConstants;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
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
 * Fuzzes the server over a real socket with 100,000+ random and mutated messages: bad sizes,
 * truncated headers and payloads, wrong fd counts, huge counts and offsets, unknown commands and
 * types, out-of-range regions and interrupt indexes. Every command that asks for a reply must get
 * one within 5 s (no hang); a broken stream may close the connection, after which the next client
 * must be served. At the end the device still answers, the fd count is back where it started and
 * no pooled buffer is left allocated.
 */
class VfioUserServerFuzzTest {

    private static final int MESSAGES = 100_000;
    private static final long SEED = 0x5eed_f00dL;
    private static final int REPLY_WAIT_MS = 5000;

    @TempDir
    Path dir;

    private final Random random = new Random(SEED);
    private final Map<String, Integer> sent = new TreeMap<>();
    private final Map<String, Integer> traits = new TreeMap<>();
    private final Map<String, Integer> answers = new TreeMap<>();
    private int reconnects;

    @Test
    void oneHundredThousandHostileMessages() throws Exception {
        long activeBefore = Fds.pooledBuffers();
        try (ServedEdu served = new ServedEdu(dir);
             EventFd eventfd = new EventFd("fuzz eventfd");
             OwnedFd memfd = sealedMemfd()) {
            int[] fdPool = {eventfd.fd().get(), memfd.get()};
            RawPeer peer = connect(served);
            long heapBefore = Fds.heapAfterGc();
            for (int i = 0; i < MESSAGES; i++) {
                if (i % 5000 == 4999) {
                    peer.close(); // a fresh client now and then: DMA windows and eventfds go with the old one
                    peer = connect(served);
                }
                Fuzzed m = next(fdPool);
                count(sent, m.kind);
                if (!peer.send(m.bytes, m.fds) || m.breaksStream) {
                    peer = reconnectAfter(peer, served, m);
                    continue;
                }
                if (m.wantsReply) {
                    awaitReply(peer, m);
                    if (m.closes) {
                        peer = reconnectAfter(peer, served, m);
                    }
                }
            }
            // The device still answers, and the server holds only the last client's windows.
            assertTrue(served.server.dmaWindows() <= 5000, served.server.dmaWindows() + " DMA windows");
            peer.send(RawPeer.command(1, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build()));
            RawPeer.Frame id = replyTo(peer, 1);
            assertEquals(0x010000ed, id.payloadBuffer().getInt(16));
            peer.close();
            assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS));
            long heapGrowth = Fds.heapAfterGc() - heapBefore;
            System.out.printf("vfio-user server fuzz: %,d messages (seed 0x%x), %d reconnects%n  sent:    %s%n"
                    + "  of them: %s%n  answers: %s%n  heap growth after GC: %,d bytes%n", MESSAGES, SEED, reconnects,
                    sent, traits, answers, heapGrowth);
            assertTrue(heapGrowth < 64L << 20, "heap grew by " + heapGrowth + " bytes");
        }
        assertEquals(activeBefore, Fds.pooledBuffers(), "every pooled buffer the server took is released");
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
        RawPeer peer = RawPeer.connect(served.socket);
        peer.send(RawPeer.command(0, VfioUserCommand.VERSION, Le.of().u16(0).u16(1)
                .cstring("{\"capabilities\":{\"max_msg_fds\":8}}").build()));
        RawPeer.Frame r = replyTo(peer, 0);
        assertEquals(0x1, r.flags(), "VERSION is answered");
        return peer;
    }

    private RawPeer reconnectAfter(RawPeer peer, ServedEdu served, Fuzzed m) throws Exception {
        peer.close();
        reconnects++;
        if (!served.server.awaitNoClient(5, TimeUnit.SECONDS)) {
            throw new AssertionError("the server did not let go of a client that sent " + m.kind);
        }
        return connect(served);
    }

    private void awaitReply(RawPeer peer, Fuzzed m) {
        RawPeer.Frame r;
        try {
            r = replyTo(peer, m.id);
        } catch (RawPeer.ClosedException e) {
            throw new AssertionError("the server closed the connection on " + m.kind + ", which it must survive");
        }
        assertEquals(m.command & 0xFFFF, r.command(), "the reply names the command of " + m.kind);
        count(answers, r.isError() ? "error " + io.jvfio.vmm.linux.Errno.describe(r.error()) : "ok");
        r.closeFds();
    }

    /** The reply with {@code id}; a DMA command from the server meanwhile gets an error reply. */
    private RawPeer.Frame replyTo(RawPeer peer, int id) {
        while (true) {
            RawPeer.Frame f = peer.receive(REPLY_WAIT_MS);
            if (f == null) {
                throw new AssertionError("no reply to message " + id + " within " + REPLY_WAIT_MS + " ms: a hang");
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

    private static OwnedFd sealedMemfd() {
        OwnedFd fd = Syscalls.memfdCreate("fuzz-ram", LinuxConstants.MFD_ALLOW_SEALING);
        Syscalls.ftruncate(fd, 1 << 20);
        Syscalls.addSeals(fd, LinuxConstants.F_SEAL_SHRINK | LinuxConstants.F_SEAL_GROW);
        return fd;
    }
}
