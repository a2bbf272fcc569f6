package io.jvfio.vfio.user;

import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vfio.user.transport.VfioUserEventLoop;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13 item 6: a peer that sends requests and reads none of the replies (client or server). 1,500 requests of 32
 * bytes for 1 MiB REGION_READs of BAR2 took the server to 2.3 GB: every reply was queued. The
 * connection's output is bounded: past its high water mark it reads no more requests, and output
 * that goes nowhere for the write-stall timeout ends the connection, after which the next client
 * is served and every fd and pooled buffer is back.
 */
class HostileOutputTest {

    /** A short stall timeout, so the test does not wait the default 10 s; the output bound is the default. */
    private static final ConnectionLimits LIMITS = ConnectionLimits.DEFAULTS.withWriteStallTimeout(500);
    private static final int REQUESTS = 1500;
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private ServedEdu served;
    private ResourceLeakDetector.Level leakLevel;

    @BeforeEach
    void start() throws Exception {
        leakLevel = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        served = new ServedEdu(dir, LIMITS);
    }

    @AfterEach
    void stop() throws Exception {
        served.close();
        ResourceLeakDetector.setLevel(leakLevel);
    }

    private RawPeer negotiated() {
        RawPeer peer = RawPeer.connect(served.socket);
        peer.call(1, VfioUserCommand.VERSION, Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}"));
        return peer;
    }

