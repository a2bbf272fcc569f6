package io.jvfio.vfio.user.server;

import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.host.DeviceContext;
import io.jvfio.vfio.emulated.host.DeviceDma;
import io.jvfio.vfio.emulated.host.DeviceDoorbells;
import io.jvfio.vfio.user.protocol.VfioUserCapabilities;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.protocol.VfioUserPayloads;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import io.jvfio.vfio.user.transport.PendingRequests;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.vfio.VfioConstants;
import io.jvfio.vmm.linux.vfio.VfioInfoCapHeader;
import io.jvfio.vmm.linux.vfio.VfioRegionInfoCapSparseMmap;
import io.jvfio.vmm.linux.vfio.VfioRegionInfoCapType;
import io.jvfio.vmm.range.UnsignedRange;
import io.netty.buffer.ByteBuf;
import io.netty.channel.IoEventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_CAPS;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_MMAP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_WRITE;

/**
 * One client of a {@link VfioUserServer}: version negotiation, then every command, each checked in
 * full (sizes, indexes, offsets, counts, fds) before the device sees it. A bad command gets an error
 * reply with the errno that fits (EINVAL for a malformed one, EEXIST for an overlapping DMA_MAP as
 * the spec says, ENOENT for an unknown window, EOPNOTSUPP (ENOTSUP) for an optional command this server does not
 * offer, ENOTTY for a device feature as the kernel's VFIO_DEVICE_FEATURE, ENOSYS for an undefined command) and
 * the connection goes on; only a broken stream ends it.
 * Fds a message brings and its command does not take are closed at once.
 */
final class ServerSession implements VfioUserConnection.Listener {

    private static final Logger LOG = LoggerFactory.getLogger(ServerSession.class);


    private final VfioUserServer server;
    private final EmulatedDevice device;
    private final List<EmulatedDevice.Region> regions;
    private final List<VfioIrq> irqInfo;
    private final DeviceContext context;
    private final PendingRequests pending = new PendingRequests();
    private final VfioUserConnection connection;
    private final DeviceDma.Messages viaMessages = new DeviceDma.Messages() {
        @Override
        public void read(long address, byte[] dst, int offset, int length) {
            dmaByMessage(address, dst, offset, length, false);
        }

        @Override
        public void write(long address, byte[] src, int offset, int length) {
            dmaByMessage(address, src, offset, length, true);
        }
    };
    /** Set by VERSION (on the reader); the event loop's negotiation timer looks at it. */
    private volatile VfioUserCapabilities peer;
    private volatile boolean attached;
    private final ScheduledFuture<?> negotiation;
    /** The reply buffer of small region accesses, reused: JDK-owned direct memory, freed with the session. */
    private final ByteBuf accessReply = io.netty.buffer.Unpooled.wrappedBuffer(
            java.nio.ByteBuffer.allocateDirect(VfioUserHeader.SIZE + VfioUserPayloads.RegionAccess.SIZEOF + 4096)).clear();
    /** The data of small region writes, copied out of the stream so the device gets a buffer of its own. */
    private final ByteBuf accessData = io.netty.buffer.Unpooled.buffer(4096, 4096);
    /**
     * Per region, the native address of the device's memory behind it ({@link EmulatedDevice#memory}),
     * or 0: large accesses to such a region go straight between the socket and that memory.
     */
    private final long[] regionMemory;
    /** Whether the message being handled handed its fds on (else they are closed after it); the reader only. */
    private boolean fdsTaken;
    /** The doorbells' eventfds, made when a client first asks for them; the reader's (and onClose's, after it). */
    private DeviceDoorbells doorbells;
    private final java.util.concurrent.atomic.AtomicLong dmaMessages = new java.util.concurrent.atomic.AtomicLong();
    /** The device's migration, if it migrates ({@link io.jvfio.vfio.emulated.MigratableDevice}); else null. */
    private final ServerMigration migration;
    /** The device's DMA logging, offered with its migration; else null. */
    private final ServerDmaLogging dmaLogging;

    ServerSession(VfioUserServer server, EmulatedDevice device, OwnedFd socket, IoEventLoop loop,
                  ConnectionLimits limits) {
        this.server = server;
        this.device = device;
        this.regions = device.regions();
        this.irqInfo = device.irqs();
        this.regionMemory = memoryOf(device, regions.size());
        this.context = new DeviceContext(socket.name(), irqInfo, true, viaMessages, limits.maxDmaMapped());
        this.migration = device instanceof io.jvfio.vfio.emulated.MigratableDevice md
                ? new ServerMigration(md, socket.name()) : null;
        this.dmaLogging = migration == null ? null : new ServerDmaLogging(context);
        // Requests are read and answered on a thread of the session's own, in a blocking recvmsg: no
        // epoll wake-up and no hand-off before each one (the round trip's floor is a blocking
        // ping-pong); the event loop keeps the limits' timers and output the socket did not take.
        this.connection = VfioUserConnection.openOnOwnThread(socket.name(), socket, loop, this, limits);
        // One client at a time (spec, "Connection Initiation"): one that never negotiates would
        // keep the clients in the backlog waiting for ever.
        this.negotiation = loop.schedule(this::negotiationExpired, limits.negotiationTimeoutMillis(),
                TimeUnit.MILLISECONDS);
        connection.startReading(); // the session is whole: its reader may hand it messages
    }

