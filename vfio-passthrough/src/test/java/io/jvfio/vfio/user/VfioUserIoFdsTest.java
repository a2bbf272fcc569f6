package io.jvfio.vfio.user;

import io.jvfio.vfio.VfioIoEventFd;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TRIGGER;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VFIO_USER_DEVICE_GET_REGION_IO_FDS over a real socket: the reply as the spec's tables lay it out
 * (a 16-byte header, 40-byte ioeventfd sub-regions) with a real eventfd in its ancillary data; a
 * signal on that eventfd is edu's doorbell write (MSIX_FIRE of 0: MSI-X vector 0 fires on the
 * client's eventfd); an argsz too small for the array; a region without doorbells; and jvfio's client,
 * which asks for every BAR's at connect.
 */
class VfioUserIoFdsTest {

    @TempDir
    Path dir;
    private ServedEdu served;
    private RawPeer peer;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
    }

    @AfterEach
    void stop() throws Exception {
        if (peer != null) {
            peer.close();
        }
        served.close();
    }

    private void negotiate() {
        peer = RawPeer.connect(served.socket);
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}")));
        assertTrue(peer.reply(5000).isReply());
    }

    private static byte[] request(int argsz, int index) {
        return Le.of().u32(argsz).u32(0).u32(index).u32(0).build();
    }

    /** Waits (poll, no sleep) for {@code fd} to be signalled and returns its count. */
    private static long awaitSignal(EventFd fd) {
        assertNotEquals(0, Syscalls.poll(fd.fd(), POLLIN, 5000), fd + " was not signalled within 5 s");
        return fd.read();
    }

    @Test
    void bar0sDoorbellIsAnIoeventfdSubRegionAndItsEventfdRingsTheDevice() {
        negotiate();
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, request(16 + 40, 0));
        ByteBuffer p = r.payloadBuffer();
        assertEquals(16 + 40, r.payload().length, "the header and one sub-region");
        assertEquals(56, p.getInt(0), "argsz: the header plus the array");
        assertEquals(0, p.getInt(4), "flags");
        assertEquals(0, p.getInt(8), "index");
        assertEquals(1, p.getInt(12), "count");
        assertEquals(EduRegisters.MSIX_FIRE, p.getLong(16), "offset");
        assertEquals(4, p.getLong(24), "size");
        assertEquals(0, p.getInt(32), "fd_index");
        assertEquals(0, p.getInt(36), "type: VFIO_USER_IO_FD_TYPE_IOEVENTFD");
        assertEquals(1, p.getInt(40), "flags: KVM_IOEVENTFD_FLAG_DATAMATCH");
        assertEquals(0, p.getInt(44), "padding");
        assertEquals(0, p.getLong(48), "datamatch: a write of 0, vector 0");
        assertEquals(1, r.fds().length, "one eventfd with the reply");

        // MSI-X vector 0's trigger, as a client's SET_IRQS gives it: the doorbell's effect lands there.
        try (EventFd doorbell = new EventFd(OwnedFd.adopt(r.fds()[0], "offered doorbell"));
             EventFd vector0 = new EventFd("msix 0")) {
            RawPeer.Frame set = peer.call(3, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(24)
                    .u32(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER).u32(VFIO_PCI_MSIX_IRQ_INDEX).u32(0)
                    .u32(1).build(), vector0.fd().get());
            assertTrue(set.isReply() && !set.isError(), "SET_IRQS");
            for (int i = 1; i <= 3; i++) {
                doorbell.signal();
                assertEquals(1, awaitSignal(vector0), "ring " + i + ": MSI-X vector 0 fired");
            }
            assertEquals(3, served.server.doorbellsRung());
            // The trapped write of the same register does the same: the device cannot tell them apart.
            RawPeer.Frame w = peer.call(4, VfioUserCommand.REGION_WRITE, Le.of().u64(EduRegisters.MSIX_FIRE).u32(0).u32(4)
                    .u32(0).build());
            assertTrue(w.isReply() && !w.isError());
            assertEquals(1, awaitSignal(vector0), "the trapped write fired it too");
        }
    }

    @Test
    void anArgszTooSmallGetsTheHeaderWithTheArgszNeededAndNoFd() {
        negotiate();
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, request(16, 0));
        ByteBuffer p = r.payloadBuffer();
        assertEquals(16, r.payload().length, "the header alone");
        assertEquals(56, p.getInt(0), "the argsz needed");
        assertEquals(1, p.getInt(12), "count: what there is");
        assertEquals(0, r.fds().length, "no fd without the array");
        peer.call(3, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, request(8, 0)).expectError(Errno.EINVAL);
        peer.call(4, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, Le.of().u32(56).u32(1).u32(0).u32(0).build())
                .expectError(Errno.EINVAL);
        peer.call(5, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, request(56, 99)).expectError(Errno.EINVAL);
    }

    @Test
    void aRegionWithoutDoorbellsHasNoSubRegionsAndNoFd() {
        negotiate();
        for (int index : new int[] {1, 2, 7}) {
            RawPeer.Frame r = peer.call(2 + index, VfioUserCommand.DEVICE_GET_REGION_IO_FDS, request(256, index));
            ByteBuffer p = r.payloadBuffer();
            assertEquals(16, r.payload().length, "region " + index);
            assertEquals(16, p.getInt(0));
            assertEquals(index, p.getInt(8));
            assertEquals(0, p.getInt(12), "count");
            assertEquals(0, r.fds().length);
        }
    }

    @Test
    void theClientAsksForEveryBarsDoorbellsAtConnect() {
        try (VfioUserClient client = VfioUserClient.connect(served.socket, 5000, null);
             EventFd vector0 = new EventFd("msix 0")) {
            List<VfioIoEventFd> bar0 = client.ioEventFds(0);
            assertEquals(1, bar0.size(), "edu's one doorbell");
            VfioIoEventFd d = bar0.get(0);
            assertEquals(0, d.region());
            assertEquals(EduRegisters.MSIX_FIRE, d.offset());
            assertEquals(4, d.size());
            assertTrue(d.datamatch());
            assertEquals(0, d.data());
            assertEquals(List.of(), client.ioEventFds(1), "BAR1: the MSI-X table, no doorbell");
            assertEquals(List.of(), client.ioEventFds(2));
            assertEquals(List.of(), client.ioEventFds(7), "config space is not asked");
            client.setIrqTriggers(VFIO_PCI_MSIX_IRQ_INDEX, 0, new EventFd[] {vector0});
            d.eventfd().signal();
            assertEquals(1, awaitSignal(vector0), "the client's copy of the eventfd rings the device");
        }
    }

    @Test
    void aSubRegionOutsideItsRegionIsABrokenProtocolAndItsFdIsClosed() throws Exception {
        long fdsBefore = Fds.open();
        try (ScriptedServer scripted = new ScriptedServer(dir.resolve("scripted.sock"));
             EventFd offered = new EventFd("offered")) {
            java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
            scripted.override = f -> {
                if (f.command() != VfioUserCommand.DEVICE_GET_REGION_IO_FDS.number()) {
                    return false;
                }
                asked.incrementAndGet();
                int argsz = f.payloadBuffer().getInt(0);
                if (argsz < 16 + 40 * 17) { // more than the client's first argsz: it must ask again
                    byte[] p = Le.of().u32(16 + 40 * 17).u32(0).u32(0).u32(17).build();
                    scripted.peer.send(RawPeer.message(f.id(), f.command(), 16 + p.length, 0x1, 0, p));
                    return true;
                }
                Le p = Le.of().u32(16 + 40 * 17).u32(0).u32(0).u32(17);
                for (int i = 0; i < 17; i++) { // the last past BAR0's 4 KiB
                    p.u64(i == 16 ? ScriptedServer.BAR0_SIZE : 8 * i).u64(4).u32(0).u32(0).u32(0).u32(0).u64(0);
                }
                byte[] b = p.build();
                scripted.peer.send(RawPeer.message(f.id(), f.command(), 16 + b.length, 0x1, 0, b), offered.fd().get());
                return true;
            };
            Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class,
                    () -> scripted.accept(() -> VfioUserClient.connect(dir.resolve("scripted.sock"), 5000, null)));
            Throwable cause = e;
            while (cause.getCause() != null && !(cause instanceof io.jvfio.vfio.VfioException)) {
                cause = cause.getCause();
            }
            assertTrue(cause.getMessage().contains("broke the protocol") && cause.getMessage().contains("sub-region 16"),
                    cause.toString());
            assertEquals(2, asked.get(), "asked again with the argsz the first reply named");
        }
        Fds.awaitBackTo(fdsBefore);
    }
}
