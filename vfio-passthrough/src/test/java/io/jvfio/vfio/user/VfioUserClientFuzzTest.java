package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
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
 * Fuzzes the client from the server's side over a real socket: 100,000+ random and mutated
 * server-to-client messages (DMA_READ/DMA_WRITE inside and outside the DMA windows, huge and zero
 * counts, truncated payloads, commands that go the other way, unknown commands and types,
 * unsolicited replies, stray fds, bad sizes), then the client's own requests answered with mutated
 * replies (error flags, short payloads, wrong commands, stray fds, wrong IDs). The client must answer
 * every command that asks for it within 5 s, never write guest memory outside a DMA_WRITE it accepted,
 * read all-ones for a reply it cannot use, and leave no fd behind.
 */
class VfioUserClientFuzzTest {

    private static final int MESSAGES = 100_000;
    private static final int MUTATED_REPLIES = 3_000;
    private static final long SEED = 0xc11e_47L;
    private static final long RAM = 8 << 20;

    @TempDir
    Path dir;

    private final Random random = new Random(SEED);
    private final Map<String, Integer> sent = new TreeMap<>();
    private final Map<String, Integer> answers = new TreeMap<>();
    private int reconnects;

    @Test
    void oneHundredThousandHostileServerMessages() throws Exception {
        long fdsBefore = Fds.open();
        long buffersBefore = Fds.pooledBuffers();
        Path socket = dir.resolve("scripted.sock");
        GuestMemory memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", RAM, false));
        byte[] shadow = new byte[(int) RAM]; // what guest RAM must hold: changed only by accepted DMA_WRITEs
        try (ScriptedServer server = new ScriptedServer(socket); EventFd stray = new EventFd("stray")) {
            VfioUserClient client = connect(server, socket, memory);
            long heapBefore = Fds.heapAfterGc();
            for (int i = 0; i < MESSAGES; i++) {
                Message m = next(stray.fd().get());
                count(sent, m.kind);
                server.peer.send(m.bytes, m.fds);
                if (m.breaksStream) {
                    Fds.await("the client drops a broken stream", client::isDead);
                    client.close();
                    reconnects++;
                    client = connect(server, socket, memory);
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
            memory.read(0, ram, 0, ram.length);
            assertArrayEquals(shadow, ram, "guest RAM changed only where a DMA_WRITE was accepted");

            int mutated = mutatedReplies(client, server);
            server.answerInBackground();
            assertEquals(ScriptedServer.patternValue(0x10, 4), client.read(0, 0x10, 4), "the client still works");
            client.close();
            server.stopAnswering();
            long heapGrowth = Fds.heapAfterGc() - heapBefore;
            System.out.printf("vfio-user client fuzz: %,d server messages (seed 0x%x), %d reconnects, then %,d requests "
                    + "with mutated replies%n  sent:    %s%n  answers: %s%n  heap growth after GC: %,d bytes%n", MESSAGES,
                    SEED, reconnects, mutated, sent, answers, heapGrowth);
            assertTrue(heapGrowth < 64L << 20, "heap grew by " + heapGrowth + " bytes");
        } finally {
            memory.close();
        }
        Fds.awaitBackTo(fdsBefore);
        assertEquals(buffersBefore, Fds.pooledBuffers(), "every pooled buffer the client took is released");
    }

    private VfioUserClient connect(ScriptedServer server, Path socket, GuestMemory memory) throws Exception {
        return server.accept(() -> VfioUserClient.connect(socket, 300, memory));
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
        boolean valid = count >= 1 && count <= 1 << 20 && address >= 0 && address + count <= RAM;
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