    private static long[] memoryOf(EmulatedDevice device, int count) {
        long[] memory = new long[count];
        for (int i = 0; i < count; i++) {
            java.nio.ByteBuffer b = device.memory(i);
            if (b != null) {
                if (!b.isDirect() || b.capacity() < device.regions().get(i).size()) {
                    throw new IllegalArgumentException("the memory behind region " + i + " must be a direct buffer over "
                            + "all of its " + device.regions().get(i).size() + " bytes, not " + b);
                }
                memory[i] = DirectBuffers.address(b);
            }
        }
        return memory;
    }

    private void negotiationExpired() {
        if (peer == null) {
            connection.close(new VfioUserException(Errno.ETIMEDOUT, "it did not complete VFIO_USER_VERSION within "
                    + "x-negotiation-timeout=" + connection.limits().negotiationTimeoutMillis() + " ms of connecting"));
        }
    }

    VfioUserConnection connection() {
        return connection;
    }

    int dmaWindows() {
        return context.dma.windows();
    }

    long dmaMappedBytes() {
        return context.dma.mappedBytes();
    }

    int assignedEventfds() {
        return context.irqs.assigned();
    }

    long dmaMessages() {
        return dmaMessages.get();
    }

    // ---- messages ----

    @Override
    public void onMessage(VfioUserConnection c, VfioUserMessage m) {
        int[] fds = m.fds();
        fdsTaken = false;
        try {
            if (m.isReply()) {
                fdsTaken = pending.complete(m);
                return;
            }
            if (!m.isCommand()) {
                throw new VfioUserException(Errno.EINVAL, "message type " + (m.flags() & VfioUserHeader.TYPE_MASK)
                        + " is neither a command nor a reply");
            }
            ByteBuf reply = handle(m);
            if (reply == null) {
                return; // sent already (with an fd), or none is due
            }
            if (reply == accessReply) {
                if (!m.noReply()) {
                    connection.sendKeeping(reply);
                }
            } else if (m.noReply()) {
                reply.release();
            } else {
                connection.send(reply);
            }
        } catch (VfioUserException e) {
            LOG.debug("refused {}: {}", m, e.getMessage());
            if (!m.noReply() && m.isCommand()) {
                connection.send(VfioUserMessages.error(connection.alloc(), m.id(), m.commandNumber(), e.errno().number()));
            }
        } finally {
            if (!fdsTaken) {
                for (int fd : fds) {
                    LibC.close(fd);
                }
            }
        }
    }

    /**
     * A large REGION_WRITE to a region that is plain memory goes straight from the socket into the
     * region: checked first as {@link #regionWrite} checks it (a bad one is buffered and refused whole),
     * and only with exactly its count of data (trailing bytes would land beyond it).
     */
    @Override
    public long receiveTarget(VfioUserConnection c, VfioUserMessage head) {
        if (peer == null || !head.isCommand() || head.command() != VfioUserCommand.REGION_WRITE) {
            return 0;
        }
        try {
            int count = regionAccess(head, true);
            int index = head.payloadInt(VfioUserPayloads.RegionAccess.REGION);
            if (!isBulk(index, count) || head.payloadSize() != VfioUserPayloads.RegionAccess.SIZEOF + count) {
                return 0;
            }
            return regionMemory[index] + head.payloadLong(VfioUserPayloads.RegionAccess.OFFSET);
        } catch (VfioUserException e) {
            return 0;
        }
    }

    private ByteBuf handle(VfioUserMessage m) {
        VfioUserCommand command = m.command();
        if (command == null) {
            throw new VfioUserException(Errno.ENOSYS, "command " + m.commandNumber() + " is not a vfio-user command");
        }
        if (peer == null && command != VfioUserCommand.VERSION) {
            throw new VfioUserException(Errno.EINVAL, command.specName() + " before VFIO_USER_VERSION");
        }
        if (command != VfioUserCommand.DMA_MAP && command != VfioUserCommand.DEVICE_SET_IRQS && m.fds().length > 0) {
            throw new VfioUserException(Errno.EINVAL, command.specName() + " carries no file descriptors, got "
                    + m.fds().length);
        }
        return switch (command) {
            case VERSION -> version(m);
            case DMA_MAP -> dmaMap(m);
            case DMA_UNMAP -> dmaUnmap(m);
            case DEVICE_GET_INFO -> deviceInfo(m);
            case DEVICE_GET_REGION_INFO -> regionInfo(m);
            case DEVICE_GET_IRQ_INFO -> irqInfo(m);
            case DEVICE_SET_IRQS -> setIrqs(m);
            case REGION_READ -> regionRead(m);
            case REGION_WRITE -> regionWrite(m);
            case DEVICE_RESET -> reset(m);
            case DMA_READ, DMA_WRITE -> throw new VfioUserException(Errno.EINVAL, command.specName()
                    + " goes from server to client");
            case DEVICE_FEATURE -> deviceFeature(m);
            case DEVICE_GET_REGION_IO_FDS -> regionIoFds(m);
            case MIG_DATA_READ, MIG_DATA_WRITE -> migrationData(m);
            case REGION_WRITE_MULTI ->
                    throw new VfioUserException(Errno.EOPNOTSUPP, command.specName() + " is not offered by this server");
        };
    }

    private static void need(VfioUserMessage m, int bytes) {
        if (m.payloadSize() < bytes) {
            throw new VfioUserException(Errno.EINVAL, m.command().specName() + " needs " + bytes
                    + " bytes of payload, got " + m.payloadSize());
        }
    }

    private ByteBuf reply(VfioUserMessage m, int payload) {
        return VfioUserMessages.reply(connection.alloc(), m.id(), m.commandNumber(), payload);
    }

