package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.DirectBuffers;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_DONTWAIT;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bytes and SCM_RIGHTS file descriptors in one sendmsg/recvmsg, over a real UNIX socketpair. */
class SocketMessageTest {

    @Test
    void payloadAndFdsArriveTogetherAndTheFdsWork() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "test");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1];
             OwnedFd memfd = Syscalls.memfdCreate("dma", 0);
             EventFd irq = new EventFd("irq")) {
            Syscalls.ftruncate(memfd, 4096);
            SocketMessage tx = new SocketMessage("client", 8);
            SocketMessage rx = new SocketMessage("server", 8);

            ByteBuffer out = ByteBuffer.allocateDirect(64);
            out.put("DMA_MAP with two fds".getBytes(StandardCharsets.US_ASCII)).flip();
            int sent = out.remaining();
            assertEquals(sent, tx.send(a.get(), out, new int[] {memfd.get(), irq.fd().get()}, 2));

            ByteBuffer in = ByteBuffer.allocateDirect(64);
            assertEquals(sent, rx.receive(b.get(), in));
            assertEquals(2, rx.receivedFdCount());
            assertFalse(rx.controlTruncated());
            byte[] text = new byte[sent];
            in.flip().get(text);
            assertEquals("DMA_MAP with two fds", new String(text, StandardCharsets.US_ASCII));

            // The received descriptors are new numbers for the same kernel objects.
            try (OwnedFd remoteMem = OwnedFd.adopt(rx.receivedFd(0), "received memfd");
                 EventFd remoteIrq = new EventFd(OwnedFd.adopt(rx.receivedFd(1), "received eventfd"));
                 MemoryMapping local = MemoryMapping.map(memfd, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED);
                 MemoryMapping remote = MemoryMapping.map(remoteMem, 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED)) {
                assertTrue(remoteMem.get() != memfd.get());
                remote.byteBuffer().putInt(100, 0xfeedface);
                assertEquals(0xfeedface, local.byteBuffer().getInt(100));
                remoteIrq.signal(3);
                assertEquals(3, irq.read());
            }
        }
    }

    @Test
    void manyFdsInOneMessage() throws Exception {
        int n = SocketMessage.SCM_MAX_FD;
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "many");
        EventFd[] fds = new EventFd[n];
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            int[] raw = new int[n];
            for (int i = 0; i < n; i++) {
                fds[i] = new EventFd("e" + i);
                raw[i] = fds[i].fd().get();
            }
            ByteBuffer out = ByteBuffer.allocateDirect(1).put((byte) 42).flip();
            assertEquals(1, new SocketMessage("tx", n).send(a.get(), out, raw, n));
            SocketMessage rx = new SocketMessage("rx", n);
            ByteBuffer in = ByteBuffer.allocateDirect(1);
            assertEquals(1, rx.receive(b.get(), in));
            assertEquals(n, rx.receivedFdCount());
            for (int i = 0; i < n; i++) {
                try (EventFd remote = new EventFd(OwnedFd.adopt(rx.receivedFd(i), "r" + i))) {
                    remote.signal(i + 1);
                    assertEquals(i + 1, fds[i].read(), "fd " + i + " arrived in order");
                }
            }
        } finally {
            for (EventFd e : fds) {
                if (e != null) {
                    e.close();
                }
            }
        }
    }

    @Test
    void moreFdsThanTheReceiverAllowsIsReportedAsTruncated() throws Exception {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "trunc");
        long before = SyscallsTest.openFds("anon_inode:[eventfd]");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            EventFd[] fds = {new EventFd("1"), new EventFd("2"), new EventFd("3"), new EventFd("4"),
                    new EventFd("5")};
            int[] raw = new int[5];
            for (int i = 0; i < 5; i++) {
                raw[i] = fds[i].fd().get();
            }
            ByteBuffer out = ByteBuffer.allocateDirect(4).putInt(7).flip();
            new SocketMessage("tx", 8).send(a.get(), out, raw, 5);
            for (EventFd e : fds) {
                e.close();
            }
            SocketMessage rx = new SocketMessage("rx", 2);
            assertEquals(4, rx.receive(b.get(), ByteBuffer.allocateDirect(4)));
            assertTrue(rx.controlTruncated(), "MSG_CTRUNC must be reported");
            assertTrue(rx.receivedFdCount() <= 2);
            rx.closeReceivedFds();
        }
        assertEquals(before, SyscallsTest.openFds("anon_inode:[eventfd]"), "the eventfds sent and those received "
                + "closed, nothing else left open");
    }

    @Test
    void nonBlockingReceiveOnAnEmptySocketSaysSo() {
        OwnedFd[] pair = Syscalls.socketpair(SOCK_STREAM, "empty");
        try (OwnedFd a = pair[0]; OwnedFd b = pair[1]) {
            ByteBuffer in = ByteBuffer.allocateDirect(8);
            SocketMessage rx = new SocketMessage("rx", 1);
            assertEquals(-1, rx.receive(b.get(), DirectBuffers.address(in), 8, MSG_DONTWAIT));
            a.close();
            assertEquals(0, rx.receive(b.get(), DirectBuffers.address(in), 8, MSG_DONTWAIT), "EOF after close");
        }
    }

    @Test
    void fdsNeedAPayloadAndABound() {
        SocketMessage tx = new SocketMessage("tx", 2);
        assertThrows(IllegalArgumentException.class, () -> tx.send(0, 0L, 0, new int[] {1}, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> tx.send(0, 0L, 1, new int[] {1, 2, 3}, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> new SocketMessage("x", 254));
    }

    @Test
    void aBrokenSocketNamesItself() {
        SocketMessage tx = new SocketMessage("vfio-user socket /tmp/x.sock", 1);
        SyscallException e = assertThrows(SyscallException.class,
                () -> tx.send(-1, DirectBuffers.address(ByteBuffer.allocateDirect(1)), 1, new int[0], 0, 0));
        assertEquals("sendmsg of 1 bytes and 0 fds on vfio-user socket /tmp/x.sock: Bad file descriptor (EBADF)",
                e.getMessage());
    }
}