    private void aFreshClientIsServed() {
        try (RawPeer next = negotiated()) {
            RawPeer.Frame r = next.call(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
            assertFalse(r.isError(), "the fresh client's read was answered");
            assertEquals(16 + 16 + 4, r.size());
        }
    }

    /**
     * Sends the 1,500 requests for 1 MiB of BAR2 at once and reads nothing; returns the attacker's
     * connection on the server once the server has stopped reading them.
     */
    private VfioUserConnection readsNeverRead(RawPeer attacker, long directBefore) throws InterruptedException {
        ByteBuffer requests = ByteBuffer.allocate(REQUESTS * 32);
        for (int i = 0; i < REQUESTS; i++) {
            requests.put(RawPeer.command(2 + i, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(MIB).build()));
        }
        assertTrue(attacker.send(requests.flip()), "the server took the 1,500 requests into its socket");
        VfioUserConnection c = served.server.clientConnection();
        assertTrue(c != null, "the attacker is the server's client");
        heldBack(c, directBefore);
        return c;
    }

    /**
     * Waits until {@code c} stops reading its peer's requests, and checks what the replies hold of
     * the pool: within the bound (the pool's chunks are 4 MiB), where it was 1,500 MiB. The pool only
     * grows by chunks the others do not have free, so this is an upper bound, as it should be.
     */
    private static void heldBack(VfioUserConnection c, long directBefore) throws InterruptedException {
        long most = 2 * c.limits().maxQueuedOutput() + (4 << 20);
        Fds.await("the connection stops reading its peer (or outgrows the bound)",
                () -> c.isReadingPaused() || pooledDirectMemory() - directBefore > most);
        long grown = pooledDirectMemory() - directBefore;
        assertTrue(grown <= most, "the pool grew by " + grown + " bytes");
        long queued = c.queuedOutputBytes();
        assertTrue(queued > c.limits().pauseReadingAbove() && queued <= c.limits().maxQueuedOutput(),
                "held back with " + queued + " bytes queued, above the high water mark and within the bound");
    }

    private static long pooledDirectMemory() {
        return PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory();
    }

    @Test
    void repliesNeverReadStayUnderTheBoundAndTheReaderIsDropped() throws Exception {
        aFreshClientIsServed(); // the server's lasting buffers, allocated at its first client, are in the counts
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the first session ended");
        long buffersBefore = Fds.pooledBuffers();
        long directBefore = pooledDirectMemory();
        try (RawPeer attacker = negotiated()) {
            VfioUserConnection c = readsNeverRead(attacker, directBefore);
            assertTrue(served.server.awaitNoClient(30, TimeUnit.SECONDS),
                    "the attacker is dropped once its replies go nowhere for x-write-stall-timeout");
            assertTrue(c.queuedOutputPeak() <= LIMITS.maxQueuedOutput(), "at most the bound was ever queued: "
                    + c.queuedOutputPeak());
            assertTrue(attacker.closedWithin(30_000), "the attacker's connection is closed");
        }
        aFreshClientIsServed();
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the last session ended");
        assertEquals(buffersBefore, Fds.pooledBuffers(), "every pooled buffer the sessions took is released once");
    }

    /**
     * The same attacker leaves while the server has stopped reading it: with reading paused the
     * server watches the socket for writing only, and a hang-up must still end the session at once
     * (the stall timeout is an hour here), not leave it waiting or spin the loop.
     */
    @Test
    void aReaderlessClientThatLeavesWhileHeldBackIsGoneAtOnce() throws Exception {
        served.close();
        served = new ServedEdu(dir, LIMITS.withWriteStallTimeout(ConnectionLimits.MAX_TIMEOUT_MILLIS));
        aFreshClientIsServed();
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the first session ended");
        long buffersBefore = Fds.pooledBuffers();
        try (RawPeer attacker = negotiated()) {
            readsNeverRead(attacker, pooledDirectMemory());
        }
        assertTrue(served.server.awaitNoClient(30, TimeUnit.SECONDS), "the session ended when the attacker left");
        aFreshClientIsServed();
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the last session ended");
        assertEquals(buffersBefore, Fds.pooledBuffers(), "every pooled buffer the sessions took is released once");
    }

    /**
     * The client's end of the same attack, by a scripted server: 1,500 DMA_READs of 1 MiB of guest
     * RAM, none of the client's replies read. The client holds no more than its bound and, once its
     * replies go nowhere for its write-stall timeout (the default, 10 s), ends the connection as a
     * server gone away.
     */
    @Test
    void aServerThatReadsNoDmaRepliesIsLeftByTheClient() throws Exception {
        Path socket = dir.resolve("scripted.sock");
        long directBefore = pooledDirectMemory();
        try (ScriptedServer server = new ScriptedServer(socket);
             io.jvfio.memory.GuestMemory memory = new io.jvfio.memory.GuestMemory()) {
            memory.addRegion("ram", 0, io.jvfio.memory.MemoryBackend.memfd("ram", MIB, false));
            try (VfioUserClient client = server.accept(() -> VfioUserClient.connect(socket, 5000, memory))) {
                ByteBuffer requests = ByteBuffer.allocate(REQUESTS * 32);
                for (int i = 0; i < REQUESTS; i++) {
                    requests.put(RawPeer.message(0x1000 + i, VfioUserCommand.DMA_READ.number(), 32,
                            VfioUserHeader.TYPE_COMMAND, 0, Le.of().u64(0).u64(MIB).build()));
                }
                assertTrue(server.peer.send(requests.flip()), "the client took the 1,500 DMA_READs into its socket");
                VfioUserConnection c = client.connection();
                heldBack(c, directBefore);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (!client.isDead()) {
                    assertTrue(System.nanoTime() < deadline, "the client left the server within 60 s");
                    Thread.sleep(10); // a poll of the condition, bounded by the deadline
                }
                assertTrue(c.queuedOutputPeak() <= c.limits().maxQueuedOutput(), "at most the bound was ever "
                        + "queued: " + c.queuedOutputPeak());
            }
        }
    }

    /**
     * The same bound on a message this end starts itself (a server's DMA_READ/WRITE, a client's
     * request): on the transport alone, so it holds for both ends. A peer that reads nothing lets
     * the queue fill; the message that would pass the bound ends the connection, with a cause that
     * names the bound and its property.
     */
    @Test
    void aMessageThisEndStartsPastTheBoundClosesTheConnection() throws Exception {
        long before = Fds.open();
        long buffersBefore = Fds.pooledBuffers();
        OwnedFd[] pair = Syscalls.socketpair(LinuxConstants.SOCK_STREAM | LinuxConstants.SOCK_NONBLOCK,
                "hostile-output");
        CompletableFuture<Throwable> closed = new CompletableFuture<>();
        try (RawPeer peer = new RawPeer(pair[0]); VfioUserEventLoop loop = new VfioUserEventLoop("hostile-output")) {
            VfioUserConnection c = VfioUserConnection.open("hostile-output", pair[1], loop.loop(),
                    new VfioUserConnection.Listener() {
                        @Override
                        public void onMessage(VfioUserConnection connection, VfioUserMessage m) {
                        }

                        @Override
                        public void onClose(VfioUserConnection connection, Throwable cause) {
                            closed.complete(cause);
                        }
                    }, ConnectionLimits.DEFAULTS);
            int sent = 0;
            while (sent < 100) {
                ByteBuf m = VfioUserMessages.command(c.alloc(), sent, VfioUserCommand.DMA_WRITE, 16 + MIB, false);
                m.writeZero(16 + MIB);
                if (!c.send(m)) {
                    break;
                }
                sent++;
            }
            assertTrue(sent < 100, "sending stopped at the bound");
            Throwable cause = closed.get(30, TimeUnit.SECONDS);
            assertTrue(cause != null && cause.getMessage().contains("x-max-queued-output=" + (4 << 20)),
                    "the cause names the bound: " + cause);
            assertTrue(c.queuedOutputPeak() <= ConnectionLimits.DEFAULTS.maxQueuedOutput(),
                    "at most the bound was ever queued: " + c.queuedOutputPeak());
            assertTrue(peer.closedWithin(30_000), "the peer sees the connection close");
        }
        Fds.awaitBackTo(before);
        assertEquals(buffersBefore, Fds.pooledBuffers(), "every queued buffer is released");
    }
}