    /**
     * The reply to a region access: in the session's own buffer when it fits (register accesses,
     * the MMIO path, allocate nothing), else a pooled one.
     */
    private ByteBuf accessReply(VfioUserMessage m, int payload) {
        if (VfioUserHeader.SIZE + payload > accessReply.capacity()) {
            return reply(m, payload);
        }
        accessReply.clear();
        VfioUserHeader.write(accessReply, m.id(), m.commandNumber(), VfioUserHeader.SIZE + payload,
                VfioUserHeader.TYPE_REPLY, 0);
        return accessReply;
    }

    private void drop(ByteBuf reply) {
        if (reply != accessReply) {
            reply.release();
        }
    }

    private ByteBuf version(VfioUserMessage m) {
        if (peer != null) {
            throw new VfioUserException(Errno.EINVAL, "VFIO_USER_VERSION was already negotiated");
        }
        need(m, VfioUserPayloads.Version.DATA);
        int major = m.payloadU16(VfioUserPayloads.Version.MAJOR);
        int minor = m.payloadU16(VfioUserPayloads.Version.MINOR);
        if (major != VfioUserVersion.MAJOR) {
            // The spec: a server that cannot support the proposed version closes the connection.
            LOG.warn("a client proposed vfio-user version {}.{}; this server speaks {}.{}: closing", major, minor,
                    VfioUserVersion.MAJOR, VfioUserVersion.MINOR);
            connection.close();
            return null;
        }
        int jsonLength = m.payloadSize() - VfioUserPayloads.Version.DATA;
        byte[] json = new byte[jsonLength];
        m.payloadBytes(VfioUserPayloads.Version.DATA, json, 0, jsonLength);
        int end = 0;
        while (end < jsonLength && json[end] != 0) {
            end++;
        }
        VfioUserCapabilities proposed = VfioUserCapabilities.parse(json, end);
        VfioUserCapabilities answer = answer(proposed);
        if (answer == null) {
            LOG.warn("a client proposed DMA page sizes 0x{}, none of 4 KiB or more, which this server needs: closing",
                    Long.toHexString(proposed.pgsizes()));
            connection.close();
            return null;
        }
        peer = proposed;
        negotiation.cancel(false);
        if (!attached) {
            attached = true;
            device.attach(context);
        }
        byte[] ours = answer.toJson();
        ByteBuf r = reply(m, VfioUserPayloads.Version.DATA + ours.length);
        r.writeShortLE(VfioUserVersion.MAJOR);
        // QEMU 11 proposes 0.0 (libvfio-user and this project 0.1): the reply's minor is at most the proposed one.
        r.writeShortLE(Math.min(minor, VfioUserVersion.MINOR));
        r.writeBytes(ours);
        return r;
    }

    /**
     * The capabilities of our VERSION reply to {@code proposed}, or null if there is no agreement.
     *
     * <p>The spec: the reply's capability list "must be a subset of those proposed", so it names only
     * keys the client named (QEMU 11 names all four and warns of "spurious capabilities" beyond its
     * own; libvfio-user's server differs from the spec here: it always answers max_msg_fds and
     * max_data_xfer_size, and its client, like ours, reads known keys whether proposed or not). The
     * values are the negotiated ones; with fewer keys and no larger values than QEMU 11 proposed,
     * the reply is no longer than its request, which QEMU needs (it reads the reply into the
     * request's buffer: "reply larger than recv buffer"):
     * <ul>
     *   <li>max_msg_fds is what the sender can receive (spec), not a shared limit: ours, within
     *       QEMU 11's ceiling of 16;</li>
     *   <li>max_data_xfer_size: the smaller of the two, so neither side sends more than the other takes;</li>
     *   <li>pgsizes: the proposed page sizes of 4 KiB or more (a DMA window need only be 4 KiB aligned
     *       here); none is no agreement;</li>
     *   <li>max_dma_maps: the smaller of the two (QEMU refuses a value above its own, "can only lower it").</li>
     * </ul>
     * Capabilities we do not support (QEMU's migration and write_multiple, twin_socket) are left out,
     * which the spec reads as not supported.
     */
    static VfioUserCapabilities answer(VfioUserCapabilities proposed) {
        long pgsizes = proposed.named().contains(VfioUserCapabilities.Key.PGSIZES)
                ? proposed.pgsizes() & ~(VfioUserVersion.CAPABILITIES.pgsizes() - 1) : VfioUserVersion.CAPABILITIES.pgsizes();
        if (pgsizes == 0) {
            return null;
        }
        EnumSet<VfioUserCapabilities.Key> named = EnumSet.noneOf(VfioUserCapabilities.Key.class);
        named.addAll(proposed.named());
        named.retainAll(VfioUserVersion.CAPABILITIES.named());
        return new VfioUserCapabilities(VfioUserVersion.CAPABILITIES.maxMsgFds(),
                Math.min(VfioUserVersion.CAPABILITIES.maxDataXferSize(), proposed.maxDataXferSize()), pgsizes,
                Math.min(VfioUserVersion.CAPABILITIES.maxDmaMaps(), proposed.maxDmaMaps()), named);
    }

