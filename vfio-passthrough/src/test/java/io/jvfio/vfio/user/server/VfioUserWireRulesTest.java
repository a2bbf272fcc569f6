package io.jvfio.vfio.user.server;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.user.Le;
import io.jvfio.vfio.user.RawPeer;
import io.jvfio.vfio.user.ServedEdu;
import io.jvfio.vfio.user.protocol.VfioUserCapabilities;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import io.jvfio.vmm.pci.PciRegs;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.vfio.VfioConstants.*;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DMA_UNMAP_FLAG_ALL;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DMA_UNMAP_FLAG_VADDR;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The wire rules where the vfio-user spec (0.9.2) and the implementations users have differ, one
 * test per rule, for our server: messages built byte by byte from the spec's tables, sent by a raw
 * socket ({@link io.jvfio.vfio.user.VfioUserClientWireRulesTest} has our client's side). Each test says which peer needs
 * the rule: QEMU 11's client (hw/vfio-user), libvfio-user (its server, lib/, and its client,
 * samples/client.c), or the kernel's VFIO ioctls that both mirror.
 */
class VfioUserWireRulesTest {

    private static final int REPLY = 0x1;
    private static final int REGION_READ = 0x1;
    private static final int REGION_WRITE = 0x2;
    private static final int REGION_MMAP = 0x4;
    private static final int REGION_CAPS = 0x8;

    /** QEMU 11.1.3's VERSION, byte for byte as its trace (-trace vfio_user_version) shows it: 0.0, with spaces. */
    static final String QEMU11_VERSION_JSON = "{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, "
            + "\"max_dma_maps\": 65535, \"max_data_xfer_size\": 1048576, \"migration\": {\"max_bitmap_size\": 268435456, "
            + "\"pgsize\": 4096}, \"write_multiple\": true}}";

    @TempDir
    Path dir;
    private ServedEdu served;
    private RawPeer peer;

    @BeforeEach
    void start() throws Exception {
        served = new ServedEdu(dir);
        peer = RawPeer.connect(served.socket);
    }

    @AfterEach
    void stop() throws Exception {
        peer.close();
        served.close();
    }

    /** A new connection: the server serves one client at a time. */
    private void reconnect() throws Exception {
        peer.close();
        assertTrue(served.server.awaitNoClient(5, TimeUnit.SECONDS));
        peer = RawPeer.connect(served.socket);
    }

    private String versionReply(String json) {
        RawPeer.Frame r = peer.call(1, VfioUserCommand.VERSION, Le.version(0, 1, json));
        assertEquals(REPLY, r.flags());
        assertEquals(0, r.payload()[r.payload().length - 1], "the JSON is NUL-terminated (spec's table)");
        return new String(r.payload(), 4, r.payload().length - 5, StandardCharsets.UTF_8);
    }

    private void negotiate() {
        versionReply("{\"capabilities\":{\"max_msg_fds\":16}}");
    }

    // No_reply

    @Test
    void aNoReplyCommandGetsNoReplyNotEvenAnErrorAndIsProcessedBeforeTheNextCommandIsAnswered() {
        // Spec, "Header": a command with No_reply is not answered; commands are processed in the
        // order received, so the reply to a later command means it was done. QEMU 11's client
        // posts BAR writes this way (its x-no-posted-writes turns it off), and so does ours.
        negotiate();
        peer.call(2, VfioUserCommand.REGION_WRITE, Le.of().u64(PciRegs.PCI_COMMAND).u32(VFIO_PCI_CONFIG_REGION_INDEX)
                .u32(2).u16(PciRegs.PCI_COMMAND_MEMORY).build()); // BARs decode
        int noReply = VfioUserHeader.TYPE_COMMAND | VfioUserHeader.NO_REPLY;
        byte[] bad = Le.of().u64(0).u32(20).u32(4).u32(1).build(); // region 20 does not exist: an error
        peer.send(RawPeer.message(3, VfioUserCommand.REGION_WRITE.number(), 16 + bad.length, noReply, 0, bad));
        byte[] write = Le.of().u64(EduRegisters.LIVENESS).u32(0).u32(4).u32(0x12345678).build();
        peer.send(RawPeer.message(4, VfioUserCommand.REGION_WRITE.number(), 16 + write.length, noReply, 0, write));
        RawPeer.Frame r = peer.call(5, VfioUserCommand.REGION_READ, Le.of().u64(EduRegisters.LIVENESS).u32(0).u32(4).build());
        assertEquals(REPLY, r.flags(), "the first message back answers the read: none for the two before it");
        assertEquals(~0x12345678, r.payloadBuffer().getInt(16), "the posted write was processed before the read");
    }

