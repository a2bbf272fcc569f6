package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import org.junit.jupiter.api.Test;

import io.jvfio.vfio.devices.EduRegisters;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EFD_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.EFD_NONBLOCK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Attacks of issue 13 by a raw client (a peer written outside the project): after each, the server
 * must serve a fresh client, and give back every fd it received.
 */
class VfioUserHostilePeerTest extends HostilePeerSuite {

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

    /**
     * Issue 13 item 2: a trigger the client made blocking, with its counter at the eventfd maximum
     * (0xfffffffffffffffe), so that adding one would block the writer. Firing the vector must not
     * block the server: the counter is saturated, so the interrupt is pending for the client anyway.
     */
    @Test
    void aBlockingTriggerAtItsMaximumDoesNotBlockTheServer() throws Exception {
        int raw = LibC.eventfd(0, EFD_CLOEXEC); // blocking on purpose
        assertTrue(raw >= 0, "eventfd");
        try (OwnedFd trigger = OwnedFd.adopt(raw, "blocking trigger");
                RawPeer peer = negotiated()) {
            assertEquals(0, LibC.eventfd_write(trigger.get(), 0xfffffffffffffffeL));
            try {
                RawPeer.Frame set = peer.call(2, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER).u32(MSIX).u32(0).u32(1).build(), trigger.get());
                assertTrue(!set.isError(), "the trigger was accepted");
                RawPeer.Frame fire = peer.call(3, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(1).build());
                assertTrue(!fire.isError(), "firing the vector was answered");
                RawPeer.Frame read = peer.call(4, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
                assertTrue(!read.isError(), "the server still serves this client");
            } finally {
                // Unblocks a server stuck in write (the code before the fix), so the test ends.
                LibC.read(trigger.get(), DirectBuffers.address(java.nio.ByteBuffer.allocateDirect(8)), 8);
            }
        }
        aFreshClientIsServed();
    }

    /**
     * Issue 13 item 2, the way round the first fix: the client passes a non-blocking trigger (as QEMU
     * does), then clears O_NONBLOCK on its own copy, which is the server's too (one open file
     * description), and fills the counter. The vector fired by SET_IRQS (on the event loop) and by the
     * device (edu's worker, holding the interrupt state's lock) must block neither: the attacker's
     * own interrupts may wait, no message of its and no other client may. When it leaves, holding its
     * eventfd still full, the server's signalling thread ends and every fd it received is closed.
     */
    @Test
    void aTriggerTheClientMakesBlockingAfterSetIrqsDoesNotBlockTheServer() throws Exception {
        try (OwnedFd trigger = OwnedFd.adopt(LibC.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "trigger made blocking")) {
            long fdsBefore;
            try (RawPeer peer = negotiated()) {
                fdsBefore = Fds.open();
                RawPeer.Frame set = peer.call(2, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_EVENTFD_TRIGGER).u32(MSIX).u32(0).u32(1).build(), trigger.get());
                assertTrue(!set.isError(), "the trigger was accepted");
                assertEquals(0, LibC.eventfd_write(trigger.get(), 0xfffffffffffffffeL), "the counter at its maximum");
                Pipe.blocking(trigger, true);
                RawPeer.Frame fire = peer.call(3, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(1).build());
                assertTrue(!fire.isError(), "firing the vector by SET_IRQS was answered");
                RawPeer.Frame byDevice = peer.call(4, VfioUserCommand.REGION_WRITE,
                        Le.of().u64(EduRegisters.MSIX_FIRE).u32(0).u32(4).u32(0).build());
                assertTrue(!byDevice.isError(), "firing the vector through the device was answered");
                stillServed(peer, 5);
                RawPeer.Frame again = peer.call(6, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(1).build());
                assertTrue(!again.isError(), "firing it again, with a signal blocked, was answered");
            }
            // The attacker has left and still holds its full, blocking eventfd.
            aFreshClientIsServed();
            Fds.awaitBackTo(fdsBefore);
            Fds.await("the server's signalling thread ended", () -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.isAlive() && t.getName().startsWith("vfio-user-irq-")));
        }
    }

    /**
     * Issue 13 item 3: SET_IRQS in its disable form (DATA_NONE|ACTION_TRIGGER, start 0, count 0)
     * carrying fds. Every fd the server receives is closed, whatever the message.
     */
    @Test
    void theDisableFormOfSetIrqsWithFdsLeaksNone() throws Exception {
        int raw = LibC.eventfd(0, EFD_CLOEXEC);
        try (OwnedFd fd = OwnedFd.adopt(raw, "eventfd sent with disable"); RawPeer peer = negotiated()) {
            long before = Fds.open();
            for (int i = 0; i < 300; i++) {
                peer.call(2 + i, VfioUserCommand.DEVICE_SET_IRQS,
                        Le.of().u32(20).u32(DATA_NONE_TRIGGER).u32(MSIX).u32(0).u32(0).build(), fd.get());
            }
            Fds.awaitBackTo(before);
        }
        aFreshClientIsServed();
    }
}
