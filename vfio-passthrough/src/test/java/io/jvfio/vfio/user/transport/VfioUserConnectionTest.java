package io.jvfio.vfio.user.transport;

import io.jvfio.vfio.user.Fds;
import io.jvfio.vfio.user.RawPeer;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The transport alone, on a real socket pair: framing, and which message the fds of a read belong
 * to. Messages are queued in the socket before the connection reads, so one read sees several.
 */
class VfioUserConnectionTest {

    /** What the listener saw of one message. */
    record Seen(int id, int size, int fds) {
    }

    private static List<Seen> receive(OwnedFd[] pair, int expected) throws Exception {
        List<Seen> seen = new CopyOnWriteArrayList<>();
        try (VfioUserEventLoop loop = new VfioUserEventLoop("connection-test")) {
            VfioUserConnection c = VfioUserConnection.open("test", pair[1], loop.loop(),
                    new VfioUserConnection.Listener() {
                        @Override
                        public void onMessage(VfioUserConnection connection, VfioUserMessage m) {
                            seen.add(new Seen(m.id(), m.size(), m.fds().length));
                            for (int fd : m.fds()) {
                                LibC.close(fd);
                            }
                        }

                        @Override
                        public void onClose(VfioUserConnection connection, Throwable cause) {
                        }
                    });
            Fds.await(expected + " messages", () -> seen.size() == expected);
            c.close();
        }
        return seen;
    }

    private static void send(RawPeer peer, int id, int payload, int... fds) {
        peer.send(RawPeer.command(id, VfioUserCommand.DEVICE_GET_INFO, new byte[payload]), fds);
    }

    @Test
    void fdsGoWithTheMessageTheyWereSentWithWhenOneReadHoldsSeveral() throws Exception {
        long before = Fds.open();
        OwnedFd[] pair = Syscalls.socketpair(LinuxConstants.SOCK_STREAM, "connection-test");
        try (RawPeer peer = new RawPeer(pair[0]); EventFd e = new EventFd("e")) {
            send(peer, 1, 16);
            send(peer, 2, 100, e.fd().get(), e.fd().get());
            send(peer, 3, 0);
            send(peer, 4, 7, e.fd().get());
            // Larger than a read and than the socket's buffer: sent while the connection reads.
            java.util.concurrent.CompletableFuture<Void> more = java.util.concurrent.CompletableFuture.runAsync(() -> {
                send(peer, 5, 200_000, e.fd().get());
                send(peer, 6, 8);
            });
            List<Seen> seen = receive(pair, 6);
            more.get();
            assertEquals(List.of(new Seen(1, 32, 0), new Seen(2, 116, 2), new Seen(3, 16, 0), new Seen(4, 23, 1),
                    new Seen(5, 200_016, 1), new Seen(6, 24, 0)), seen);
        }
        Fds.awaitBackTo(before);
    }