    // Bulk REGION_WRITE, received straight into a plain-memory region

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + seed);
        }
        return b;
    }

    @Test
    void aLargeWriteLandsWholeInPiecesAndTrailingBytesAndBadOnesLandNowhere() {
        negotiate();
        int count = 200_000;
        int offset = 4096;
        byte[] data = pattern(count, 1);
        // In three sends, so that the server may see it arrive in pieces (header and part, then the rest).
        ByteBuffer whole = RawPeer.message(2, VfioUserCommand.REGION_WRITE.number(), 32 + count,
                VfioUserHeader.TYPE_COMMAND, 0, Le.of().u64(offset).u32(2).u32(count).bytes(data).build());
        int[] cuts = {0, 40, 70_000, whole.capacity()};
        for (int i = 0; i + 1 < cuts.length; i++) {
            peer.send(whole.duplicate().position(cuts[i]).limit(cuts[i + 1]).slice());
        }
        assertEquals(REPLY, peer.reply(5000).flags());
        ByteBuffer bar2 = served.edu.bar2();
        assertEquals(ByteBuffer.wrap(data), bar2.slice(offset, count), "the bytes of the write, in the region");

        // One trailing byte beyond its count: the count lands, the byte after it does not.
        byte before = bar2.get(offset + count);
        byte[] more = pattern(count + 1, 2);
        more[count] = (byte) ~before;
        RawPeer.Frame r = peer.call(3, VfioUserCommand.REGION_WRITE,
                Le.of().u64(offset).u32(2).u32(count).bytes(more).build());
        assertEquals(REPLY, r.flags());
        assertEquals(ByteBuffer.wrap(more, 0, count), bar2.slice(offset, count));
        assertEquals(before, bar2.get(offset + count), "a trailing byte beyond the count is not written");

        // Past the region's end: refused whole, nothing written, and the connection serves on.
        int tail = EduRegisters.BAR2_SIZE - 65_536;
        byte[] snapshot = new byte[65_536];
        bar2.get(tail, snapshot);
        peer.call(4, VfioUserCommand.REGION_WRITE, Le.of().u64(tail).u32(2).u32(131_072).bytes(pattern(131_072, 3))
                .build()).expectError(Errno.EINVAL);
        byte[] after = new byte[65_536];
        bar2.get(tail, after);
        assertArrayEquals(snapshot, after, "a refused write leaves the region alone");
        RawPeer.Frame read = peer.call(5, VfioUserCommand.REGION_READ, Le.of().u64(offset).u32(2).u32(count).build());
        assertEquals(ByteBuffer.wrap(more, 0, count), read.payloadBuffer().position(16).slice(), "read back whole");
    }

    // VERSION

    @Test
    void versionAsQemu11SendsItGetsTheNegotiatedValuesInAReplyNoLongerThanTheRequest() {
        // QEMU 11 (proxy.c vfio_user_validate_version): proposes 0.0; refuses a reply minor above
        // its own, a max_msg_fds above 16 ("malformed max_msg_fds"), a max_dma_maps above its
        // own; reads the reply into the request's buffer ("reply larger than recv buffer") and
        // needs it NUL-terminated; warns of "spurious capabilities" it did not propose.
        byte[] request = Le.version(0, 0, QEMU11_VERSION_JSON);
        RawPeer.Frame r = peer.call(1, VfioUserCommand.VERSION, request);
        assertEquals(REPLY, r.flags());
        ByteBuffer p = r.payloadBuffer();
        assertEquals(0, p.getShort(0), "major");
        assertEquals(0, p.getShort(2), "minor: no higher than the 0 QEMU proposed");
        assertTrue(r.size() <= 16 + request.length, "the reply (" + r.size() + " bytes) fits QEMU's buffer, the "
                + "request's " + (16 + request.length));
        assertEquals(0, r.payload()[r.payload().length - 1], "NUL-terminated");
        String json = new String(r.payload(), 4, r.payload().length - 5, StandardCharsets.UTF_8);
        assertEquals("{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"pgsizes\":4096,"
                + "\"max_dma_maps\":65535}}", json, "no migration, no write_multiple: not offered");
        VfioUserCapabilities c = VfioUserCapabilities.parse(json.getBytes(StandardCharsets.UTF_8), json.length());
        assertTrue(c.maxMsgFds() <= 16, "QEMU 11's VFIO_USER_MAX_MAX_FDS");
        // And the connection is in service: the next command is answered.
        assertEquals(16, peer.call(2, VfioUserCommand.DEVICE_GET_INFO, Le.of().u32(16).zeros(12).build())
                .payload().length);
    }

    @Test
    void versionReplyNamesOnlyWhatTheClientProposedWithTheNegotiatedValues() throws Exception {
        // Spec, "Version": "The capability list must be a subset of those proposed." libvfio-user's
        // server answers max_msg_fds and max_data_xfer_size whatever was proposed; we keep to the
        // spec, and QEMU (which warns of keys beyond its own) never sees one it did not propose.
        // Nothing proposed: the object is still there, since QEMU 11 parses the reply's JSON always.
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, Le.version(0, 1, null)));
        RawPeer.Frame bare = peer.reply(5000);
        assertEquals("{\"capabilities\":{}}", new String(bare.payload(), 4, bare.payload().length - 5,
                StandardCharsets.UTF_8));
        reconnect();
        assertEquals("{\"capabilities\":{\"max_data_xfer_size\":65536}}",
                versionReply("{\"capabilities\":{\"max_data_xfer_size\":65536}}"), "the smaller of the two");
        reconnect();
        assertEquals("{\"capabilities\":{\"max_data_xfer_size\":1048576,\"pgsizes\":2101248,\"max_dma_maps\":100}}",
                versionReply("{\"capabilities\":{\"max_dma_maps\":100,\"pgsizes\":2101248,"
                        + "\"max_data_xfer_size\":4194304,\"twin_socket\":{\"supported\":true}}}"),
                "ours where smaller, theirs where smaller, 4 KiB and 2 MiB pages both fine; no twin_socket");
        reconnect();
        assertEquals("{\"capabilities\":{\"pgsizes\":4096}}", versionReply("{\"capabilities\":{\"pgsizes\":4608}}"),
                "of 512 B and 4 KiB pages, the 4 KiB ones");
    }

    @Test
    void versionWithOnlyPagesBelow4KibClosesTheConnection() {
        // Spec: "If the server requires a capability the client did not include, it closes the
        // connection." DMA windows here are 4 KiB aligned at least.
        peer.send(RawPeer.command(1, VfioUserCommand.VERSION, Le.version(0, 1, "{\"capabilities\":{\"pgsizes\":512}}")));
        assertTrue(peer.closedWithin(5000));
    }

    // GET_REGION_INFO: the CAPS flag and the fd

    @Test
    void regionInfoTooSmallForTheChainHasNoCapsFlagNoCapOffsetAndNoFd() {
        // QEMU 11 (device.c vfio_user_device_io_get_region_info) refuses FLAG_CAPS with a
        // cap_offset below 32 before it looks at argsz; libvfio-user's client asks first with
        // argsz 32 and no room for an fd and fails with EFAULT ("Bad address") if one comes.
        negotiate();
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(32).u32(0).u32(2).zeros(20)
                .build());
        ByteBuffer p = r.payloadBuffer();
        assertEquals(32, p.capacity(), "no more than argsz: QEMU and libvfio-user read the reply into argsz bytes");
        assertEquals(64, p.getInt(0), "argsz: the size needed, telling the client to ask again (spec, Message sizes)");
        assertEquals(REGION_READ | REGION_WRITE | REGION_MMAP, p.getInt(4), "no CAPS: the chain is not in this reply");
        assertEquals(0, p.getInt(12), "cap_offset");
        assertEquals(0, r.fds().length, "no fd without the chain");
    }

    @Test
    void regionInfoHoldingTheChainHasCapsCapOffsetAndExactlyOneFd() {
        // QEMU 11 takes exactly one fd with region info (more is "unexpected FDs"); libvfio-user's
        // client sends the fd room only with the second, full-size request.
        negotiate();
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(64).u32(0).u32(2).zeros(20)
                .build());
        ByteBuffer p = r.payloadBuffer();
        assertEquals(64, p.capacity());
        assertEquals(REGION_READ | REGION_WRITE | REGION_MMAP | REGION_CAPS, p.getInt(4));
        assertEquals(32, p.getInt(12), "cap_offset: right after the 32-byte struct");
        assertEquals(1, p.getShort(32), "VFIO_REGION_INFO_CAP_SPARSE_MMAP");
        assertEquals(1, r.fds().length);
        r.closeFds();
    }

    @Test
    void regionInfoWithARoomierArgszIsTheSizeNeededNotTheSizeOffered() {
        // Spec, "Message sizes": argsz in the reply "may be less than the requested maximum size";
        // libvfio-user's server replies MIN(needed, argsz) bytes, and so do we.
        negotiate();
        RawPeer.Frame bar2 = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(512).u32(0).u32(2)
                .zeros(20).build());
        assertEquals(64, bar2.payload().length);
        assertEquals(64, bar2.payloadBuffer().getInt(0));
        assertEquals(1, bar2.fds().length);
        bar2.closeFds();
        RawPeer.Frame bar0 = peer.call(3, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(512).u32(0).u32(0)
                .zeros(20).build());
        assertEquals(32, bar0.payload().length, "a region without capabilities: the struct alone");
        assertEquals(REGION_READ | REGION_WRITE, bar0.payloadBuffer().getInt(4), "no CAPS, no MMAP");
        assertEquals(0, bar0.fds().length);
    }

    @Test
    void aClientThatTakesNoFdsIsOfferedNoMmap() {
        // Spec: max_msg_fds is what the sender can receive; a client announcing 0 cannot take the
        // region's fd, so the region is offered without MMAP (libvfio-user's server would fail
        // the request with ENOSPC instead).
        versionReply("{\"capabilities\":{\"max_msg_fds\":0}}");
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_GET_REGION_INFO, Le.of().u32(64).u32(0).u32(2).zeros(20)
                .build());
        assertEquals(0, r.payloadBuffer().getInt(4) & REGION_MMAP, "no MMAP");
        assertEquals(0, r.fds().length, "and no fd");
    }

    // DMA_MAP / DMA_UNMAP

    private byte[] map(long address, long size) {
        return Le.of().u32(32).u32(3).u64(0).u64(address).u64(size).build();
    }

    private static byte[] unmap(int argsz, int flags, long address, long size) {
        return Le.of().u32(argsz).u32(flags).u64(address).u64(size).build();
    }

    @Test
    void unmapAllWithAddressAndSizeZeroUnmapsEveryWindowAndEchoesTheEntry() throws Exception {
        // QEMU 11 (container.c vfio_user_dma_unmap) sends VFIO_DMA_UNMAP_FLAG_ALL with address and
        // size 0 when its listener drops a section spanning all of the 64-bit space; libvfio-user's
        // server (handle_dma_unmap) accepts it and echoes the request. The spec says flags are unused.
        negotiate();
        try (OwnedFd ram = Syscalls.memfdCreate("peer-ram", LinuxConstants.MFD_ALLOW_SEALING)) {
            Syscalls.ftruncate(ram, 1 << 20);
            Syscalls.addSeals(ram, LinuxConstants.F_SEAL_SHRINK);
            assertEquals(REPLY, peer.call(2, VfioUserCommand.DMA_MAP, map(0x100000, 0x40000), ram.get()).flags());
            assertEquals(REPLY, peer.call(3, VfioUserCommand.DMA_MAP, map(0x200000, 0x1000)).flags(),
                    "a window without an fd, reached by messages");
            assertEquals(2, served.server.dmaWindows());
            RawPeer.Frame r = peer.call(4, VfioUserCommand.DMA_UNMAP, unmap(24, VFIO_DMA_UNMAP_FLAG_ALL, 0, 0));
            assertEquals(REPLY, r.flags());
            ByteBuffer p = r.payloadBuffer();
            assertEquals(24, p.capacity(), "the entry: QEMU reads it into a buffer of the request's size");
            assertEquals(24, p.getInt(0));
            assertEquals(VFIO_DMA_UNMAP_FLAG_ALL, p.getInt(4));
            assertEquals(0, p.getLong(8));
            assertEquals(0, p.getLong(16));
            assertEquals(0, served.server.dmaWindows(), "every window is gone");
            assertEquals(REPLY, peer.call(5, VfioUserCommand.DMA_MAP, map(0x100000, 0x40000), ram.get()).flags(),
                    "the range is free again: no EEXIST");
        }
    }

    @Test
    void unmapAllWithAnAddressOrASizeIsEinvalAndUnmapsNothing() {
        // The kernel's VFIO_IOMMU_UNMAP_DMA (vfio_dma_do_unmap) and libvfio-user (is_valid_unmap)
        // refuse FLAG_ALL with a nonzero address or size: EINVAL.
        negotiate();
        peer.call(2, VfioUserCommand.DMA_MAP, map(0x100000, 0x1000));
        peer.call(3, VfioUserCommand.DMA_UNMAP, unmap(24, VFIO_DMA_UNMAP_FLAG_ALL, 0x100000, 0)).expectError(Errno.EINVAL);
        peer.call(4, VfioUserCommand.DMA_UNMAP, unmap(24, VFIO_DMA_UNMAP_FLAG_ALL, 0, 0x1000)).expectError(Errno.EINVAL);
        assertEquals(1, served.server.dmaWindows());
    }

    @Test
    void unmapWithAnyOtherFlagIsEinvalAndUnmapsNothing() {
        // Spec: flags "unused in this version"; the kernel and libvfio-user answer unknown flags
        // and combinations with EINVAL. Dirty bitmaps are not tracked here, VADDR is kernel-only.
        negotiate();
        peer.call(2, VfioUserCommand.DMA_MAP, map(0x100000, 0x1000));
        int id = 3;
        for (int flags : new int[] {VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, VFIO_DMA_UNMAP_FLAG_VADDR,
                VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 1 << 3, 1 << 31}) {
            peer.call(id++, VfioUserCommand.DMA_UNMAP, unmap(24, flags, 0x100000, 0x1000)).expectError(Errno.EINVAL);
        }
        assertEquals(1, served.server.dmaWindows());
        assertEquals(REPLY, peer.call(id, VfioUserCommand.DMA_UNMAP, unmap(24, 0, 0x100000, 0x1000)).flags());
    }

    @Test
    void dmaMapAndUnmapWithAnArgszBelowTheirStructAreEinval() {
        // libvfio-user (handle_dma_map, is_valid_unmap) and the kernel refuse an argsz below the
        // struct (32 and 24 bytes) with EINVAL; QEMU 11 and our client send exactly those sizes.
        negotiate();
        peer.call(2, VfioUserCommand.DMA_MAP, Le.of().u32(16).u32(3).u64(0).u64(0x100000).u64(0x1000).build())
                .expectError(Errno.EINVAL);
        peer.call(3, VfioUserCommand.DMA_MAP, map(0x100000, 0x1000));
        peer.call(4, VfioUserCommand.DMA_UNMAP, unmap(16, 0, 0x100000, 0x1000)).expectError(Errno.EINVAL);
        assertEquals(1, served.server.dmaWindows());
    }

    // DEVICE_FEATURE

    @Test
    void deviceFeatureOfADeviceWithoutMigrationIsEnottyAsFromTheKernelAndLibvfioUser() throws Exception {
        // QEMU 11 sends DEVICE_FEATURE (vfio_user_device_io_device_feature); for a feature the device
        // lacks, the kernel's VFIO_DEVICE_FEATURE (no mig_ops) and libvfio-user's server (a device
        // without migration) answer ENOTTY, which QEMU's migration set-up reads as "not supported".
        served.serve(new io.jvfio.vfio.devices.TinyDevice());
        reconnect();
        negotiate();
        int probeMigration = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
        peer.call(2, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8).u32(probeMigration).build())
                .expectError(Errno.ENOTTY);
        int getMigration = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
        peer.call(3, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(16).u32(getMigration).u64(0).build())
                .expectError(Errno.ENOTTY);
        // A message no peer sends, malformed: the spec's EINVAL.
        peer.call(4, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8).build()).expectError(Errno.EINVAL);
        peer.call(5, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(4).u32(probeMigration).build())
                .expectError(Errno.EINVAL);
        // The data commands of a device that does not migrate: an optional command not offered.
        peer.call(6, VfioUserCommand.MIG_DATA_READ, Le.of().u32(8 + 64).u32(64).build()).expectError(Errno.EOPNOTSUPP);
        peer.call(7, VfioUserCommand.MIG_DATA_WRITE, Le.of().u32(8).u32(0).build()).expectError(Errno.EOPNOTSUPP);
    }

    @Test
    void edusMigrationFeaturesAnswerAsTheKernelsIoctlWould() {
        negotiate();
        int get = VFIO_DEVICE_FEATURE_GET;
        RawPeer.Frame r = peer.call(2, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(16)
                .u32(get | VFIO_DEVICE_FEATURE_MIGRATION).build());
        java.nio.ByteBuffer p = r.payloadBuffer();
        assertEquals(16, p.getInt(0), "argsz grows by the data");
        assertEquals(get | VFIO_DEVICE_FEATURE_MIGRATION, p.getInt(4));
        assertEquals(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY, p.getLong(8));
        // PROBE: the reply is the request (spec); GET and SET of MIGRATION, which is GET-only: EINVAL.
        byte[] probe = Le.of().u32(8).u32(VFIO_DEVICE_FEATURE_PROBE | get | VFIO_DEVICE_FEATURE_MIGRATION).build();
        assertArrayEquals(probe, peer.call(3, VfioUserCommand.DEVICE_FEATURE, probe).payload());
        peer.call(4, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8).u32(VFIO_DEVICE_FEATURE_PROBE
                | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIGRATION).build()).expectError(Errno.EINVAL);
        // argsz with no room for the data: EINVAL, as vfio_check_feature.
        peer.call(5, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8).u32(get | VFIO_DEVICE_FEATURE_MIGRATION).build())
                .expectError(Errno.EINVAL);
        // DMA logging is offered with migration: a probe of START (SET) is answered with the request;
        // REPORT is GET only, and a report while logging is off is EINVAL.
        byte[] probeLogging = Le.of().u32(8).u32(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET
                | VFIO_DEVICE_FEATURE_DMA_LOGGING_START).build();
        assertArrayEquals(probeLogging, peer.call(6, VfioUserCommand.DEVICE_FEATURE, probeLogging).payload());
        peer.call(8, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8).u32(VFIO_DEVICE_FEATURE_PROBE
                | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT).build()).expectError(Errno.EINVAL);
        peer.call(9, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(8 + 24 + 8).u32(VFIO_DEVICE_FEATURE_GET
                | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT).u64(0).u64(4096).u64(4096).build()).expectError(Errno.EINVAL);
        // Over LOG_MAX_RANGES ranges: E2BIG, as the kernel.
        peer.call(10, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(24).u32(VFIO_DEVICE_FEATURE_SET
                | VFIO_DEVICE_FEATURE_DMA_LOGGING_START).u64(4096).u32(257).u32(0).build()).expectError(Errno.E2BIG);
        // The state: RUNNING, data_fd -1 (unused in vfio-user).
        r = peer.call(7, VfioUserCommand.DEVICE_FEATURE, Le.of().u32(16).u32(get | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)
                .build());
        assertEquals(VFIO_DEVICE_STATE_RUNNING, r.payloadBuffer().getInt(8));
        assertEquals(-1, r.payloadBuffer().getInt(12));
    }

    private byte[] setState(int state) {
        return Le.of().u32(16).u32(VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE).u32(state).u32(-1)
                .build();
    }

    @Test
    void illegalArcsAndDataOutsideTheirStatesAreEinval() {
        // The spec names no errno; the kernel answers a state with no arc to it with EINVAL
        // (vfio_mig_get_next_state), as libvfio-user does an invalid transition and a data access
        // out of sequence.
        negotiate();
        peer.call(2, VfioUserCommand.MIG_DATA_READ, Le.of().u32(8 + 64).u32(64).build()).expectError(Errno.EINVAL);
        peer.call(3, VfioUserCommand.MIG_DATA_WRITE, Le.of().u32(8).u32(1).u8(0).build()).expectError(Errno.EINVAL);
        peer.call(4, VfioUserCommand.DEVICE_FEATURE, setState(VFIO_DEVICE_STATE_ERROR)).expectError(Errno.EINVAL);
        peer.call(5, VfioUserCommand.DEVICE_FEATURE, setState(VFIO_DEVICE_STATE_RUNNING_P2P)).expectError(Errno.EINVAL);
        peer.call(6, VfioUserCommand.DEVICE_FEATURE, setState(99)).expectError(Errno.EINVAL);
        byte[] stopCopy = setState(VFIO_DEVICE_STATE_STOP_COPY);
        assertArrayEquals(stopCopy, peer.call(7, VfioUserCommand.DEVICE_FEATURE, stopCopy).payload(),
                "RUNNING to STOP_COPY (by STOP): the reply is the request");
        assertEquals(io.jvfio.vfio.migration.MigrationState.STOP_COPY, served.server.migrationState());
        // The spec: "The STOP_COPY -> PRE_COPY transition is explicitly not allowed".
        peer.call(8, VfioUserCommand.DEVICE_FEATURE, setState(VFIO_DEVICE_STATE_PRE_COPY)).expectError(Errno.EINVAL);
        assertEquals(io.jvfio.vfio.migration.MigrationState.STOP_COPY, served.server.migrationState(),
                "a refused request moves nothing");
        assertTrue(served.server.migrationFailure().contains("STOP_COPY to PRE_COPY"), served.server.migrationFailure());
        // Reading in STOP_COPY works; a read larger than max_data_xfer_size, or than argsz allows, does not.
        RawPeer.Frame r = peer.call(9, VfioUserCommand.MIG_DATA_READ, Le.of().u32(8 + 16).u32(16).build());
        assertEquals(16, r.payloadBuffer().getInt(4));
        assertEquals(0x5346564a, r.payloadBuffer().getInt(8), "the stream opens with the header's magic");
        peer.call(10, VfioUserCommand.MIG_DATA_READ, Le.of().u32(8).u32(16).build()).expectError(Errno.EINVAL);
        peer.call(11, VfioUserCommand.MIG_DATA_READ, Le.of().u32(-1).u32((1 << 20) + 1).build())
                .expectError(Errno.EINVAL);
        // Writing is for RESUMING only.
        peer.call(12, VfioUserCommand.MIG_DATA_WRITE, Le.of().u32(8).u32(1).u8(0).build()).expectError(Errno.EINVAL);
        // A reset is the way back to RUNNING from anywhere.
        peer.call(13, VfioUserCommand.DEVICE_RESET, new byte[0]);
        assertEquals(io.jvfio.vfio.migration.MigrationState.RUNNING, served.server.migrationState());
    }

    // DMA_WRITE / DMA_READ replies from the client, for a window reached by messages

    /** The edu device, keeping the context the server attaches, so the test can do DMA through it. */
    private final class DmaProbe implements EmulatedDevice {
        volatile Context context;

        @Override
        public int flags() {
            return served.edu.flags();
        }

        @Override
        public List<Region> regions() {
            return served.edu.regions();
        }

        @Override
        public List<VfioIrq> irqs() {
            return served.edu.irqs();
        }

        @Override
        public void read(int region, long offset, ByteBuf dst, int count) {
            served.edu.read(region, offset, dst, count);
        }

        @Override
        public void write(int region, long offset, ByteBuf src, int count) {
            served.edu.write(region, offset, src, count);
        }

        @Override
        public void reset() {
            served.edu.reset();
        }

        @Override
        public void attach(Context c) {
            context = c;
            served.edu.attach(c);
        }

        @Override
        public void detach() {
            context = null;
            served.edu.detach();
        }
    }

    private DmaProbe probe() throws Exception {
        DmaProbe probe = new DmaProbe();
        peer.close();
        served.serve(probe);
        peer = RawPeer.connect(served.socket);
        negotiate();
        assertEquals(REPLY, peer.call(2, VfioUserCommand.DMA_MAP, map(0x100000, 0x10000)).flags(),
                "a window without an fd: the server writes it with DMA_WRITE");
        return probe;
    }

    /** Starts a device DMA write of {@code data} at {@code address}, and returns it with the DMA_WRITE it sent. */
    private CompletableFuture<Void> dmaWrite(DmaProbe probe, long address, byte[] data, RawPeer.Frame[] sent) {
        CompletableFuture<Void> done = CompletableFuture.runAsync(
                () -> probe.context.dmaWrite(address, data, 0, data.length));
        RawPeer.Frame f = peer.reply(5000);
        assertFalse(f.isReply());
        assertEquals(VfioUserCommand.DMA_WRITE.number(), f.command());
        ByteBuffer p = f.payloadBuffer();
        assertEquals(address, p.getLong(0), "address (spec's DMA_WRITE request)");
        assertEquals(data.length, p.getLong(8), "count, 64 bits");
        assertArrayEquals(data, Arrays.copyOfRange(f.payload(), 16, f.payload().length), "then the data");
        sent[0] = f;
        return done;
    }

    @Test
    void theServerAcceptsEachDmaWriteReplyFormPeersSend() throws Exception {
        DmaProbe probe = probe();
        byte[] data = new byte[64];
        Arrays.fill(data, (byte) 0x5A);
        RawPeer.Frame[] sent = new RawPeer.Frame[1];
        long address = 0x100040;
        // QEMU 11's client (pci.c vfio_user_dma_write): the header alone.
        CompletableFuture<Void> w = dmaWrite(probe, address, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 16, REPLY, 0, new byte[0]));
        w.get(5, TimeUnit.SECONDS);
        // The spec's table: address u64, count u32.
        w = dmaWrite(probe, address, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 16 + 12, REPLY, 0, Le.of().u64(address).u32(64).build()));
        w.get(5, TimeUnit.SECONDS);
        // libvfio-user's sample client (handle_dma_write) and ours: address u64, count u64.
        w = dmaWrite(probe, address, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 16 + 16, REPLY, 0, Le.of().u64(address).u64(64).build()));
        w.get(5, TimeUnit.SECONDS);
    }

    @Test
    void aDmaWriteReplyNamingAnotherRangeOrMalformedFailsTheDeviceDma() throws Exception {
        // libvfio-user's server (vfu_dma_transfer) fails a transfer whose reply names another
        // address or count; so do we, with EIO to the device. An error reply is the client's refusal.
        DmaProbe probe = probe();
        byte[] data = new byte[8];
        RawPeer.Frame[] sent = new RawPeer.Frame[1];
        CompletableFuture<Void> w = dmaWrite(probe, 0x100000, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 32, REPLY, 0, Le.of().u64(0x100008).u64(8).build()));
        assertErrno(Errno.EIO, w);
        w = dmaWrite(probe, 0x100000, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 28, REPLY, 0, Le.of().u64(0x100000).u32(9).build()));
        assertErrno(Errno.EIO, w);
        w = dmaWrite(probe, 0x100000, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 24, REPLY, 0, Le.of().u64(0x100000).build()));
        assertErrno(Errno.EIO, w);
        w = dmaWrite(probe, 0x100000, data, sent);
        peer.send(RawPeer.message(sent[0].id(), 12, 16, REPLY | 0x20, Errno.EPERM.number(), new byte[0]));
        assertErrno(Errno.EFAULT, w);
    }

    @Test
    void aDmaReadReplyMustEchoAddressAndCountBeforeItsData() throws Exception {
        // QEMU 11 (pci.c vfio_user_dma_read) and libvfio-user's sample client answer address u64,
        // count u64, then the data (spec's table); libvfio-user's server checks the echo.
        DmaProbe probe = probe();
        byte[] good = new byte[32];
        Arrays.fill(good, (byte) 0x33);
        for (boolean right : new boolean[] {true, false}) {
            byte[] into = new byte[32];
            CompletableFuture<Void> r = CompletableFuture.runAsync(() -> probe.context.dmaRead(0x100100, into, 0, 32));
            RawPeer.Frame f = peer.reply(5000);
            assertEquals(VfioUserCommand.DMA_READ.number(), f.command());
            assertEquals(16, f.payload().length, "address and count, no data");
            peer.send(RawPeer.message(f.id(), 11, 16 + 16 + 32, REPLY, 0,
                    Le.of().u64(0x100100).u64(right ? 32 : 31).bytes(good).build()));
            if (right) {
                r.get(5, TimeUnit.SECONDS);
                assertArrayEquals(good, into);
            } else {
                assertErrno(Errno.EIO, r);
            }
        }
    }

    private void assertErrno(Errno errno, CompletableFuture<Void> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(5, TimeUnit.SECONDS));
        VfioUserException v = assertInstanceOf(VfioUserException.class, e.getCause());
        assertEquals(errno, v.errno(), v.getMessage());
    }

    @Test
    void dmaWriteReplyFormsAsTheServerChecksThem() {
        // The same rule without a socket, from the spec's table and the peers' forms: header alone
        // (QEMU 11), 12 bytes (spec), 16 bytes (libvfio-user); anything else, or another range, is EIO.
        ServerSession.checkDmaWriteReply(Unpooled.EMPTY_BUFFER, 0x1000, 8);
        ServerSession.checkDmaWriteReply(Unpooled.wrappedBuffer(Le.of().u64(0x1000).u32(8).build()), 0x1000, 8);
        ServerSession.checkDmaWriteReply(Unpooled.wrappedBuffer(Le.of().u64(0x1000).u64(8).build()), 0x1000, 8);
        for (byte[] bad : List.of(Le.of().u64(0x1000).build(), Le.of().u64(0x1000).u64(8).u32(0).build(),
                Le.of().u64(0x1008).u64(8).build(), Le.of().u64(0x1000).u32(7).build(),
                Le.of().u64(0x1000).u64((1L << 32) | 8).build())) {
            VfioUserException e = assertThrows(VfioUserException.class,
                    () -> ServerSession.checkDmaWriteReply(Unpooled.wrappedBuffer(bad), 0x1000, 8));
            assertEquals(Errno.EIO, e.errno());
        }
    }
}
