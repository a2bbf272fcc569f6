package io.jvfio.vfio.user;

import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attacks of issue 13 by a raw client (a peer written outside the project): after each, the server
 * must serve a fresh client, and give back every fd it received.
 */
class VfioUserHostilePeerTest {

    @TempDir
    Path dir;
    private ServedEdu served;
    private ResourceLeakDetector.Level leakLevel;

    @BeforeEach
    void start() throws Exception {
        leakLevel = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        served = new ServedEdu(dir);
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

    /** A fresh client negotiates and reads edu's identification register. */
    private void aFreshClientIsServed() {
        try (RawPeer next = negotiated()) {
            RawPeer.Frame r = next.call(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
            assertTrue(!r.isError(), "the fresh client's read was answered");
            assertEquals(16 + 16 + 4, r.size());
        }
    }

    /**
     * Issue 13 item 1: a 1 MiB reply the socket cannot take at once is queued; the client closes
     * without reading it, so the queued flush fails with EPIPE. The queued buffer has one owner (the
     * queue) and one release: a second release threw from the close path and the session never ended.
     */
    @Test
    void aReplyNeverReadThenADisconnectLeavesTheServerServing() throws Exception {
        aFreshClientIsServed(); // the server's lasting buffers, allocated at its first client, are in the count
        assertTrue(served.server.awaitNoClient(5, java.util.concurrent.TimeUnit.SECONDS), "the first session ended");
        long buffersBefore = Fds.pooledBuffers();
        try (RawPeer peer = negotiated()) {
            peer.send(RawPeer.command(2, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(1 << 20).build()));
            assertTrue(peer.readableWithin(5000), "the server began its 1 MiB reply");
        }
        aFreshClientIsServed();
        assertTrue(served.server.awaitNoClient(5, java.util.concurrent.TimeUnit.SECONDS), "the last session ended");
        assertEquals(buffersBefore, Fds.pooledBuffers(), "every pooled buffer the sessions took is released once");
    }
}