    @Test
    void aMessageSplitAcrossManyWritesIsReassembled() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(LinuxConstants.SOCK_STREAM, "connection-test");
        try (RawPeer peer = new RawPeer(pair[0])) {
            ByteBuffer m = RawPeer.command(9, VfioUserCommand.REGION_WRITE, new byte[1000]);
            // Byte by byte for the header, then the rest: framing must wait for the whole message.
            for (int i = 0; i < 20; i++) {
                peer.send(m.duplicate().position(i).limit(i + 1));
            }
            peer.send(m.duplicate().position(20));
            assertEquals(List.of(new Seen(9, 1016, 0)), receive(pair, 1));
        }
    }

    /**
     * A caller held up past its deadline between its send and its read (a collection; a vCPU of the host
     * descheduled, as in the nested VM) finds its reply already in the socket: it takes it, rather than
     * calling it a timeout and dropping it as late (two such and the device counted as gone). The event
     * loop is kept busy meanwhile, so that the caller alone can read it.
     */
    @Test
    void aReplyAlreadyInTheSocketAtTheDeadlineIsTaken() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(LinuxConstants.SOCK_STREAM, "connection-test");
        PendingRequests pending = new PendingRequests();
        try (RawPeer peer = new RawPeer(pair[0]); VfioUserEventLoop loop = new VfioUserEventLoop("connection-test")) {
            VfioUserConnection c = VfioUserConnection.open("test", pair[1], loop.loop(),
                    new VfioUserConnection.Listener() {
                        @Override
                        public void onMessage(VfioUserConnection connection, VfioUserMessage m) {
                            pending.complete(m);
                        }

                        @Override
                        public void onClose(VfioUserConnection connection, Throwable cause) {
                        }
                    });
            c.readRepliesOnCallers(pending, 100);
            java.util.concurrent.CountDownLatch busy = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            loop.loop().execute(() -> {
                busy.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            busy.await();
            try {
                PendingRequests.Slot s = pending.acquire(VfioUserCommand.DEVICE_GET_INFO.number());
                peer.send(RawPeer.message(s.id, VfioUserCommand.DEVICE_GET_INFO.number(), VfioUserHeader.SIZE + 16,
                        VfioUserHeader.TYPE_REPLY, 0, new byte[16]));
                // Its deadline passed before it looked (a timeout of 0): the reply is there all the same.
                org.junit.jupiter.api.Assertions.assertTrue(c.awaitReply(pending, s, 0),
                        "a reply waiting in the socket at the deadline was called a timeout");
                pending.release(s);
            } finally {
                release.countDown();
            }
            c.close();
        }
    }

    /**
     * After a long spell of callers reading their own replies (the event loop then looks at idle callers
     * less and less often, down to every 16 ms), a message of the peer's own that comes when no caller
     * waits is still read, by the event loop, and soon: the loop takes the socket back.
     */
    @Test
    void aPeersOwnMessageAfterALongSpellOfCallersReadingIsReadByTheEventLoop() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(LinuxConstants.SOCK_STREAM, "connection-test");
        PendingRequests pending = new PendingRequests();
        List<String> ownReadBy = new CopyOnWriteArrayList<>();
        try (RawPeer peer = new RawPeer(pair[0]); VfioUserEventLoop loop = new VfioUserEventLoop("connection-test")) {
            VfioUserConnection c = VfioUserConnection.open("test", pair[1], loop.loop(),
                    new VfioUserConnection.Listener() {
                        @Override
                        public void onMessage(VfioUserConnection connection, VfioUserMessage m) {
                            if (m.isReply()) {
                                pending.complete(m);
                            } else {
                                ownReadBy.add(Thread.currentThread().getName());
                            }
                        }

                        @Override
                        public void onClose(VfioUserConnection connection, Throwable cause) {
                        }
                    });
            c.readRepliesOnCallers(pending, 100);
            long spell = System.nanoTime() + 200_000_000L; // past every step of the look's back-off (1 to 16 ms)
            int calls = 0;
            while (System.nanoTime() < spell || calls < 100) {
                PendingRequests.Slot s = pending.acquire(VfioUserCommand.DEVICE_GET_INFO.number());
                peer.send(RawPeer.message(s.id, VfioUserCommand.DEVICE_GET_INFO.number(), VfioUserHeader.SIZE + 16,
                        VfioUserHeader.TYPE_REPLY, 0, new byte[16]));
                org.junit.jupiter.api.Assertions.assertTrue(c.awaitReply(pending, s, 5_000_000_000L), "reply " + calls);
                pending.release(s);
                calls++;
            }
            send(peer, 77, 8); // the peer's own request, with no caller waiting
            Fds.await("the peer's own message read", () -> ownReadBy.size() == 1);
            org.junit.jupiter.api.Assertions.assertTrue(ownReadBy.get(0).startsWith("connection-test"),
                    "read by the event loop, not " + ownReadBy);
            c.close();
        }
    }
}