    private ByteBuf dmaMap(VfioUserMessage m) {
        need(m, VfioUserPayloads.DmaMap.SIZEOF);
        // argsz is the structure's size (spec); libvfio-user and the kernel refuse less with EINVAL.
        checkArgsz(m, VfioUserPayloads.DmaMap.SIZEOF);
        int flags = m.payloadInt(VfioUserPayloads.DmaMap.FLAGS);
        if ((flags & ~(VfioUserPayloads.DmaMap.FLAG_READ | VfioUserPayloads.DmaMap.FLAG_WRITE)) != 0) {
            throw new VfioUserException(Errno.EINVAL, "DMA_MAP flags 0x" + Integer.toHexString(flags) + " are unknown");
        }
        if (m.fds().length > 1) {
            throw new VfioUserException(Errno.EINVAL, "DMA_MAP carries one fd at most, got " + m.fds().length);
        }
        OwnedFd fd = m.fds().length == 1 ? OwnedFd.adopt(m.fds()[0], "DMA fd from the client") : null;
        fdsTaken = true;
        context.dma.map(m.payloadLong(VfioUserPayloads.DmaMap.ADDRESS), m.payloadLong(VfioUserPayloads.DmaMap.SIZE),
                (flags & VfioUserPayloads.DmaMap.FLAG_READ) != 0, (flags & VfioUserPayloads.DmaMap.FLAG_WRITE) != 0,
                m.payloadLong(VfioUserPayloads.DmaMap.OFFSET), fd);
        return reply(m, 0);
    }

