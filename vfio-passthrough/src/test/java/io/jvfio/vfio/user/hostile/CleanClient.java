package io.jvfio.vfio.user.hostile;

import io.jvfio.vfio.user.Le;
import io.jvfio.vfio.user.RawPeer;
import io.jvfio.vfio.user.protocol.VfioUserCommand;

import java.nio.file.Path;

/**
 * The client that must be served between attacks: VERSION, edu's identification register, and a
 * factorial computed by the device (5! = 120), as a driver would do them.
 */
public final class CleanClient {

    /** edu's BAR0 registers (QEMU's docs/specs/edu.rst). */
    static final int EDU_ID = 0x00;
    static final int EDU_FACTORIAL = 0x08;
    static final int EDU_STATUS = 0x20;
    static final long EDU_ID_VALUE = 0x010000edL;

    /** A client served: how long it waited to be answered at all (queued behind others), and in all. */
    public record Served(long waitMillis, long totalMillis) {
    }

    private CleanClient() {
    }

    /**
     * Runs the clean client against the edu device at {@code socket}; it must be served within
     * {@code millis} (it may wait in the backlog behind attackers the server has not dropped yet).
     * Throws AssertionError naming what was not served.
     */
    public static Served run(Path socket, long millis) {
        long start = System.nanoTime();
        long deadline = start + millis * 1_000_000L;
        RawPeer peer = Connect.within(socket, millis);
        if (peer == null) {
            throw new AssertionError("the clean client could not connect to " + socket + " within " + millis + " ms");
        }
        try (peer) {
            Connect.negotiate(peer, 1, left(deadline));
            long waited = (System.nanoTime() - start) / 1_000_000L;
            long id = read32(peer, 2, EDU_ID);
            if (id != EDU_ID_VALUE) {
                throw new AssertionError("edu's identification register read 0x" + Long.toHexString(id));
            }
            awaitIdle(peer, deadline); // an earlier client's factorial may still be computing
            RawPeer.Frame w = peer.call(3, VfioUserCommand.REGION_WRITE,
                    Le.of().u64(EDU_FACTORIAL).u32(0).u32(4).u32(5).build());
            if (w.isError()) {
                throw new AssertionError("the factorial write was refused: errno " + w.error());
            }
            awaitIdle(peer, deadline);
            long result = read32(peer, 4, EDU_FACTORIAL);
            if (result != 120) {
                throw new AssertionError("factorial(5) read " + result);
            }
            return new Served(waited, (System.nanoTime() - start) / 1_000_000L);
        } catch (RawPeer.ClosedException e) {
            throw new AssertionError("the server closed the clean client's connection", e);
        }
    }

    private static int left(long deadline) {
        return (int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000L);
    }

    private static void awaitIdle(RawPeer peer, long deadline) {
        int id = 100;
        while ((read32(peer, id++ & 0x7fff, EDU_STATUS) & 1) != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("edu's factorial stayed busy (status bit 0) past the clean client's bound");
            }
            Thread.onSpinWait();
        }
    }

    static long read32(RawPeer peer, int id, long offset) {
        RawPeer.Frame r = peer.call(id, VfioUserCommand.REGION_READ, Le.of().u64(offset).u32(0).u32(4).build());
        if (r.isError()) {
            throw new AssertionError("REGION_READ of BAR0 at 0x" + Long.toHexString(offset) + ": errno " + r.error());
        }
        return r.payloadBuffer().getInt(16) & 0xFFFFFFFFL;
    }
}
