package io.jvfio.vfio.user;

import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The wire rules of {@link io.jvfio.vfio.user.server.VfioUserWireRulesTest} from our client's side: a server scripted from the
 * spec's tables answers, and sends, what libvfio-user's server does where it differs from the spec
 * (a real socket, real fds and memfds; only the server's protocol side is the test's). Each test
 * says which peer needs the rule.
 */
class VfioUserClientWireRulesTest {

    private static final int REPLY = 0x1;
    private static final int REGION_READ = 0x1;
    private static final int REGION_WRITE = 0x2;
    private static final int REGION_MMAP = 0x4;
    private static final int REGION_CAPS = 0x8;

    @TempDir
    Path dir;
    private Path socket;
    private ScriptedServer server;
    private long fdsBefore;

    @BeforeEach
    void start() throws Exception {
        fdsBefore = Fds.open();
        socket = dir.resolve("scripted.sock");
        server = new ScriptedServer(socket);
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        Fds.awaitBackTo(fdsBefore);
    }

    private VfioUserClient connect(GuestMemory memory) throws Exception {
        return server.accept(() -> VfioUserClient.connect(socket, 5000, memory));
    }

    private GuestMemory ram() {
        GuestMemory memory = new GuestMemory();
        memory.addRegion("ram", 0, MemoryBackend.memfd("ram", 1 << 20, false));
        return memory;
    }

    @Test
    void aMemoryBarWriteIsPostedWithNoReplyAndANonPostedOrNoPostedWritesOneWaits() throws Exception {
        // Spec, "Header": No_reply. QEMU 11's client posts BAR writes (x-no-posted-writes=on waits);
        // config and I/O writes are non-posted in PCI. This server never answers the posted one: had
        // the client waited for it, the write would have timed out and counted as failed.
        try (VfioUserClient client = connect(null)) {
            client.postedWrite(0, 0x10, 4, 0xabcd);
            RawPeer.Frame posted = server.peer.receive(5000);
            assertEquals(VfioUserCommand.REGION_WRITE.number(), posted.command());
            assertEquals(VfioUserHeader.TYPE_COMMAND | VfioUserHeader.NO_REPLY, posted.flags(), "No_reply");
            assertEquals(0xabcd, posted.payloadBuffer().getInt(16));
            assertEquals(0, client.failedRequests());
            assertEquals(1, client.postedWrites());

            for (Runnable waited : List.<Runnable>of(() -> client.write(7, 4, 2, 6), () -> client.write(0, 0x10, 4, 2),
                    () -> {
                        client.postWrites(false);
                        client.postedWrite(0, 0x10, 4, 1);
                    })) {
                aWriteThatWaitsForItsReply(waited);
            }
            assertEquals(1, client.postedWrites());
            assertEquals(0, client.failedRequests());
        }
    }

    @Test
    void whileIntxIsUnmaskedThroughAnEventFdMemoryBarWritesWait() throws Exception {
        // The EOI's unmask eventfd reaches the server outside the socket's order: a posted acknowledge
        // could be overtaken by it, and the device would fire its line again.
        try (VfioUserClient client = connect(null); EventFd unmask = new EventFd("intx unmask")) {
            java.util.concurrent.CompletableFuture<Void> given = java.util.concurrent.CompletableFuture.runAsync(
                    () -> client.setUnmaskEventFd(VFIO_PCI_INTX_IRQ_INDEX, unmask));
            RawPeer.Frame setIrqs = server.peer.receive(5000);
            assertEquals(VfioUserCommand.DEVICE_SET_IRQS.number(), setIrqs.command());
            server.answer(setIrqs);
            given.get(5, java.util.concurrent.TimeUnit.SECONDS);

            aWriteThatWaitsForItsReply(() -> client.postedWrite(0, 0x64, 4, 1));
            assertEquals(0, client.postedWrites());
        }
    }