    /**
     * DMA_UNMAP. The spec (0.9.2) says flags are "unused in this version", but QEMU 11's client sends
     * {@code VFIO_DMA_UNMAP_FLAG_ALL} (container.c, vfio_user_dma_unmap, when its listener removes a
     * section spanning the whole 64-bit space) and libvfio-user's server accepts it
     * (is_valid_unmap/handle_dma_unmap): with address and size 0, as the kernel's VFIO_IOMMU_UNMAP_DMA
     * demands (EINVAL otherwise), every window goes. Other flags get EINVAL, as from libvfio-user and
     * the kernel: dirty bitmaps are not tracked here, VADDR is a kernel-only notion. The reply is the
     * request's entry (spec: "the original DMA entry in the request"; libvfio-user copies the request),
     * which QEMU reads into a buffer of the request's size.
     */
    private ByteBuf dmaUnmap(VfioUserMessage m) {
        need(m, VfioUserPayloads.DmaUnmap.SIZEOF);
        // argsz is the largest reply the client takes (spec); the reply is the 24-byte entry, and
        // libvfio-user and the kernel refuse an argsz below it with EINVAL.
        checkArgsz(m, VfioUserPayloads.DmaUnmap.SIZEOF);
        int flags = m.payloadInt(VfioUserPayloads.DmaUnmap.FLAGS);
        long address = m.payloadLong(VfioUserPayloads.DmaUnmap.ADDRESS);
        long size = m.payloadLong(VfioUserPayloads.DmaUnmap.SIZE);
        if (flags == VfioConstants.VFIO_DMA_UNMAP_FLAG_ALL) {
            if (address != 0 || size != 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP with VFIO_DMA_UNMAP_FLAG_ALL must give address and "
                        + "size 0, not 0x" + Long.toHexString(address) + "+0x" + Long.toHexString(size));
            }
            context.dma.clear();
        } else if (flags != 0) {
            throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP flags 0x" + Integer.toHexString(flags)
                    + " are not supported: only 0 and VFIO_DMA_UNMAP_FLAG_ALL (no dirty bitmaps are tracked)");
        } else {
            context.dma.unmap(address, size);
        }
        ByteBuf r = reply(m, VfioUserPayloads.DmaUnmap.SIZEOF);
        r.writeIntLE(VfioUserPayloads.DmaUnmap.SIZEOF);
        r.writeIntLE(flags);
        r.writeLongLE(address);
        r.writeLongLE(size);
        return r;
    }

    private ByteBuf deviceInfo(VfioUserMessage m) {
        need(m, VfioUserPayloads.DeviceInfo.SIZEOF);
        checkArgsz(m, VfioUserPayloads.DeviceInfo.SIZEOF);
        ByteBuf r = reply(m, VfioUserPayloads.DeviceInfo.SIZEOF);
        r.writeIntLE(VfioUserPayloads.DeviceInfo.SIZEOF);
        r.writeIntLE(device.flags());
        r.writeIntLE(regions.size());
        r.writeIntLE(irqInfo.size());
        return r;
    }

    private static void checkArgsz(VfioUserMessage m, int least) {
        long argsz = m.payloadU32(0);
        if (argsz < least) {
            throw new VfioUserException(Errno.EINVAL, m.command().specName() + " argsz " + argsz + " is below "
                    + least);
        }
    }

    private ByteBuf regionInfo(VfioUserMessage m) {
        need(m, VfioUserPayloads.RegionInfo.SIZEOF);
        checkArgsz(m, VfioUserPayloads.RegionInfo.SIZEOF);
        long argsz = m.payloadU32(VfioUserPayloads.RegionInfo.ARGSZ);
        int index = m.payloadInt(VfioUserPayloads.RegionInfo.INDEX);
        EmulatedDevice.Region region = region(index);
        int capsSize = capabilitiesSize(region.capabilities());
        int full = VfioUserPayloads.RegionInfo.SIZEOF + capsSize;
        boolean fits = argsz >= full;
        // The spec: FLAG_CAPS says capabilities are "found in the reply", so it is set only when the
        // chain is there; argsz = the full size alone tells a client to ask again. QEMU 11's client
        // refuses FLAG_CAPS with a cap_offset below 32 before it looks at argsz.
        boolean chained = fits && capsSize > 0;
        // A client that takes no fds (max_msg_fds 0) cannot map the region: it is offered as not
        // mmap-able rather than refused (libvfio-user's server fails the request with ENOSPC).
        boolean fdAllowed = peer.maxMsgFds() >= 1;
        int flags = (fdAllowed ? region.flags() : region.flags() & ~VFIO_REGION_INFO_FLAG_MMAP)
                | (chained ? VFIO_REGION_INFO_FLAG_CAPS : 0);
        ByteBuf r = reply(m, fits ? full : VfioUserPayloads.RegionInfo.SIZEOF);
        r.writeIntLE(full);
        r.writeIntLE(flags);
        r.writeIntLE(index);
        r.writeIntLE(chained ? VfioUserPayloads.RegionInfo.SIZEOF : 0);
        r.writeLongLE(region.size());
        r.writeLongLE(region.mmapOffset());
        if (fits) {
            writeCapabilities(r, region.capabilities(), VfioUserPayloads.RegionInfo.SIZEOF);
        }
        // The mmap fd goes only with a reply that holds the whole info: libvfio-user's client asks
        // with argsz 32 and no room for an fd, and fails (EFAULT) when one arrives anyway; it sends
        // the fd itself only once the capability chain fits, and so do we. One fd, whatever the
        // number of sparse areas: the spec says "a file descriptor", QEMU 11 takes one (more is
        // "unexpected FDs"), where libvfio-user's server repeats it once per area.
        if (fits && (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0 && region.mmapFd() != null && !m.noReply()) {
            connection.send(r, new int[] {region.mmapFd().get()}, 1);
            return null; // sent with its fd
        }
        return r;
    }

    /**
     * VFIO_USER_DEVICE_GET_REGION_IO_FDS: the device's doorbells in region {@code index}, each a
     * sub-region of type ioeventfd (offset, size, fd_index, type 0, flags KVM_IOEVENTFD_FLAG_DATAMATCH
     * where it matches data, datamatch), their eventfds with the reply. A reply that does not fit the
     * client's argsz is the header alone with the argsz needed and the count, and no fds, as
     * REGION_INFO's and libvfio-user's (handle_device_get_region_io_fds). A region without doorbells
     * gets count 0 and no fd: the spec says the reply carries "at least one file descriptor", which
     * libvfio-user does not send for an empty array either. So does a client that takes fewer fds
     * than the doorbells need (max_msg_fds): nothing is offered rather than part.
     */
    private ByteBuf regionIoFds(VfioUserMessage m) {
        need(m, VfioUserPayloads.RegionIoFds.SIZEOF);
        checkArgsz(m, VfioUserPayloads.RegionIoFds.SIZEOF);
        long argsz = m.payloadU32(VfioUserPayloads.RegionIoFds.ARGSZ);
        int flags = m.payloadInt(VfioUserPayloads.RegionIoFds.FLAGS);
        int index = m.payloadInt(VfioUserPayloads.RegionIoFds.INDEX);
        int count = m.payloadInt(VfioUserPayloads.RegionIoFds.COUNT);
        if (flags != 0 || count != 0) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_GET_REGION_IO_FDS flags 0x" + Integer.toHexString(flags)
                    + " and count " + count + " must be 0 in a request");
        }
        region(index);
        DeviceDoorbells all = doorbells();
        List<Integer> here = new java.util.ArrayList<>();
        for (int i = 0; i < all.doorbells().size(); i++) {
            if (all.doorbells().get(i).region() == index) {
                here.add(i);
            }
        }
        if (here.size() > peer.maxMsgFds()) {
            LOG.warn("{}: region {} has {} doorbells, more fds than the client takes (max_msg_fds {}): none offered",
                    connection.name(), index, here.size(), peer.maxMsgFds());
            here.clear();
        }
        int full = VfioUserPayloads.RegionIoFds.SIZEOF + here.size() * VfioUserPayloads.RegionIoFds.SUB_SIZEOF;
        boolean fits = argsz >= full;
        ByteBuf r = reply(m, fits ? full : VfioUserPayloads.RegionIoFds.SIZEOF);
        r.writeIntLE(full);
        r.writeIntLE(0);
        r.writeIntLE(index);
        r.writeIntLE(here.size());
        if (!fits || here.isEmpty() || m.noReply()) {
            return r;
        }
        int[] fds = new int[here.size()];
        for (int k = 0; k < here.size(); k++) {
            EmulatedDevice.Doorbell d = all.doorbells().get(here.get(k));
            fds[k] = all.eventfd(here.get(k)).fd().get();
            r.writeLongLE(d.offset());
            r.writeLongLE(d.size());
            r.writeIntLE(k); // fd_index: one eventfd per doorbell
            r.writeIntLE(VfioUserPayloads.RegionIoFds.TYPE_IOEVENTFD);
            r.writeIntLE(d.datamatch() ? VfioUserPayloads.RegionIoFds.FLAG_DATAMATCH : 0);
            r.writeIntLE(0); // padding
            r.writeLongLE(d.datamatch() ? d.data() : 0);
        }
        connection.send(r, fds, fds.length);
        return null; // sent with its fds
    }

    /** The device's doorbells, their eventfds made at the first DEVICE_GET_REGION_IO_FDS; the reader only. */
    private DeviceDoorbells doorbells() {
        if (doorbells == null) {
            doorbells = new DeviceDoorbells(connection.name(), device);
        }
        return doorbells;
    }

    /** Doorbell writes the device took from its eventfds (a test's and a benchmark's view). */
    long doorbellsRung() {
        return doorbells == null ? 0 : doorbells.rung();
    }

    private EmulatedDevice.Region region(int index) {
        if (index < 0 || index >= regions.size()) {
            throw new VfioUserException(Errno.EINVAL, "region " + index + " does not exist; the device has "
                    + regions.size());
        }
        return regions.get(index);
    }

    private static int capabilitiesSize(List<RegionCapability> caps) {
        int n = 0;
        for (RegionCapability c : caps) {
            n += capabilitySize(c);
        }
        return n;
    }

    private static int capabilitySize(RegionCapability c) {
        if (c instanceof RegionCapability.SparseMmap s) {
            return VfioRegionInfoCapSparseMmap.SIZEOF + s.areas().size() * VfioRegionInfoCapSparseMmap.AREA_SIZEOF;
        } else if (c instanceof RegionCapability.Type) {
            return VfioRegionInfoCapType.SIZEOF;
        } else if (c instanceof RegionCapability.MsixMappable) {
            return VfioInfoCapHeader.SIZEOF;
        }
        return 0; // an unknown capability is not passed on
    }

    /** The capability chain, laid out as the kernel does: each header's next is relative to the info's start. */
    private static void writeCapabilities(ByteBuf r, List<RegionCapability> caps, int start) {
        int at = start;
        List<RegionCapability> real = caps.stream().filter(c -> !(c instanceof RegionCapability.Unknown)).toList();
        for (int i = 0; i < real.size(); i++) {
            RegionCapability c = real.get(i);
            int size = capabilitySize(c);
            int next = i + 1 < real.size() ? at + size : 0;
            if (c instanceof RegionCapability.SparseMmap s) {
                header(r, VfioConstants.VFIO_REGION_INFO_CAP_SPARSE_MMAP, next);
                r.writeIntLE(s.areas().size());
                r.writeIntLE(0);
                for (RegionCapability.Area a : s.areas()) {
                    r.writeLongLE(a.offset());
                    r.writeLongLE(a.size());
                }
            } else if (c instanceof RegionCapability.Type t) {
                header(r, VfioConstants.VFIO_REGION_INFO_CAP_TYPE, next);
                r.writeIntLE(t.type());
                r.writeIntLE(t.subtype());
            } else {
                header(r, VfioConstants.VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, next);
            }
            at += size;
        }
    }

    private static void header(ByteBuf r, int id, int next) {
        r.writeShortLE(id);
        r.writeShortLE(1);
        r.writeIntLE(next);
    }

    private ByteBuf irqInfo(VfioUserMessage m) {
        need(m, VfioUserPayloads.IrqInfo.SIZEOF);
        checkArgsz(m, VfioUserPayloads.IrqInfo.SIZEOF);
        int index = m.payloadInt(VfioUserPayloads.IrqInfo.INDEX);
        if (index < 0 || index >= irqInfo.size()) {
            throw new VfioUserException(Errno.EINVAL, "interrupt index " + index + " does not exist; the device has "
                    + irqInfo.size());
        }
        VfioIrq q = irqInfo.get(index);
        ByteBuf r = reply(m, VfioUserPayloads.IrqInfo.SIZEOF);
        r.writeIntLE(VfioUserPayloads.IrqInfo.SIZEOF);
        r.writeIntLE(q.flags());
        r.writeIntLE(index);
        r.writeIntLE(q.count());
        return r;
    }

    private ByteBuf setIrqs(VfioUserMessage m) {
        need(m, VfioUserPayloads.IrqSet.SIZEOF);
        int flags = m.payloadInt(VfioUserPayloads.IrqSet.FLAGS);
        int index = m.payloadInt(VfioUserPayloads.IrqSet.INDEX);
        int start = m.payloadInt(VfioUserPayloads.IrqSet.START);
        int count = m.payloadInt(VfioUserPayloads.IrqSet.COUNT);
        byte[] bools = null;
        if ((flags & VfioConstants.VFIO_IRQ_SET_DATA_BOOL) != 0) {
            if (count < 0 || count > 2048) {
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS count " + count + " is out of range");
            }
            need(m, VfioUserPayloads.IrqSet.SIZEOF + count);
            bools = new byte[count];
            m.payloadBytes(VfioUserPayloads.IrqSet.DATA, bools, 0, count);
        }
        fdsTaken = true; // DeviceIrqs owns them now, and closes them if it refuses
        context.irqs.set(flags, index, start, count, bools, m.fds());
        return reply(m, 0);
    }

    /**
     * Whether an access of {@code count} bytes to region {@code index} goes straight between the
     * socket and the region's memory: a region that is plain memory, and more than a register's
     * buffer holds (a register-sized access still goes through the device, allocation-free already).
     */
    private boolean isBulk(int index, int count) {
        return count > accessData.capacity() && regionMemory[index] != 0;
    }

    /** Checks a REGION_READ/WRITE and returns its count. */
    private int regionAccess(VfioUserMessage m, boolean write) {
        need(m, VfioUserPayloads.RegionAccess.SIZEOF);
        long offset = m.payloadLong(VfioUserPayloads.RegionAccess.OFFSET);
        int index = m.payloadInt(VfioUserPayloads.RegionAccess.REGION);
        long count = m.payloadU32(VfioUserPayloads.RegionAccess.COUNT);
        EmulatedDevice.Region region = region(index);
        if (count > VfioUserVersion.CAPABILITIES.maxDataXferSize()) {
            throw new VfioUserException(Errno.EINVAL, "a region access of " + count + " bytes exceeds max_data_xfer_size "
                    + VfioUserVersion.CAPABILITIES.maxDataXferSize());
        }
        // offset is a u64: 0x7ffffffffffffffc + 4 wraps a signed sum below the size.
        if (count == 0 || !UnsignedRange.fits(offset, count, region.size())) {
            throw new VfioUserException(Errno.EINVAL, "an access of " + count + " bytes at 0x" + Long.toHexString(offset)
                    + " is outside region " + index + " (0x" + Long.toHexString(region.size()) + " bytes)");
        }
        int right = write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ;
        if ((region.flags() & right) == 0) {
            throw new VfioUserException(Errno.EINVAL, "region " + index + " is not " + (write ? "writable" : "readable"));
        }
        if (write) {
            need(m, VfioUserPayloads.RegionAccess.SIZEOF + (int) count);
        }
        return (int) count;
    }

    private ByteBuf regionRead(VfioUserMessage m) {
        int count = regionAccess(m, false);
        long offset = m.payloadLong(VfioUserPayloads.RegionAccess.OFFSET);
        int index = m.payloadInt(VfioUserPayloads.RegionAccess.REGION);
        if (isBulk(index, count)) {
            // Plain memory: the reply's header from the session's buffer, the data straight from the
            // region, gathered into one sendmsg; no pooled reply, no copy of the data.
            if (!m.noReply()) {
                ByteBuf h = accessReply.clear(); // the header alone: the data is the region's
                VfioUserHeader.write(h, m.id(), m.commandNumber(),
                        VfioUserHeader.SIZE + VfioUserPayloads.RegionAccess.SIZEOF + count, VfioUserHeader.TYPE_REPLY, 0);
                h.writeLongLE(offset);
                h.writeIntLE(index);
                h.writeIntLE(count);
                connection.sendGathering(h, regionMemory[index] + offset, count);
            }
            return null;
        }
        ByteBuf r = accessReply(m, VfioUserPayloads.RegionAccess.SIZEOF + count);
        r.writeLongLE(offset);
        r.writeIntLE(index);
        r.writeIntLE(count);
        int at = r.writerIndex();
        try {
            device.read(index, offset, r, count);
        } catch (RuntimeException e) {
            drop(r);
            throw new VfioUserException(Errno.EIO, "the device failed to read region " + index + ": " + e);
        }
        if (r.writerIndex() != at + count) {
            drop(r);
            throw new VfioUserException(Errno.EIO, "the device read " + (r.writerIndex() - at) + " of " + count + " bytes");
        }
        return r;
    }

    private ByteBuf regionWrite(VfioUserMessage m) {
        int count = regionAccess(m, true);
        long offset = m.payloadLong(VfioUserPayloads.RegionAccess.OFFSET);
        int index = m.payloadInt(VfioUserPayloads.RegionAccess.REGION);
        ByteBuf data;
        if (m.dataReceived()) {
            data = null; // received straight into the region (receiveTarget)
        } else if (isBulk(index, count)) {
            // Plain memory: one copy from the connection's buffer into the region, no view, no device call.
            m.payloadTo(VfioUserPayloads.RegionAccess.DATA, regionMemory[index] + offset, count);
            data = null;
        } else if (count <= accessData.capacity()) {
            data = accessData.clear(); // a register write: copied into the session's own buffer, no allocation
            m.payloadBytes(VfioUserPayloads.RegionAccess.DATA, data, count);
        } else {
            data = m.payloadSlice(VfioUserPayloads.RegionAccess.DATA, count);
        }
        try {
            if (data != null) {
                device.write(index, offset, data, count);
            }
        } catch (RuntimeException e) {
            throw new VfioUserException(Errno.EIO, "the device failed to write region " + index + ": " + e);
        }
        if (m.noReply()) {
            return null;
        }
        ByteBuf r = accessReply(m, VfioUserPayloads.RegionAccess.SIZEOF);
        r.writeLongLE(offset);
        r.writeIntLE(index);
        r.writeIntLE(count);
        return r;
    }

    /**
     * DEVICE_FEATURE (argsz, flags: feature index and GET/SET/PROBE, then data). A device that migrates
     * ({@link io.jvfio.vfio.emulated.MigratableDevice}) offers migration ({@link ServerMigration}) and
     * DMA logging ({@link ServerDmaLogging}). Any other device has no feature, and each is refused with
     * ENOTTY, as the kernel's VFIO_DEVICE_FEATURE ioctl (no mig_ops: ENOTTY) and libvfio-user's server
     * (a device without migration) answer; QEMU's vfio_migration_realize reads ENOTTY as "VFIO
     * migration is not supported" and goes on with a migration blocker. The spec names no errno for it.
     */
    private ByteBuf deviceFeature(VfioUserMessage m) {
        need(m, VfioUserPayloads.DeviceFeature.SIZEOF);
        checkArgsz(m, VfioUserPayloads.DeviceFeature.SIZEOF);
        int flags = m.payloadInt(VfioUserPayloads.DeviceFeature.FLAGS);
        if (migration != null) {
            return ServerDmaLogging.handles(flags & VfioUserPayloads.DeviceFeature.INDEX_MASK)
                    ? dmaLogging.feature(m, connection.alloc()) : migration.feature(m, connection.alloc());
        }
        throw new VfioUserException(Errno.ENOTTY, "device feature " + (flags & VfioUserPayloads.DeviceFeature.INDEX_MASK)
                + " is not supported by this device");
    }

    /** MIG_DATA_READ/WRITE: the migration's, or EOPNOTSUPP for a device that does not migrate. */
    private ByteBuf migrationData(VfioUserMessage m) {
        if (migration == null) {
            throw new VfioUserException(Errno.EOPNOTSUPP, m.command().specName() + ": the device does not migrate");
        }
        return m.command() == VfioUserCommand.MIG_DATA_READ ? migration.read(m, connection.alloc())
                : migration.write(m, connection.alloc());
    }

    /** The device's migration state, or null if it does not migrate. */
    io.jvfio.vfio.migration.MigrationState migrationState() {
        return migration == null ? null : migration.state();
    }

    /** Why the device's last migration step failed, or null. */
    String migrationFailure() {
        return migration == null ? null : migration.lastFailure();
    }

    private ByteBuf reset(VfioUserMessage m) {
        if ((device.flags() & VFIO_DEVICE_FLAGS_RESET) == 0) {
            throw new VfioUserException(Errno.EOPNOTSUPP, "the device does not support reset");
        }
        device.reset();
        if (migration != null) {
            migration.reset(); // the spec: a reset is the way out of ERROR, back to RUNNING
        }
        return reply(m, 0);
    }

    // ---- what the device reaches: DeviceContext, with DMA through messages for fd-less windows ----

    /** DMA_READ/DMA_WRITE to the client, in pieces of its max_data_xfer_size; not from the thread that reads. */
    private void dmaByMessage(long address, byte[] buf, int offset, int length, boolean write) {
        if (connection.readsOnThisThread()) {
            throw new VfioUserException(Errno.EINVAL, "DMA through messages cannot wait on the thread that reads "
                    + "the reply (the session's reader, or its event loop); run the device's DMA on its own thread");
        }
        // The client's max_data_xfer_size, and no more than ours: a DMA_READ's reply carries the piece back.
        int chunk = Math.min(peer.maxDataXferSize(), VfioUserVersion.CAPABILITIES.maxDataXferSize());
        for (int done = 0; done < length; ) {
            int n = Math.min(chunk, length - done);
            dmaMessages.incrementAndGet();
            PendingRequests.Slot s = pending.acquire();
            try {
                VfioUserCommand cmd = write ? VfioUserCommand.DMA_WRITE : VfioUserCommand.DMA_READ;
                ByteBuf msg = VfioUserMessages.command(connection.alloc(), s.id, cmd,
                        VfioUserPayloads.DmaAccess.SIZEOF + (write ? n : 0), false);
                msg.writeLongLE(address + done);
                msg.writeLongLE(n);
                if (write) {
                    msg.writeBytes(buf, offset + done, n);
                }
                if (!connection.send(msg)) {
                    throw new VfioUserException(Errno.ENOTCONN, "the client is gone");
                }
                if (!pending.await(s, 5_000_000_000L)) {
                    throw new VfioUserException(Errno.ETIMEDOUT, "the client did not answer " + cmd.specName());
                }
                if (s.error) {
                    throw new VfioUserException(Errno.EFAULT, "the client refused " + cmd.specName() + " at 0x"
                            + Long.toHexString(address + done) + ": " + Errno.describe(s.errno));
                }
                if (write) {
                    checkDmaWriteReply(s.payload, address + done, n);
                } else {
                    if (s.payload.readableBytes() < VfioUserPayloads.DmaAccess.SIZEOF + n
                            || s.payload.getLongLE(VfioUserPayloads.DmaAccess.ADDRESS) != address + done
                            || s.payload.getLongLE(VfioUserPayloads.DmaAccess.COUNT) != n) {
                        throw new VfioUserException(Errno.EIO, "the client's DMA_READ reply is not address 0x"
                                + Long.toHexString(address + done) + ", count " + n + " and the data");
                    }
                    s.payload.getBytes(VfioUserPayloads.DmaAccess.DATA, buf, offset + done, n);
                }
            } finally {
                pending.release(s);
            }
            done += n;
        }
    }

    /**
     * A client's DMA_WRITE reply, in any of the forms peers send: the header alone (QEMU 11's client,
     * pci.c vfio_user_dma_write), the spec's table (address u64, count u32: 12 bytes), or address and
     * count as u64 (16 bytes: libvfio-user's sample client, and ours). Where address and count are
     * there, they must be the request's.
     */
    static void checkDmaWriteReply(ByteBuf payload, long address, int count) {
        int size = payload.readableBytes();
        if (size == 0) {
            return;
        }
        if (size != VfioUserPayloads.DmaAccess.SPEC_WRITE_REPLY_SIZEOF && size != VfioUserPayloads.DmaAccess.WRITE_REPLY_SIZEOF) {
            throw new VfioUserException(Errno.EIO, "the client's DMA_WRITE reply has " + size
                    + " bytes of payload; 0, 12 or 16 were expected");
        }
        long got = size == VfioUserPayloads.DmaAccess.WRITE_REPLY_SIZEOF
                ? payload.getLongLE(VfioUserPayloads.DmaAccess.COUNT)
                : payload.getUnsignedIntLE(VfioUserPayloads.DmaAccess.COUNT);
        if (payload.getLongLE(VfioUserPayloads.DmaAccess.ADDRESS) != address || got != count) {
            throw new VfioUserException(Errno.EIO, "the client's DMA_WRITE reply names 0x"
                    + Long.toHexString(payload.getLongLE(VfioUserPayloads.DmaAccess.ADDRESS)) + "+" + got + ", not the 0x"
                    + Long.toHexString(address) + "+" + count + " written");
        }
    }

    // ---- end ----

    @Override
    public void onClose(VfioUserConnection c, Throwable cause) {
        if (cause != null) {
            LOG.warn("vfio-user client on {} dropped: {}", c.name(), cause.getMessage());
        }
        negotiation.cancel(false);
        pending.close();
        if (migration != null) {
            dmaLogging.stop();
            migration.end();
        }
        if (attached) {
            device.detach();
        }
        context.clear();
        if (doorbells != null) {
            doorbells.close();
        }
        server.sessionEnded(this);
    }

    void close() {
        connection.close();
    }
}
