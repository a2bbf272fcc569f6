package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.server.VfioUserServer;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server as a peer written by someone else sees it: every message here is built byte by byte
 * from the tables of the vfio-user specification (not with this project's encoder), and every reply
 * is checked field by field against them. The client side is a raw socket, so it can also send what
 * no correct client would.
 */
class VfioUserServerProtocolTest {

    private static final int REPLY = 0x1;
    private static final int NO_REPLY = 0x10;

    @TempDir
    Path dir;
    private ServedEdu served;
    private VfioUserServer server;
    private Path socket;
    private RawPeer peer;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        server = served.server;
        socket = served.socket;
        peer = RawPeer.connect(socket);
    }

    @AfterEach
    void stop() throws Exception {
        peer.close();
        served.close();
    }

    private static byte[] version(int major, int minor, String json) {
        return Le.version(major, minor, json);
    }

    private void negotiate() {
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, version(0, 1, "{\"capabilities\":{\"max_msg_fds\":16}}")));
        RawPeer.Frame r = peer.reply(5000);
        assertEquals(REPLY, r.flags(), "a plain reply");
    }

    private RawPeer.Frame call(int id, VfioUserCommand command, byte[] payload, int... fds) {
        return peer.call(id, command, payload, fds);
    }

    /** An error reply is the header alone, with the Error flag and the errno (spec: "Header"). */
    private static void assertError(RawPeer.Frame r, Errno errno) {
        r.expectError(errno);
    }

    @Test
    void versionIsAnsweredWithTheSameMajorANoHigherMinorAndItsCapabilities() {
        peer.send(RawPeer.command(7, VfioUserCommand.VERSION, version(0, 9, "{\"capabilities\":{\"max_msg_fds\":8,"
                + "\"max_data_xfer_size\":4096,\"migration\":{\"pgsize\":4096}}}")));
        RawPeer.Frame r = peer.reply(5000);
        assertEquals(7, r.id());
        assertEquals(1, r.command());
        assertEquals(REPLY, r.flags());
        assertEquals(r.size(), 16 + r.payload().length);
        ByteBuffer p = r.payloadBuffer();
        assertEquals(0, p.getShort(0));
        assertEquals(1, p.getShort(2), "minor: at most the 9 proposed; this server speaks 0.1");
        assertEquals(0, r.payload()[r.payload().length - 1], "the JSON is NUL-terminated");
        String json = new String(r.payload(), 4, r.payload().length - 5, StandardCharsets.UTF_8);
        // Only what was proposed (spec: "a subset of those proposed"), with the negotiated values:
        // our max_msg_fds (what we receive), the smaller max_data_xfer_size; no migration.
        assertEquals("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":4096}}", json);
    }

    @Test
    void versionWithoutJsonTakesTheSpecsDefaults() {
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, version(0, 0, null)));
        RawPeer.Frame r = peer.reply(5000);
        assertEquals(REPLY, r.flags());
        assertEquals(0, r.payloadBuffer().getShort(2), "minor 0 was proposed");
    }

    @Test
    void aCommandBeforeVersionIsRefusedAndTheConnectionStays() {
        assertError(call(3, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build()), Errno.EINVAL);
        negotiate();
    }

    @Test
    void badJsonIsRefusedWithEinvalAndAGoodVersionStillWorks() {
        assertError(call(2, VfioUserCommand.VERSION, version(0, 1, "{\"capabilities\":")), Errno.EINVAL);
        assertError(call(3, VfioUserCommand.VERSION, version(0, 1, "[1,2]")), Errno.EINVAL);
        assertError(call(4, VfioUserCommand.VERSION, version(0, 1, "{\"capabilities\":{\"max_msg_fds\":\"8\"}}")),
                Errno.EINVAL);
        assertError(call(5, VfioUserCommand.VERSION, new byte[] {0}), Errno.EINVAL);
        negotiate();
    }

    @Test
    void anUnsupportedMajorVersionClosesTheConnection() {
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, version(1, 0, "{}")));
        assertTrue(peer.closedWithin(5000), "spec: a server that cannot support the version closes the connection");
    }

    @Test
    void deviceRegionAndIrqInfoAreTheKernelsStructs() throws Exception {
        negotiate();
        ByteBuffer info = call(2, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build()).payloadBuffer();
        assertEquals(16, info.capacity());
        assertEquals(16, info.getInt(0), "argsz");
        assertEquals(0x3, info.getInt(4), "VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI");
        assertEquals(9, info.getInt(8), "num_regions");
        assertEquals(5, info.getInt(12), "num_irqs");

        // BAR0: read-write, not mmap-able, no fd.
        RawPeer.Frame bar0 = call(3, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(32).u32(0).u32(0).zeros(20)
                .build());
        ByteBuffer b0 = bar0.payloadBuffer();
        assertEquals(0, bar0.fds().length);
        assertEquals(32, b0.getInt(0));
        assertEquals(0x3, b0.getInt(4), "READ | WRITE");
        assertEquals(0, b0.getInt(8), "index");
        assertEquals(1 << 20, b0.getLong(16), "size");

        // BAR2 with too small an argsz (QEMU 11's and libvfio-user's first question): the fixed part,
        // argsz saying what is needed, no CAPS flag (QEMU refuses CAPS with cap_offset 0) and no fd
        // (libvfio-user's client has no room for one in that reply).
        RawPeer.Frame small = call(4, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(32).u32(0).u32(2).zeros(20)
                .build());
        ByteBuffer s = small.payloadBuffer();
        assertEquals(32, s.capacity());
        assertEquals(64, s.getInt(0), "32 + the sparse-mmap capability of one area (16 + 16)");
        assertEquals(0x7, s.getInt(4), "READ | WRITE | MMAP, no CAPS: the chain is not in this reply");
        assertEquals(0, s.getInt(12), "no cap_offset: the chain is not in this reply");
        assertEquals(0, small.fds().length, "the fd comes only with the reply that holds the chain");

        RawPeer.Frame full = call(5, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(64).u32(0).u32(2).zeros(20)
                .build());
        ByteBuffer f = full.payloadBuffer();
        assertEquals(64, f.capacity());
        assertEquals(0xF, f.getInt(4), "READ | WRITE | MMAP | CAPS");
        assertEquals(32, f.getInt(12), "cap_offset, from the start of the region info");
        assertEquals(1, full.fds().length, "an mmap-able region comes with its fd");
        assertTrue(Files.readSymbolicLink(Path.of("/proc/self/fd/" + full.fds()[0])).toString()
                .startsWith("/memfd:edu-bar2"));
        assertEquals(1, f.getShort(32), "VFIO_REGION_INFO_CAP_SPARSE_MMAP");
        assertEquals(1, f.getShort(34), "version 1");
        assertEquals(0, f.getInt(36), "next: the end of the chain");
        assertEquals(1, f.getInt(40), "nr_areas");
        assertEquals(0, f.getLong(48), "area offset");
        assertEquals(1 << 20, f.getLong(56), "area size");
        full.closeFds();

        ByteBuffer msix = call(6, VfioUserCommand.DEVICE_GET_IRQ_INFO, Le.of().u32(16).u32(0).u32(2).u32(0).build())
                .payloadBuffer();
        assertEquals(16, msix.getInt(0));
        assertEquals(0x3, msix.getInt(4), "VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE");
        assertEquals(2, msix.getInt(8));
        assertEquals(8, msix.getInt(12), "MSI-X vectors");
    }

    @Test
    void regionReadAndWriteCarryOffsetRegionCountAndData() {
        negotiate();
        RawPeer.Frame w = call(2, VfioUserCommand.REGION_WRITE, Le.of().u64(4).u32(0).u32(4).u32(0x0BADF00D).build());
        ByteBuffer wp = w.payloadBuffer();
        assertEquals(16, wp.capacity(), "offset, region, count; no data");
        assertEquals(4, wp.getLong(0));
        assertEquals(0, wp.getInt(8));
        assertEquals(4, wp.getInt(12));
        RawPeer.Frame r = call(3, VfioUserCommand.REGION_READ, Le.of().u64(4).u32(0).u32(4).build());
        ByteBuffer rp = r.payloadBuffer();
        assertEquals(20, rp.capacity());
        assertEquals(4, rp.getInt(12));
        assertEquals(~0x0BADF00D, rp.getInt(16), "the liveness register inverts");
        // No_reply: the write happens, nothing comes back, and the next reply is the next command's.
        peer.send(RawPeer.message(4, VfioUserCommand.REGION_WRITE.number(), 16 + 20, NO_REPLY, 0,
                Le.of().u64(4).u32(0).u32(4).u32(1).build()));
        RawPeer.Frame next = call(5, VfioUserCommand.REGION_READ, Le.of().u64(4).u32(0).u32(4).build());
        assertEquals(~1, next.payloadBuffer().getInt(16));
    }

    @Test
    void everyBadCommandGetsTheErrnoThatFitsAndTheConnectionCarriesOn() throws Exception {
        negotiate();
        int id = 10;
        // Region access: unknown region, out of bounds, too large, truncated.
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(99).u32(4).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(1 << 20).u32(0).u32(4).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(-8).u32(0).u32(16).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(2).u32(2 << 20).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(0).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_WRITE, Le.of().u64(0).u32(0).u32(8).u32(1).build()), Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(3).u32(4).build()), Errno.EINVAL);
        // Region info and IRQs: unknown indexes.
        assertError(call(id++, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(32).u32(0).u32(9).zeros(20).build()),
                Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.DEVICE_GET_IRQ_INFO, Le.of().u32(16).u32(0).u32(-1).u32(0).build()),
                Errno.EINVAL);
        assertError(call(id++, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(0x24).u32(9).u32(0).u32(1).build()),
                Errno.EINVAL);
        // SET_IRQS: two vectors, three eventfds.
        try (EventFd a = new EventFd("a"); EventFd b = new EventFd("b"); EventFd c = new EventFd("c")) {
            assertError(call(id++, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(0x24).u32(2).u32(0).u32(2)
                    .build(), a.fd().get(), b.fd().get(), c.fd().get()), Errno.EINVAL);
            // A command that takes no fds, given one.
            assertError(call(id++, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build(), a.fd().get()),
                    Errno.EINVAL);
        }
        // DMA: overlap is EEXIST (the spec names it), an unknown window ENOENT, two fds EINVAL.
        try (OwnedFd ram = Syscalls.memfdCreate("peer-ram", io.jvfio.vmm.linux.jna.LinuxConstants.MFD_ALLOW_SEALING)) {
            Syscalls.ftruncate(ram, 1 << 20);
            Syscalls.addSeals(ram, io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK);
            byte[] map = Le.of().u32(32).u32(3).u64(0).u64(0x100000).u64(0x40000).build();
            RawPeer.Frame ok = call(id++, VfioUserCommand.DMA_MAP, map, ram.get());
            assertEquals(REPLY, ok.flags());
            assertEquals(16, ok.size(), "no payload in the DMA_MAP reply");
            assertError(call(id++, VfioUserCommand.DMA_MAP, Le.of().u32(32).u32(3).u64(0).u64(0x13F000).u64(0x2000)
                    .build(), ram.get()), Errno.EEXIST);
            assertError(call(id++, VfioUserCommand.DMA_MAP, map, ram.get(), ram.get()), Errno.EINVAL);
            assertError(call(id++, VfioUserCommand.DMA_MAP, Le.of().u32(32).u32(3).u64(0).u64(0x300000).u64(0x1001)
                    .build(), ram.get()), Errno.EINVAL);
            assertError(call(id++, VfioUserCommand.DMA_UNMAP, Le.of().u32(24).u32(0).u64(0x100000).u64(0x1000).build()),
                    Errno.ENOENT);
            RawPeer.Frame unmapped = call(id++, VfioUserCommand.DMA_UNMAP, Le.of().u32(24).u32(0).u64(0x100000)
                    .u64(0x40000).build());
            assertEquals(0x100000, unmapped.payloadBuffer().getLong(8), "the original DMA entry comes back");
            assertEquals(0, server.dmaWindows());
        }
        // Commands: undefined, optional and not offered, and one that goes the other way.
        assertNull(VfioUserCommand.of(99));
        peer.send(RawPeer.message(id++, 99, 16, 0, 0, new byte[0]));
        assertError(peer.reply(5000), Errno.ENOSYS);
        assertError(call(id++, VfioUserCommand.REGION_WRITE_MULTI, Le.of().u64(0).build()), Errno.EOPNOTSUPP);
        assertError(call(id++, VfioUserCommand.DMA_READ, Le.of().u64(0).u64(4).build()), Errno.EINVAL);
        // A reply nobody asked for is dropped; No_reply on a bad command gets nothing back.
        peer.send(RawPeer.message(500, VfioUserCommand.REGION_READ.number(), 16, REPLY, 0, new byte[0]));
        peer.send(RawPeer.message(501, VfioUserCommand.REGION_READ.number(), 16 + 16, NO_REPLY, 0,
                Le.of().u64(0).u32(99).u32(4).build()));
        RawPeer.Frame after = call(id, VfioUserCommand.REGION_READ, Le.of().u64(0).u32(0).u32(4).build());
        assertEquals(0x010000ed, after.payloadBuffer().getInt(16), "the connection carried on through all of it");
    }

    @Test
    void aBrokenFrameClosesTheConnectionAndTheNextClientIsServed() throws Exception {
        negotiate();
        peer.send(RawPeer.message(1, 4, 8, 0, 0, new byte[0])); // a size below the header's
        assertTrue(peer.closedWithin(5000));
        peer.close();
        assertTrue(server.awaitNoClient(5, java.util.concurrent.TimeUnit.SECONDS));
        peer = RawPeer.connect(socket);
        negotiate();
        peer.send(RawPeer.message(1, 10, Integer.MAX_VALUE, 0, 0, new byte[0])); // far beyond the largest message
        assertTrue(peer.closedWithin(5000));
        peer.close();
        peer = RawPeer.connect(socket);
        negotiate();
        assertEquals(3, server.clientsServed());
    }

    @Test
    void moreFdsThanMaxMsgFdsClosesTheConnectionAndClosesThemAll() throws Exception {
        negotiate();
        try (EventFd e = new EventFd("many")) {
            int[] fds = new int[VfioUserConnection.MAX_RECEIVE_FDS + 1];
            java.util.Arrays.fill(fds, e.fd().get());
            peer.send(RawPeer.command(2, VfioUserCommand.DEVICE_SET_IRQS, Le.of().u32(20).u32(0x24).u32(2).u32(0).u32(8)
                    .build()), fds);
            assertTrue(peer.closedWithin(5000), "the kernel dropped what did not fit: the message cannot be honoured");
        }
    }
}
