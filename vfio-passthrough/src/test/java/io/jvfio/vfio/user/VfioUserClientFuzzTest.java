package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes the client from the server's side over a real socket: random and mutated server-to-client
 * messages (DMA_READ/DMA_WRITE inside and outside the DMA windows, huge and zero counts, addresses
 * near 2^63 and 2^64, truncated payloads, commands that go the other way, unknown commands and types,
 * unsolicited replies, stray fds, bad sizes), the hostile server's attacks of issue 13 as classes of
 * input (see {@link #attack}), then the client's own requests answered with mutated replies (error
 * flags, short payloads, wrong commands, stray fds, wrong IDs, none at all). The client must answer
 * every command that asks for it within 5 s, never write guest memory outside a DMA_WRITE it
 * accepted, read all-ones for a reply it cannot use, and leave no fd behind.
 *
 * <p>CI runs {@value #CI_MESSAGES} messages; the full run is a million:
 * {@code mvn -B -o verify -pl vfio-passthrough -am -Dtest=VfioUserClientFuzzTest
 * -Dsurefire.failIfNoSpecifiedTests=false -DskipITs -Djvfio.fuzz.messages=1000000}.
 * Netty's leak detector runs at PARANOID; at the end this process (the fuzzed client's) still runs,
 * a new client is served by a clean server (edu's, this project's), no leak was reported, and fds,
 * pooled buffers (arena by arena) and resident memory are back ({@link FuzzRun}).
 */
class VfioUserClientFuzzTest {

    /** CI's count (both fuzzers together stay under about two minutes on two cores). */
    static final int CI_MESSAGES = 50_000;
    private static final int MUTATED_REPLIES = 3_000;
    private static final long SEED = 0xc11e_47L;
    private static final long RAM = 8 << 20;
    private static final int X_MSG_TIMEOUT_MS = 300;
    /** Of a thousand turns, this many run one of the scripted attacks instead of one mutated message. */
    private static final int ATTACK_PER_MILLE = 5;
    /** One silent-server attack (item 7) per this many messages: each costs the client's x-msg-timeout. */
    private static final int SILENCE_EVERY = 20_000;
    private static final int MMAP_REGION = 2;
    private static final int MMAP_REGION_SIZE = 1 << 20;

    @TempDir
    Path dir;

    private final int messages = FuzzRun.messages(CI_MESSAGES);
    private final Random random = new Random(SEED);
    private final Map<String, Integer> sent = new TreeMap<>();
    private final Map<String, Integer> classes = new TreeMap<>();
    private final Map<String, Integer> answers = new TreeMap<>();
    private int reconnects;
    private int sentCount;
    private int nextId = 0x100;

    @Test
    void hostileServerMessagesAndIssue13Attacks() throws Exception {
        FuzzRun run = FuzzRun.start("vfio-user client fuzz");
        long started = System.nanoTime();
        Path socket = dir.resolve("scripted.sock");
        GuestMemory memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", RAM, false));
        byte[] shadow = new byte[(int) RAM]; // what guest RAM must hold: changed only by accepted DMA_WRITEs
        int mutated;
        long fuzzSeconds;
        try (ScriptedServer server = new ScriptedServer(socket); EventFd stray = new EventFd("stray")) {
            VfioUserClient[] client = {connect(server, socket, memory)};
            int nextSilence = SILENCE_EVERY / 2;
            while (sentCount < messages) {
                if (sentCount >= nextSilence) {
                    nextSilence += SILENCE_EVERY;
                    silentServer(client, server, socket, memory);
                    continue;
                }
                if (random.nextInt(1000) < ATTACK_PER_MILLE) {
                    attack(client, server, socket, memory, shadow);
                    continue;
                }
                Message m = next(stray.fd().get());
                count(sent, m.kind);
                sentCount++;
                server.peer.send(m.bytes, m.fds);
                if (m.breaksStream) {
                    Fds.await("the client drops a broken stream", client[0]::isDead);
                    reconnect(client, server, socket, memory, m.kind);
                    continue;
                }
                if (m.wantsReply) {
                    RawPeer.Frame r = replyTo(server.peer, m.id);
                    check(m, r, memory, shadow);
                } else if (m.valid && m.command == 12) {
                    // No_reply: accepted all the same. Messages are handled in order, so the next
                    // reply is also proof that this write has landed.
                    System.arraycopy(m.data, 0, shadow, (int) m.address, m.data.length);
                }
            }
            server.peer.send(RawPeer.message(1, 11, 32, 0, 0, Le.of().u64(0).u64(1).build()));
            replyTo(server.peer, 1).closeFds(); // every earlier message has been handled
            byte[] ram = new byte[(int) RAM];
            memory.ram().read(0, ram, 0, ram.length);
            assertArrayEquals(shadow, ram, "guest RAM changed only where a DMA_WRITE was accepted");

            fuzzSeconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
            mutated = mutatedReplies(client[0], server);
            server.answerInBackground();
            assertEquals(ScriptedServer.patternValue(0x10, 4), client[0].read(0, 0x10, 4), "the client still works");
            client[0].close();
            server.stopAnswering();
        } finally {
            memory.close();
        }
        // The fuzzed client's process goes on: a new client is served by a clean server.
        try (io.jvfio.vfio.devices.EduDevice edu = new io.jvfio.vfio.devices.EduDevice();
             VfioUserServer clean = VfioUserServer.start(dir.resolve("clean.sock"), edu);
             VfioUserClient next = VfioUserClient.connect(clean.path(), 5000, null)) {
            assertEquals(io.jvfio.vfio.devices.EduRegisters.ID_VALUE, next.read(0, 0, 4), "a clean server serves a new client");
        }
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);
        System.out.printf("vfio-user client fuzz: %,d server messages (seed 0x%x) in %d s, %d reconnects, then %,d requests "
                + "with mutated replies (%d s in all)%n  attack classes (issue 13 item: occurrences): %s%n  sent:    %s%n"
                + "  answers: %s%n", sentCount, SEED, fuzzSeconds, reconnects, mutated, seconds, classes, sent, answers);
        run.finish();
    }

    // ---- the hostile server's attacks of issue 13, as classes of input ----

    private void attack(VfioUserClient[] client, ScriptedServer server, Path socket, GuestMemory memory, byte[] shadow)
            throws Exception {
        switch (random.nextInt(5)) {
            case 0 -> {
                // Item 1: a DMA_READ whose 1 MiB reply the socket cannot take at once; the server never
                // reads it and leaves. The client's queued reply has one owner and one release.
                classes.merge("1 unread 1 MiB DMA_READ reply, then the server leaves", 1, Integer::sum);
                sendCommand(server, 11, Le.of().u64(0).u64(1 << 20).build());
                reconnect(client, server, socket, memory, "an unread 1 MiB reply");
            }
            case 1 -> {
                // Item 6: 1 MiB DMA_READs whose replies the server reads late, or never (it leaves).
                boolean drain = random.nextBoolean();
                classes.merge(drain ? "6 flood of 1 MiB DMA_READs, replies read late"
                        : "6 flood of 1 MiB DMA_READs, then the server leaves", 1, Integer::sum);
                int n = 8 + random.nextInt(57);
                int[] ids = new int[n];
                long[] addresses = new long[n];
                for (int i = 0; i < n; i++) {
                    addresses[i] = (long) random.nextInt((int) (RAM - (1 << 20)) >> 12) << 12;
                    ids[i] = sendCommand(server, 11, Le.of().u64(addresses[i]).u64(1 << 20).build());
                }
                if (!drain) {
                    reconnect(client, server, socket, memory, "a flood of unread replies");
                    return;
                }
                for (int i = 0; i < n; i++) {
                    RawPeer.Frame r = replyTo(server.peer, ids[i]);
                    r.closeFds();
                    assertTrue(!r.isError(), "a 1 MiB DMA_READ inside RAM is answered");
                    byte[] expected = Arrays.copyOfRange(shadow, (int) addresses[i], (int) addresses[i] + (1 << 20));
                    assertArrayEquals(expected, Arrays.copyOfRange(r.payload(), 16, 16 + (1 << 20)), "DMA_READ returns RAM");
                }
            }
            case 2 -> {
                // Item 7, the cheap half: a message in two pieces, the second after the client has
                // seen the first; it is answered as a whole.
                classes.merge("7 message sent in pieces", 1, Integer::sum);
                int id = nextId++ & 0xFFFF;
                ByteBuffer whole = RawPeer.message(id, 11, 32, 0, 0, Le.of().u64(64).u64(8).build());
                int cut = 1 + random.nextInt(whole.remaining() - 1);
                sentCount++;
                count(sent, "DMA_READ in pieces");
                server.peer.send(whole.duplicate().limit(cut));
                server.peer.send(whole.duplicate().position(cut));
                RawPeer.Frame r = replyTo(server.peer, id);
                r.closeFds();
                assertTrue(!r.isError(), "a DMA_READ sent in pieces is answered");
            }
            case 3 -> mmapRegionWithShortFd(client, server, socket, memory);
            default -> {
                // Item 9: DMA at addresses whose end passes 2^63 or 2^64.
                classes.merge("9 DMA_READ/WRITE address near 2^63/2^64", 1, Integer::sum);
                long count = 1 + random.nextInt(64);
                long address = switch (random.nextInt(4)) {
                    case 0 -> Long.MAX_VALUE - random.nextInt(64);
                    case 1 -> Long.MIN_VALUE + random.nextInt(64);
                    case 2 -> -1L - random.nextInt(64);
                    default -> -count + random.nextInt((int) count); // ends at 2^64 or wraps past it
                };
                boolean write = random.nextBoolean();
                Le l = Le.of().u64(address).u64(count);
                if (write) {
                    l.zeros((int) count);
                }
                int id = sendCommand(server, write ? 12 : 11, l.build());
                RawPeer.Frame r = replyTo(server.peer, id);
                r.closeFds();
                assertTrue(r.isError(), "DMA of " + count + " bytes at 0x" + Long.toHexString(address) + " must be refused");
                count(answers, "error " + Errno.describe(r.error()));
            }
        }
    }

    /**
     * Item 8: the server offers an mmap-able region with a file descriptor whose file is empty or
     * shorter than the region: a mapping of it would fault (SIGBUS) at the first access past the
     * end. The client must not offer such an area for mapping, or refuse to map it; the region is
     * still reached by messages.
     */
    private void mmapRegionWithShortFd(VfioUserClient[] client, ScriptedServer server, Path socket, GuestMemory memory)
            throws Exception {
        long fileSize = random.nextBoolean() ? 0 : 4096L * (1 + random.nextInt(255));
        classes.merge(fileSize == 0 ? "8 mmap-able region with a 0-byte memfd" : "8 mmap-able region with a short memfd",
                1, Integer::sum);
        try (OwnedFd memfd = io.jvfio.vmm.linux.Syscalls.memfdCreate("hostile-bar", 0)) {
            io.jvfio.vmm.linux.Syscalls.ftruncate(memfd, fileSize);
            server.override = f -> {
                if (f.command() != VfioUserCommand.DEVICE_GET_REGION_INFO.number()
                        || f.payloadBuffer().getInt(8) != MMAP_REGION) {
                    return false;
                }
                byte[] info = Le.of().u32(32).u32(0x7).u32(MMAP_REGION).u32(0).u64(MMAP_REGION_SIZE).u64(0).build();
                server.peer.send(RawPeer.message(f.id(), f.command(), 16 + info.length, 0x1, 0, info), memfd.get());
                return true;
            };
            try {
                // Messages are handled in order: this reply proves that a No_reply DMA_WRITE before it landed.
                replyTo(server.peer, sendCommand(server, 11, Le.of().u64(0).u64(1).build())).closeFds();
                client[0].close();
                reconnects++;
                client[0] = connect(server, socket, memory);
            } finally {
                server.override = f -> false;
            }
        }
        RegionCapability.Area whole = new RegionCapability.Area(0, MMAP_REGION_SIZE);
        if (client[0].layout().region(MMAP_REGION).mmapAreas().contains(whole)) {
            MemoryMapping m;
            try {
                m = client[0].mmap(MMAP_REGION, whole);
            } catch (io.jvfio.vfio.VfioException e) {
                count(answers, "mmap of a short fd refused");
                return;
            }
            m.close();
            throw new AssertionError("the client mapped 1 MiB of a " + fileSize + "-byte file: the first access past its "
                    + "end would fault (SIGBUS) (issue 13 item 8, branch client)");
        }
        count(answers, "short fd's area not offered for mmap");
        server.answerInBackground();
        try {
            assertEquals(ScriptedServer.patternValue(0x40, 4), client[0].read(MMAP_REGION, 0x40, 4),
                    "the region is reached by messages");
        } finally {
            server.stopAnswering();
        }
    }

    /**
     * Item 7: the server sends part of a message and then nothing. The client's request in the
     * meantime ends at its x-msg-timeout with all-ones; the server then leaves, and the client says so.
     */
    private void silentServer(VfioUserClient[] client, ScriptedServer server, Path socket, GuestMemory memory)
            throws Exception {
        boolean halfHeader = random.nextBoolean();
        classes.merge(halfHeader ? "7 silent server after half a header" : "7 silent server after part of a message",
                1, Integer::sum);
        ByteBuffer m = RawPeer.message(nextId++ & 0xFFFF, 11, 32, 0, 0, Le.of().u64(0).u64(8).build());
        sentCount++;
        count(sent, halfHeader ? "half a header" : "part of a message");
        server.peer.send(m.limit(halfHeader ? 8 : 20));
        CompletableFuture<Long> read = CompletableFuture.supplyAsync(() -> client[0].read(0, 0, 4));
        RawPeer.Frame request = server.peer.reply(5000); // the client's REGION_READ, never answered
        request.closeFds();
        assertEquals(0xFFFFFFFFL, read.get(5, TimeUnit.SECONDS), "a request the server never answers reads all-ones");
        reconnect(client, server, socket, memory, "a silent server");
    }

    private int sendCommand(ScriptedServer server, int command, byte[] payload) {
        int id = nextId++ & 0xFFFF;
        sentCount++;
        count(sent, VfioUserCommand.of(command).name());
        server.peer.send(RawPeer.message(id, command, 16 + payload.length, 0, 0, payload));
        return id;
    }

    /** The server leaves (or broke the stream): the client must notice, and a new one connects. */
    private void reconnect(VfioUserClient[] client, ScriptedServer server, Path socket, GuestMemory memory, String after)
            throws Exception {
        server.peer.close();
        Fds.await("the client notices the server left after " + after, client[0]::isDead);
        client[0].close();
        reconnects++;
        client[0] = connect(server, socket, memory);
    }

    private VfioUserClient connect(ScriptedServer server, Path socket, GuestMemory memory) throws Exception {
        return server.accept(() -> VfioUserClient.connect(socket, X_MSG_TIMEOUT_MS, memory));
    }

    // ---- server-to-client messages ----

    private record Message(String kind, ByteBuffer bytes, int[] fds, boolean wantsReply, boolean breaksStream, int id,
                           int command, long address, byte[] data, boolean valid) {
    }

    private Message next(int strayFd) {
        int id = random.nextInt(0x10000);
        int roll = random.nextInt(1000);
        int[] fds = random.nextInt(30) == 0 ? new int[] {strayFd, strayFd} : new int[0];
        if (roll < 2) {
            int size = random.nextBoolean() ? random.nextInt(16) : VfioUserConnection.MAX_MESSAGE + 1 + random.nextInt(1000);
            return new Message("bad-size", RawPeer.message(id, 11, size, 0, 0, new byte[0]), new int[0], false, true, id,
                    11, 0, null, false);
        }
        if (roll < 40) {
            // An unsolicited reply, maybe an error, maybe with fds: dropped, its fds closed.
            return new Message("unsolicited reply", RawPeer.message(id, random.nextInt(20), 16 + 8, 0x1
                    | (random.nextBoolean() ? 0x20 : 0), random.nextInt(200), randomBytes(8)), fds, false, false, id, 0, 0,
                    null, false);
        }
        if (roll < 120) {
            int command = random.nextBoolean() ? 1 + random.nextInt(10) : 19 + random.nextInt(1000);
            if (command == 11 || command == 12) {
                command = 13;
            }
            boolean noReply = random.nextInt(10) == 0;
            VfioUserCommand c = VfioUserCommand.of(command);
            return new Message(c == null ? "unknown command" : "client-side " + c.name(), RawPeer.message(id, command,
                    16 + 16, noReply ? 0x10 : 0, 0, randomBytes(16)), fds, !noReply, false, id, command, 0, null, false);
        }
        if (roll < 150) {
            // A type that is neither command nor reply: ignored.
            return new Message("undefined type", RawPeer.message(id, 11, 32, 2 + random.nextInt(14), 0, randomBytes(16)),
                    fds, false, false, id, 11, 0, null, false);
        }
        boolean write = random.nextBoolean();
        int command = write ? 12 : 11;
        boolean inside = random.nextInt(3) != 0;
        long count = inside ? 1 + random.nextInt(random.nextInt(20) == 0 ? 1 << 20 : 4096)
                : switch (random.nextInt(4)) {
                    case 0 -> 0;
                    case 1 -> (1L << 20) + 1 + random.nextInt(1 << 20);
                    case 2 -> -1 - random.nextInt(100);
                    default -> 1 + random.nextInt(4096);
                };
        long address = inside ? random.nextLong(RAM - Math.max(1, Math.min(count, RAM))) : switch (random.nextInt(3)) {
            case 0 -> RAM - random.nextInt(64);
            case 1 -> -1 - random.nextInt(1 << 20);
            default -> RAM + random.nextInt(1 << 30);
        };
        // The client's rule: inside the one DMA window (all of RAM), 1 byte to max_data_xfer_size.
        boolean valid = count >= 1 && count <= 1 << 20 && address >= 0 && address <= RAM - count;
        Le l = Le.of().u64(address).u64(count);
        byte[] data = null;
        boolean truncated = random.nextInt(20) == 0;
        if (write) {
            int n = (int) Math.max(0, Math.min(count, 1 << 20));
            data = randomBytes(n);
            if (truncated && n > 0) {
                data = Arrays.copyOf(data, random.nextInt(n)); // says count, carries fewer
            }
            l.bytes(data);
        }
        byte[] payload = l.build();
        if (!write && truncated) {
            payload = Arrays.copyOf(payload, random.nextInt(16));
        }
        valid &= !truncated;
        boolean noReply = random.nextInt(20) == 0;
        String kind = (write ? "DMA_WRITE" : "DMA_READ") + (valid ? " inside" : truncated ? " truncated" : " outside");
        return new Message(kind, RawPeer.message(id, command, 16 + payload.length, noReply ? 0x10 : 0, 0, payload), fds,
                !noReply, false, id, command, address, data, valid);
    }

    private void check(Message m, RawPeer.Frame r, GuestMemory memory, byte[] shadow) {
        assertEquals(m.command, r.command(), m.kind);
        r.closeFds();
        if (!m.valid) {
            assertTrue(r.isError(), m.kind + " must be refused");
            assertEquals(16, r.size());
            count(answers, "error " + Errno.describe(r.error()));
            return;
        }
        assertTrue(!r.isError(), m.kind + " must be accepted, got " + Errno.describe(r.error()));
        count(answers, "ok");
        ByteBuffer p = r.payloadBuffer();
        assertEquals(m.address, p.getLong(0));
        if (m.command == 12) {
            // libvfio-user's server reads exactly 16 bytes (address, 64-bit count); the spec's 12 are its prefix.
            assertEquals(16, p.capacity(), "DMA_WRITE's reply: address and a 64-bit count");
            assertEquals(m.data.length, p.getLong(8));
            System.arraycopy(m.data, 0, shadow, (int) m.address, m.data.length);
        } else {
            int count = (int) p.getLong(8);
            assertEquals(16 + count, p.capacity());
            byte[] expected = Arrays.copyOfRange(shadow, (int) m.address, (int) m.address + count);
            assertArrayEquals(expected, Arrays.copyOfRange(r.payload(), 16, 16 + count), "DMA_READ returns guest RAM");
        }
    }

    private static RawPeer.Frame replyTo(RawPeer peer, int id) {
        while (true) {
            RawPeer.Frame f = peer.receive(5000);
            if (f == null) {
                throw new AssertionError("no reply to message " + id + " within 5 s: a hang");
            }
            if (f.isReply() && f.id() == id) {
                return f;
            }
            f.closeFds();
            throw new AssertionError("the client sent " + f + " while it should answer " + id);
        }
    }

    // ---- the client's requests, answered with mutated replies ----

    private int mutatedReplies(VfioUserClient client, ScriptedServer server) throws Exception {
        int done = 0;
        for (int i = 0; i < MUTATED_REPLIES; i++) {
            long offset = random.nextInt(ScriptedServer.BAR0_SIZE / 4) * 4L;
            CompletableFuture<Long> read = CompletableFuture.supplyAsync(() -> client.read(0, offset, 4));
            RawPeer.Frame request = server.peer.reply(5000);
            assertEquals(VfioUserCommand.REGION_READ.number(), request.command());
            long good = ScriptedServer.patternValue(offset, 4);
            Le data = Le.of().u64(offset).u32(0).u32(4).u32(good);
            int roll = random.nextInt(100);
            String kind;
            long expected = 0xFFFFFFFFL;
            if (roll < 30) {
                kind = "correct";
                expected = good;
                server.peer.send(RawPeer.message(request.id(), 9, 36, 0x1, 0, data.build()));
            } else if (roll < 45) {
                kind = "error flag";
                server.peer.send(RawPeer.message(request.id(), 9, 16, 0x21, random.nextInt(200), new byte[0]));
            } else if (roll < 60) {
                kind = "short payload";
                byte[] whole = data.build();
                byte[] part = Arrays.copyOf(whole, random.nextInt(whole.length - 1));
                server.peer.send(RawPeer.message(request.id(), 9, 16 + part.length, 0x1, 0, part));
            } else if (roll < 75) {
                kind = "with stray fds";
                expected = good;
                try (EventFd e = new EventFd("stray")) {
                    server.peer.send(RawPeer.message(request.id(), 9, 36, 0x1, 0, data.build()), e.fd().get());
                }
            } else if (roll < 99 || i % 500 != 0) {
                kind = "error flag with data";
                server.peer.send(RawPeer.message(request.id(), 9, 36, 0x21, 5, data.build()));
            } else { // a few only: each costs x-msg-timeout
                kind = "wrong ID (the request times out)";
                server.peer.send(RawPeer.message(request.id() ^ 0x8000, 9, 36, 0x1, 0, data.build()));
            }
            count(sent, "REGION_READ reply: " + kind);
            assertEquals(expected, read.get(5, TimeUnit.SECONDS), kind);
            done++;
        }
        return done;
    }

    // ---- bookkeeping ----

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static void count(Map<String, Integer> counts, String key) {
        counts.merge(key, 1, Integer::sum);
    }
}