    /** {@code write} sends a REGION_WRITE that wants a reply, and returns once it has it. */
    private void aWriteThatWaitsForItsReply(Runnable write) throws Exception {
        java.util.concurrent.CompletableFuture<Void> done = java.util.concurrent.CompletableFuture.runAsync(write);
        RawPeer.Frame w = server.peer.receive(5000);
        assertEquals(VfioUserCommand.REGION_WRITE.number(), w.command());
        assertEquals(VfioUserHeader.TYPE_COMMAND, w.flags(), "a reply wanted");
        server.answer(w);
        done.get(5, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Test
    void ourDmaWriteReplyIsAddressAndA64BitCount() throws Exception {
        // libvfio-user's server (vfu_dma_transfer, tran_sock_recv_fds) reads exactly 16 bytes,
        // fails on fewer, and checks address and count; the spec's 12 (count u32) are its prefix.
        try (GuestMemory memory = ram(); VfioUserClient client = connect(memory)) {
            byte[] data = new byte[100];
            Arrays.fill(data, (byte) 0x77);
            server.peer.send(RawPeer.message(0x4242, 12, 16 + 16 + 100, 0, 0,
                    Le.of().u64(0x2000).u64(100).bytes(data).build()));
            RawPeer.Frame r = server.peer.reply(5000);
            assertEquals(REPLY, r.flags());
            assertEquals(0x4242, r.id());
            assertEquals(12, r.command());
            ByteBuffer p = r.payloadBuffer();
            assertEquals(16, p.capacity());
            assertEquals(0x2000, p.getLong(0), "address");
            assertEquals(100, p.getLong(8), "count, 64 bits (libvfio-user)");
            assertEquals(100, p.getInt(8), "and read as the spec's 32-bit count, the same");
            byte[] got = new byte[100];
            memory.ram().read(0x2000, got, 0, 100);
            assertArrayEquals(data, got);
            server.answerInBackground(); // the client's DMA_UNMAPs at close are answered
        } finally {
            server.stopAnswering();
        }
    }

    @Test
    void aDmaWriteCarryingMoreThanItsCountWritesTheCount() throws Exception {
        // libvfio-user's server (vfu_dma_transfer) sends every piece of a transfer in a buffer
        // sized for the largest, so the last piece comes with trailing bytes; QEMU 11's client
        // refuses only a count beyond the data. Only count bytes land.
        try (GuestMemory memory = ram(); VfioUserClient client = connect(memory)) {
            byte[] buffer = new byte[1024];
            Arrays.fill(buffer, (byte) 0x11);
            server.peer.send(RawPeer.message(7, 12, 16 + 16 + buffer.length, 0, 0,
                    Le.of().u64(0x3000).u64(24).bytes(buffer).build()));
            RawPeer.Frame r = server.peer.reply(5000);
            assertEquals(REPLY, r.flags(), "accepted");
            byte[] got = new byte[32];
            memory.ram().read(0x3000, got, 0, 32);
            byte[] expected = new byte[32];
            Arrays.fill(expected, 0, 24, (byte) 0x11);
            assertArrayEquals(expected, got, "24 bytes written, nothing after them");
            // A count beyond the data is still refused.
            server.peer.send(RawPeer.message(8, 12, 16 + 16 + 8, 0, 0, Le.of().u64(0x3000).u64(24).u64(0).build()));
            server.peer.reply(5000).expectError(Errno.EINVAL);
            server.answerInBackground(); // the client's DMA_UNMAPs at close are answered
        } finally {
            server.stopAnswering();
        }
    }

    private static long readLong(OwnedFd fd, long offset) {
        ByteBuffer b = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(8, Syscalls.pread(fd, DirectBuffers.address(b), 8, offset));
        return b.getLong(0);
    }

    /** A region info reply as the spec lays it out, with a sparse-mmap chain of {@code areas} 4 KiB areas. */
    private static byte[] regionInfo(int index, long size, int areas, boolean withChain, int argszAsked) {
        int full = 32 + 16 + areas * 16;
        Le l = Le.of().u32(full).u32(REGION_READ | REGION_WRITE | REGION_MMAP | (withChain ? REGION_CAPS : 0))
                .u32(index).u32(withChain ? 32 : 0).u64(size).u64(0);
        if (withChain) {
            l.u16(1).u16(1).u32(0).u32(areas).u32(0);
            for (int i = 0; i < areas; i++) {
                l.u64(i * 8192L).u64(4096);
            }
            return l.build();
        }
        byte[] fixed = l.build(); // libvfio-user's form: MIN(needed, argsz) bytes, zero beyond the struct
        return Arrays.copyOf(fixed, Math.min(full, argszAsked));
    }

    @Test
    void ourClientAsksAgainWithTheArgszTheReplyNames() throws Exception {
        // Spec, "Message sizes": a reply's argsz above what was asked means "ask again with this".
        // A chain of 40 areas (688 bytes) does not fit our first 512; libvfio-user's server then
        // answers 512 bytes without the chain and without the fd.
        int areas = 40;
        long size = areas * 8192L;
        List<Integer> asked = Collections.synchronizedList(new ArrayList<>());
        try (OwnedFd bar = Syscalls.memfdCreate("bar2", 0)) {
            Syscalls.ftruncate(bar, size);
            server.override = f -> {
                if (f.command() != VfioUserCommand.DEVICE_GET_REGION_INFO.number() || f.payloadBuffer().getInt(8) != 2) {
                    return false;
                }
                int argsz = f.payloadBuffer().getInt(0);
                asked.add(argsz);
                boolean fits = argsz >= 32 + 16 + areas * 16;
                byte[] p = regionInfo(2, size, areas, fits, argsz);
                server.peer.send(RawPeer.message(f.id(), f.command(), 16 + p.length, REPLY, 0, p),
                        fits ? new int[] {bar.get()} : new int[0]);
                return true;
            };
            try (VfioUserClient client = connect(null)) {
                assertEquals(List.of(512, 688), asked, "asked with 512, then with the 688 the reply named");
                VfioRegion r = client.layout().region(2);
                assertEquals(areas, r.mmapAreas().size());
                RegionCapability.Area last = r.mmapAreas().get(areas - 1);
                try (MemoryMapping m = client.mmap(2, last)) {
                    assertEquals(4096, m.length());
                    new com.sun.jna.Pointer(m.address()).setLong(0, 0x1122334455667788L);
                    assertEquals(0x1122334455667788L, readLong(bar, last.offset()), "the mapping is the region's fd");
                }
                server.answerInBackground(); // the client's DMA_UNMAPs at close are answered
            } finally {
                server.stopAnswering();
            }
        }
    }

    @Test
    void ourClientTakesOneFdPerAreaAsLibvfioUserSendsThem() throws Exception {
        // libvfio-user's server (dev_get_caps) sends the region's fd once per sparse-mmap area; the
        // spec and QEMU speak of one. The first serves every area; the copies are closed.
        try (OwnedFd bar = Syscalls.memfdCreate("bar4", 0)) {
            Syscalls.ftruncate(bar, 4 * 8192);
            server.override = f -> {
                if (f.command() != VfioUserCommand.DEVICE_GET_REGION_INFO.number() || f.payloadBuffer().getInt(8) != 4) {
                    return false;
                }
                byte[] p = regionInfo(4, 4 * 8192, 2, true, 512);
                server.peer.send(RawPeer.message(f.id(), f.command(), 16 + p.length, REPLY, 0, p),
                        bar.get(), bar.get());
                return true;
            };
            try (VfioUserClient client = connect(null)) {
                VfioRegion r = client.layout().region(4);
                assertTrue(r.mmapAreas().size() == 2 && (r.flags() & REGION_MMAP) != 0, "mmap-able: " + r);
                for (RegionCapability.Area a : r.mmapAreas()) {
                    try (MemoryMapping m = client.mmap(4, a)) {
                        assertEquals(4096, m.length());
                        new com.sun.jna.Pointer(m.address()).setLong(8, a.offset() + 1);
                        assertEquals(a.offset() + 1, readLong(bar, a.offset() + 8), "the mapping is the region's fd");
                    }
                }
                server.answerInBackground(); // the client's DMA_UNMAPs at close are answered
            } finally {
                server.stopAnswering();
            }
        }
    }

    @Test
    void ourClientReadsAServerReplyNamingWhatItDidNotProposeAndKeepsToItsOwnLimit() throws Exception {
        // libvfio-user's server (tran.c send_version) answers its own capabilities whatever was
        // proposed (migration, a larger max_data_xfer_size); QEMU's client too reads every key it
        // knows. Ours reads what it knows, ignores the rest, and never sends a REGION_READ whose
        // reply would exceed its own max_data_xfer_size (1 MiB).
        long size = 4L << 20;
        List<Integer> counts = Collections.synchronizedList(new ArrayList<>());
        server.override = f -> {
            if (f.command() == VfioUserCommand.VERSION.number()) {
                byte[] p = Le.version(0, 1, "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":4194304,"
                        + "\"migration\":{\"pgsize\":4096},\"twin_socket\":{\"supported\":false}}}");
                server.peer.send(RawPeer.message(f.id(), f.command(), 16 + p.length, REPLY, 0, p));
                return true;
            }
            if (f.command() == VfioUserCommand.DEVICE_GET_REGION_INFO.number() && f.payloadBuffer().getInt(8) == 4) {
                byte[] p = Le.of().u32(32).u32(REGION_READ).u32(4).u32(0).u64(size).u64(0).build();
                server.peer.send(RawPeer.message(f.id(), f.command(), 16 + p.length, REPLY, 0, p));
                return true;
            }
            if (f.command() == VfioUserCommand.REGION_READ.number()) {
                counts.add(f.payloadBuffer().getInt(12));
            }
            return false;
        };
        try (VfioUserClient client = connect(null)) {
            assertEquals(8, client.serverCapabilities().maxMsgFds());
            assertEquals(4 << 20, client.serverCapabilities().maxDataXferSize());
            server.answerInBackground();
            ByteBuffer dst = ByteBuffer.allocateDirect(2 << 20).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(2 << 20, client.read(4, 0, DirectBuffers.address(dst), 2 << 20));
            assertEquals(List.of(1 << 20, 1 << 20), counts, "two pieces of our 1 MiB, not one of the server's 4");
            assertEquals(ScriptedServer.patternValue((1 << 20) + 8, 8), dst.getLong((1 << 20) + 8));
        } finally {
            server.stopAnswering();
        }
    }

    @Test
    void ourClientUnmapsWindowByWindowAtTeardown() throws Exception {
        // Every server takes DMA_UNMAP with flags 0 and the exact window (spec); FLAG_ALL is
        // QEMU's, which older libvfio-user and other servers may refuse, so our client does not send it.
        List<byte[]> unmaps = Collections.synchronizedList(new ArrayList<>());
        server.override = f -> {
            if (f.command() == VfioUserCommand.DMA_UNMAP.number()) {
                unmaps.add(f.payload());
            }
            return false;
        };
        GuestMemory memory = new GuestMemory();
        memory.addRegion("low", 0, MemoryBackend.memfd("low", 1 << 20, false));
        memory.addRegion("high", 0x4000_0000L, MemoryBackend.memfd("high", 2 << 20, false));
        try (memory; VfioUserClient client = connect(memory)) {
            server.answerInBackground();
        } finally {
            server.stopAnswering();
        }
        assertEquals(2, unmaps.size());
        for (byte[] u : unmaps) {
            ByteBuffer p = ByteBuffer.wrap(u).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(24, u.length);
            assertEquals(24, p.getInt(0), "argsz");
            assertEquals(0, p.getInt(4), "flags 0: no FLAG_ALL");
            long address = p.getLong(8);
            assertEquals(address == 0 ? 1 << 20 : 2 << 20, p.getLong(16), "the exact window at 0x"
                    + Long.toHexString(address));
        }
    }
}
