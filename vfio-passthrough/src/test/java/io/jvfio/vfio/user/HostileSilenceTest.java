package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13 item 7: the server serves one client at a time (spec, "Connection Initiation"), so a
 * client that connects and sends nothing, half a header, or part of a message kept the next one in
 * the backlog waiting for ever. Each attack here holds the server while a second client waits in
 * the backlog with its VERSION already sent; the attacker must be dropped (by the negotiation or the
 * message timeout, short here) and the waiting client served. A negotiated client that is merely
 * idle, as QEMU's is for minutes, is kept.
 */
class HostileSilenceTest {

    /** The timeout under test; the other one is left long, so each test shows its own. */
    private static final long SHORT = 300;
    private static final long LONG = 600_000;
    private static final ConnectionLimits NEGOTIATION = ConnectionLimits.DEFAULTS.withNegotiationTimeout(SHORT)
            .withMessageTimeout(LONG);
    private static final ConnectionLimits MESSAGE = ConnectionLimits.DEFAULTS.withNegotiationTimeout(LONG)
            .withMessageTimeout(SHORT);
    /** The waiting client's bound: far beyond the timeouts, only there so a failure ends. */
    private static final int GENEROUS = 30_000;

    @TempDir
    Path dir;
    private ServedEdu served;
    private ResourceLeakDetector.Level leakLevel;
    private long buffersBefore;

    @BeforeEach
    void level() {
        leakLevel = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    }

    @AfterEach
    void stop() throws Exception {
        if (served != null) {
            assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the last session ended");
            assertEquals(buffersBefore, Fds.pooledBuffers(), "every pooled buffer the sessions took is released");
            served.close(); // and every fd is back
        }
        ResourceLeakDetector.setLevel(leakLevel);
    }

    /** Serves edu under {@code limits}, once a first client has come and gone (the lasting buffers are counted). */
    private void serve(ConnectionLimits limits) throws Exception {
        served = new ServedEdu(dir, limits);
        try (RawPeer first = negotiated(served.socket)) {
            first.call(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
            // An error reply too: the pool's per-thread cache keeps a buffer of each size class it has seen.
            first.call(3, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(99).u32(4).build())
                    .expectError(io.jvfio.vmm.linux.Errno.EINVAL);
        }
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the first session ended");
        buffersBefore = Fds.pooledBuffers();
    }

    private static RawPeer negotiated(Path socket) {
        RawPeer peer = RawPeer.connect(socket);
        peer.call(1, VfioUserCommand.VERSION, version());
        return peer;
    }

    private static byte[] version() {
        return Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}");
    }

    /** Connects the attacker and waits until it is the server's client. */
    private RawPeer attacker() throws InterruptedException {
        int before = served.server.clientsServed();
        RawPeer a = RawPeer.connect(served.socket);
        Fds.await("the attacker is the server's client", () -> served.server.clientsServed() == before + 1
                && served.server.hasClient());
        return a;
    }

    /**
     * A second client, in the backlog behind {@code attacker}, sends VERSION; it must be answered,
     * which happens only once the attacker is gone. Then it reads edu's identification register.
     */
    private void theNextClientIsServedAfter(RawPeer attacker) {
        try (RawPeer next = RawPeer.connect(served.socket)) {
            assertTrue(next.send(RawPeer.command(1, VfioUserCommand.VERSION, version())), "VERSION sent");
            RawPeer.Frame v = next.reply(GENEROUS);
            assertTrue(v.isReply() && !v.isError() && v.command() == VfioUserCommand.VERSION.number(),
                    "the waiting client's VERSION was answered: " + v);
            assertTrue(attacker.closedWithin(GENEROUS), "the attacker was dropped");
            RawPeer.Frame r = next.call(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
            assertFalse(r.isError(), "the waiting client's read was answered");
            assertEquals(16 + 16 + 4, r.size());
        }
    }

    @Test
    void aClientThatSendsNothingIsDroppedForTheNext() throws Exception {
        serve(NEGOTIATION);
        try (RawPeer attacker = attacker()) {
            theNextClientIsServedAfter(attacker);
        }
    }

    /** Talks, so no message is ever left part-way, but never negotiates. */
    @Test
    void aClientThatNeverNegotiatesIsDroppedForTheNext() throws Exception {
        serve(NEGOTIATION);
        try (RawPeer attacker = attacker()) {
            RawPeer.Frame info = attacker.call(2, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build());
            info.expectError(io.jvfio.vmm.linux.Errno.EINVAL); // before VERSION
            theNextClientIsServedAfter(attacker);
        }
    }

    @Test
    void halfAHeaderIsDroppedForTheNext() throws Exception {
        serve(MESSAGE);
        try (RawPeer attacker = negotiated(served.socket)) {
            ByteBuffer m = RawPeer.command(2, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build());
            assertTrue(attacker.send(m.limit(VfioUserHeader.SIZE / 2)), "half a header sent");
            theNextClientIsServedAfter(attacker);
        }
    }

    @Test
    void aPartialMessageIsDroppedForTheNext() throws Exception {
        serve(MESSAGE);
        try (RawPeer attacker = negotiated(served.socket)) {
            ByteBuffer m = RawPeer.command(2, VfioUserCommand.REGION_WRITE,
                    Le.of().u64(0).u32(2).u32(4096).zeros(4096).build());
            assertTrue(attacker.send(m.limit(VfioUserHeader.SIZE + 100)), "the header and 100 of its bytes sent");
            theNextClientIsServedAfter(attacker);
        }
    }

    /**
     * Negotiated and silent for many times both timeouts (QEMU idles for minutes): kept, and served
     * when it speaks again, while the next client waits. Both timeouts short here.
     */
    @Test
    void anIdleNegotiatedClientIsKept() throws Exception {
        serve(ConnectionLimits.DEFAULTS.withNegotiationTimeout(SHORT).withMessageTimeout(SHORT));
        try (RawPeer idle = negotiated(served.socket)) {
            // A message, so that a message timer has been armed once, then silence.
            assertFalse(idle.call(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build()).isError());
            try (RawPeer next = RawPeer.connect(served.socket)) {
                assertTrue(next.send(RawPeer.command(1, VfioUserCommand.VERSION, version())), "VERSION sent");
                assertFalse(idle.closedWithin((int) (10 * SHORT)), "the idle client is kept");
                assertTrue(next.receive(0) == null, "the next client still waits in the backlog");
                RawPeer.Frame r = idle.call(3, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
                assertFalse(r.isError(), "the idle client is served when it speaks again");
                assertEquals(2, served.server.clientsServed(), "the first and the idle one; not the next");
                idle.close();
                RawPeer.Frame v = next.reply(GENEROUS);
                assertTrue(v.isReply() && !v.isError(), "the next client is served once the idle one leaves");
            }
        }
    }
}
