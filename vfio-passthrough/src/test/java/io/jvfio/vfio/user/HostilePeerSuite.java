package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the server-side hostile-peer tests share: the edu device served on a fresh socket, Netty's
 * leak detector at PARANOID while each test runs, raw clients, and the check that after an attack
 * the server serves a fresh client. ServedEdu's close fails the test if any fd the server received
 * is still open.
 */
abstract class HostilePeerSuite {

    /** VFIO_PCI_MSIX_IRQ_INDEX, and the SET_IRQS flags a raw client sends. */
    static final int MSIX = 2;
    static final int DATA_NONE_TRIGGER = 0x21;
    static final int DATA_EVENTFD_TRIGGER = 0x24;

    @TempDir
    Path dir;
    ServedEdu served;
    private ResourceLeakDetector.Level leakLevel;

    @BeforeEach
    void serve() throws Exception {
        leakLevel = ResourceLeakDetector.getLevel();
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        served = new ServedEdu(dir);
    }

    @AfterEach
    void stopServing() throws Exception {
        served.close();
        ResourceLeakDetector.setLevel(leakLevel);
    }

    /** A raw client past VERSION (0.1, max_msg_fds 16). */
    RawPeer negotiated() {
        RawPeer peer = RawPeer.connect(served.socket);
        peer.call(1, VfioUserCommand.VERSION, Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}"));
        return peer;
    }

    /** The client reads edu's identification register, message {@code id}, and is answered. */
    static void stillServed(RawPeer peer, int id) {
        RawPeer.Frame r = peer.call(id, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
        assertFalse(r.isError(), "the client's read was answered");
        assertEquals(16 + 16 + 4, r.size());
        assertEquals(0x010000ed, r.payloadBuffer().getInt(16), "edu's identification");
    }

    /** Once the last client has gone, a fresh one negotiates and is served. */
    void aFreshClientIsServed() throws InterruptedException {
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS), "the last session ended");
        try (RawPeer next = negotiated()) {
            stillServed(next, 2);
        }
    }
}
