package io.jvfio.vfio.user.client;

import com.sun.jna.Pointer;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioDeviceLayout;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.user.client.ClientSession.Reply;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.protocol.VfioUserPayloads;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vfio.user.transport.PendingRequests;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.FileStat;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.range.UnsignedRange;
import io.netty.buffer.ByteBuf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_SEAL_SHRINK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_PCI;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_BAR5_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_CAPS;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_MMAP;

/**
 * The device as the server describes it (DEVICE_GET_INFO, DEVICE_GET_REGION_INFO with the region
 * fds, DEVICE_GET_IRQ_INFO), and access to its regions: REGION_READ/REGION_WRITE, and the mmap-able
 * areas mapped from the fds the server sent. An access that fails reads all-ones or is dropped, as a
 * PCI access that gets no completion.
 */
final class ClientRegions {

    // The facade's logger: the parts log as the client always did.
    private static final Logger LOG = LoggerFactory.getLogger(VfioUserClient.class);

    /** The region info we ask for first; a larger capability chain makes us ask again with its argsz. */
    private static final int REGION_INFO_ARGSZ = 512;
    private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final ClientSession session;
    private final String name;
    private final AtomicLong lastTimeoutLog = new AtomicLong(System.nanoTime() - LOG_INTERVAL_NANOS);
    private final AtomicLong failedRequests = new AtomicLong();
    private final AtomicLong regionRequests = new AtomicLong();
    /** REGION_WRITEs sent with No_reply. */
    private final AtomicLong postedWrites = new AtomicLong();
    /** How many of them a later reply has shown processed (the server takes commands in order). */
    private final AtomicLong postedProcessed = new AtomicLong();
    private final AtomicLong postedWriteErrors = new AtomicLong();
    /** Whether BAR writes are posted; off with x-no-posted-writes=on. */
    private volatile boolean postWrites = true;
    private final List<MappedArea> unsealed = new ArrayList<>();

    private int deviceFlags;
    private VfioDeviceLayout layout = new VfioDeviceLayout("", List.of(), List.of());
    private OwnedFd[] regionFds = new OwnedFd[0];

    ClientRegions(ClientSession session) {
        this.session = session;
        this.name = session.name();
    }

    int deviceFlags() {
        return deviceFlags;
    }

    VfioDeviceLayout layout() {
        return layout;
    }

    /** REGION_READ and REGION_WRITE requests sent: what a directly mapped BAR saves. */
    long regionRequests() {
        return regionRequests.get();
    }

    /** Region accesses that failed (timeout, error reply, dead server) and read all-ones or were dropped. */
    long failedRequests() {
        return failedRequests.get();
    }

    /** Whether BAR writes are posted (the default), or wait for their reply ({@code x-no-posted-writes=on}). */
    void postWrites(boolean on) {
        postWrites = on;
    }

    /** REGION_WRITEs sent posted (No_reply). */
    long postedWrites() {
        return postedWrites.get();
    }

    /** Posted writes that could not be delivered (the connection was gone): dropped, and counted here. */
    long postedWriteErrors() {
        return postedWriteErrors.get();
    }

    // ---- set-up ----

    void readDevice() {
        Reply info = session.request(VfioUserCommand.DEVICE_GET_INFO, VfioUserPayloads.DeviceInfo.SIZEOF, null, 0, b -> {
            b.writeIntLE(VfioUserPayloads.DeviceInfo.SIZEOF);
            b.writeZero(VfioUserPayloads.DeviceInfo.SIZEOF - 4);
        });
        int numRegions;
        int numIrqs;
        try {
            ByteBuf p = info.payload();
            if (p.readableBytes() < VfioUserPayloads.DeviceInfo.SIZEOF) {
                throw session.protocol("its DEVICE_GET_INFO reply is " + p.readableBytes() + " bytes, not 16");
            }
            deviceFlags = p.getIntLE(VfioUserPayloads.DeviceInfo.FLAGS);
            numRegions = p.getIntLE(VfioUserPayloads.DeviceInfo.NUM_REGIONS);
            numIrqs = p.getIntLE(VfioUserPayloads.DeviceInfo.NUM_IRQS);
        } finally {
            info.release();
        }
        if (numRegions < 0 || numRegions > 64 || numIrqs < 0 || numIrqs > 64) {
            throw session.protocol("it reports " + numRegions + " regions and " + numIrqs + " interrupt indexes");
        }
        if ((deviceFlags & VFIO_DEVICE_FLAGS_PCI) == 0) {
            throw new VfioException(name + " is not a PCI device (DEVICE_GET_INFO flags 0x"
                    + Integer.toHexString(deviceFlags) + "); vfio-user-pci serves PCI devices only");
        }
        List<VfioRegion> rs = new ArrayList<>(numRegions);
        regionFds = new OwnedFd[numRegions];
        for (int i = 0; i < numRegions; i++) {
            rs.add(readRegion(i));
        }
        List<VfioIrq> qs = new ArrayList<>(numIrqs);
        for (int i = 0; i < numIrqs; i++) {
            qs.add(readIrq(i));
        }
        layout = new VfioDeviceLayout(name, rs, qs);
    }

    private VfioRegion readRegion(int index) {
        int argsz = REGION_INFO_ARGSZ;
        for (int attempt = 0; attempt < 3; attempt++) {
            int asked = argsz;
            Reply r = session.request(VfioUserCommand.DEVICE_GET_REGION_INFO, VfioUserPayloads.RegionInfo.SIZEOF, null, 0, b -> {
                b.writeIntLE(asked);
                b.writeIntLE(0);
                b.writeIntLE(index);
                b.writeZero(VfioUserPayloads.RegionInfo.SIZEOF - 12);
            });
            try {
                ByteBuf p = r.payload();
                int got = p.readableBytes();
                if (got < VfioUserPayloads.RegionInfo.SIZEOF) {
                    throw session.protocol("its region " + index + " info is " + got + " bytes, less than 32");
                }
                long needed = p.getUnsignedIntLE(VfioUserPayloads.RegionInfo.ARGSZ);
                int flags = p.getIntLE(VfioUserPayloads.RegionInfo.FLAGS);
                int capOffset = p.getIntLE(VfioUserPayloads.RegionInfo.CAP_OFFSET);
                if (needed > got) {
                    if (needed > VfioUserConnection.MAX_MESSAGE) {
                        throw session.protocol("region " + index + " needs " + needed + " bytes of info");
                    }
                    argsz = (int) needed; // the chain did not fit: ask again with what it needs
                    continue;
                }
                List<RegionCapability> caps = List.of();
                if ((flags & VFIO_REGION_INFO_FLAG_CAPS) != 0 && capOffset >= VfioUserPayloads.RegionInfo.SIZEOF) {
                    ByteBuffer copy = ByteBuffer.allocate(got).order(ByteOrder.LITTLE_ENDIAN);
                    p.getBytes(0, copy);
                    caps = RegionCapability.parseChain(copy, capOffset);
                }
                long size = p.getLongLE(VfioUserPayloads.RegionInfo.SIZE);
                long offset = p.getLongLE(VfioUserPayloads.RegionInfo.OFFSET);
                if (size < 0) {
                    throw session.protocol("region " + index + " has size " + size);
                }
                int[] fds = r.takeFds();
                int first = 0;
                if ((flags & VFIO_REGION_INFO_FLAG_MMAP) != 0) {
                    // The spec sends "a file descriptor"; libvfio-user's server (dev_get_caps) sends the
                    // region's fd once per sparse-mmap area. The first serves every area; the copies go.
                    if (fds.length >= 1) {
                        regionFds[index] = OwnedFd.adopt(fds[0], "region " + index + " of " + name);
                        first = 1;
                    } else {
                        LOG.warn("{}: region {} is mmap-able but came without an fd; it is accessed by messages",
                                name, index);
                        flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
                    }
                }
                for (int i = first; i < fds.length; i++) {
                    LibC.close(fds[i]); // copies, or fds of a region we cannot map
                }
                VfioRegion region = new VfioRegion(index, flags, size, offset, caps);
                return region.mmappable() ? mappableAreasOnly(region) : region;
            } finally {
                r.release();
            }
        }
        throw session.protocol("region " + index + " info keeps growing");
    }

    /**
     * The region with only the mmap-able areas its fd can back: an area that lies outside the region,
     * or past the end of the file behind the fd, would fault (SIGBUS) on its first access, so it is
     * left out and accessed by messages (trapped), one warning line naming it. That is QEMU's
     * fallback too when a BAR cannot be mapped (vfio_bar_register: "Failed to mmap ... Performance
     * may be slow"); QEMU does not check the file's size, so there such an fd faults at the guest's
     * first access. With no area left the region is not mmap-able and its fd is closed.
     */
    private VfioRegion mappableAreasOnly(VfioRegion region) {
        int index = region.index();
        long fileSize = fileSize(regionFds[index]);
        List<RegionCapability.Area> kept = new ArrayList<>();
        RegionCapability.Area worst = null;
        long worstEnd = 0;
        for (RegionCapability.Area a : region.mmapAreas()) {
            boolean insideRegion = a.size() > 0 && UnsignedRange.fits(a.offset(), a.size(), region.size());
            if (insideRegion && UnsignedRange.fitsAt(region.offset(), a.offset(), a.size(), fileSize)) {
                kept.add(a);
            } else if (worst == null || Long.compareUnsigned(end(region.offset(), a), worstEnd) > 0) {
                worst = a;
                worstEnd = end(region.offset(), a);
            }
        }
        if (worst == null) {
            return region;
        }
        boolean outside = !(worst.size() > 0 && UnsignedRange.fits(worst.offset(), worst.size(), region.size()));
        LOG.warn("{}: region {} ({}): {}; {} accessed by messages (trapped), not mapped", name, index, region.name(),
                outside ? "its mmap-able area " + worst + " lies outside the region's 0x" + Long.toHexString(region.size())
                        + " bytes"
                        : "the fd the server sent is " + fileSize + " bytes, but its mmap-able area " + worst
                        + " (at fd offset 0x" + Long.toHexString(region.offset()) + " + 0x" + Long.toHexString(worst.offset())
                        + ") needs " + (worstEnd == 0 ? "more than 2^64" : Long.toUnsignedString(worstEnd)) + " bytes",
                kept.isEmpty() ? "the region is" : "that area is");
        int flags = region.flags();
        List<RegionCapability> caps = new ArrayList<>();
        for (RegionCapability c : region.capabilities()) {
            caps.add(c instanceof RegionCapability.SparseMmap ? new RegionCapability.SparseMmap(kept) : c);
        }
        if (kept.isEmpty()) {
            flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
            regionFds[index].close();
            regionFds[index] = null;
        }
        return new VfioRegion(index, flags, region.size(), region.offset(), caps);
    }

    /** The size of the file behind {@code fd}; 0 for what is not a regular file (nothing to map). */
    private static long fileSize(OwnedFd fd) {
        try {
            FileStat st = FileStat.of(fd);
            return st.isRegularFile() ? st.size() : 0;
        } catch (SyscallException e) {
            return 0;
        }
    }

    /** Where an area ends in the fd (0 if the sum wraps: reported as beyond 2^64). */
    private static long end(long base, RegionCapability.Area a) {
        long start = base + a.offset();
        long end = start + a.size();
        return Long.compareUnsigned(start, base) < 0 || Long.compareUnsigned(end, start) < 0 ? 0 : end;
    }

    private VfioIrq readIrq(int index) {
        Reply r = session.request(VfioUserCommand.DEVICE_GET_IRQ_INFO, VfioUserPayloads.IrqInfo.SIZEOF, null, 0, b -> {
            b.writeIntLE(VfioUserPayloads.IrqInfo.SIZEOF);
            b.writeIntLE(0);
            b.writeIntLE(index);
            b.writeIntLE(0);
        });
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < VfioUserPayloads.IrqInfo.SIZEOF) {
                throw session.protocol("its interrupt index " + index + " info is " + p.readableBytes() + " bytes, not 16");
            }
            int count = p.getIntLE(VfioUserPayloads.IrqInfo.COUNT);
            if (count < 0 || count > 2048) {
                throw session.protocol("interrupt index " + index + " has " + count + " vectors");
            }
            return new VfioIrq(index, p.getIntLE(VfioUserPayloads.IrqInfo.FLAGS), count);
        } finally {
            r.release();
        }
    }

    // ---- region access ----

    /**
     * A little-endian read of 1, 2, 4 or 8 bytes: one REGION_READ round trip, allocation-free. If it
     * fails (dead server, timeout, error reply) it reads all-ones, as a PCI read that gets no
     * completion does.
     */
    long read(int region, long offset, int size) {
        layout.accessible(region, offset, size, false);
        AccessSize.check(size);
        long allOnes = AccessSize.allOnes(size);
        if (session.dead()) {
            return allOnes;
        }
        PendingRequests.Slot s = acquireQuietly(VfioUserCommand.REGION_READ, region, offset, false);
        if (s == null) {
            return allOnes;
        }
        try {
            if (!readRoundTrip(s, region, offset, size)) {
                return allOnes;
            }
            ByteBuf p = s.payload;
            if (s.error || p.readableBytes() < VfioUserPayloads.RegionAccess.DATA + size) {
                failed(VfioUserCommand.REGION_READ, region, offset, s.error ? Errno.describe(s.errno) : "a short reply");
                return allOnes;
            }
            ByteBuffer value = s.register.clear().limit(size);
            p.getBytes(VfioUserPayloads.RegionAccess.DATA, value);
            return AccessSize.get(value, 0, size);
        } finally {
            session.pending().release(s);
        }
    }

    /**
     * A slot for a region access of {@code command}; null if the connection closed under us: the
     * access is then dropped, and counted as every other failed one is ({@code posted}: as a failed
     * posted write).
     */
    private PendingRequests.Slot acquireQuietly(VfioUserCommand command, int region, long offset, boolean posted) {
        try {
            return session.pending().acquire(command.number());
        } catch (VfioUserException e) {
            if (posted) {
                postedFailed(region, offset, "the connection to the server is closed");
            } else {
                failed(command, region, offset, e.getMessage());
            }
            return null;
        }
    }

    /**
     * Sends slot {@code s}'s REGION_READ of {@code size} bytes at {@code offset} and waits for the
     * reply; false (counted, logged) if none came. A reply, even an error, says that every command
     * sent before it was taken: posted writes included.
     */
    private boolean readRoundTrip(PendingRequests.Slot s, int region, long offset, int size) {
        regionRequests.incrementAndGet();
        long postedBefore = postedWrites.get();
        ByteBuf msg = VfioUserMessages.command(s.request, s.id, VfioUserCommand.REGION_READ,
                VfioUserPayloads.RegionAccess.SIZEOF);
        msg.writeLongLE(offset);
        msg.writeIntLE(region);
        msg.writeIntLE(size);
        if (!session.connection().sendKeeping(msg) || !awaitQuietly(s, VfioUserCommand.REGION_READ, region, offset)) {
            return false;
        }
        processed(postedBefore);
        return true;
    }

    /**
     * A little-endian write of 1, 2, 4 or 8 bytes; dropped if it fails. With {@code posted} (a memory
     * BAR write, which PCI lets be posted) it is sent with No_reply and not waited for (spec,
     * "Header": the server takes commands in order, so a later read's reply comes after it has been
     * processed; {@link #flush} waits for all). QEMU's client posts BAR writes too
     * ({@code x-no-posted-writes} turns it off, as {@link #postWrites} does here). A posted write is
     * sent waited instead while output is queued for the server (the socket took no more): that
     * reply is the back-pressure a guest writing in a tight loop meets, where posted writes alone
     * would pile up without bound.
     */
    void write(int region, long offset, int size, long value, boolean posted) {
        layout.accessible(region, offset, size, true);
        AccessSize.check(size);
        boolean post = posted && postWrites && region <= VFIO_PCI_BAR5_REGION_INDEX
                && session.connection().queuedOutputBytes() == 0;
        if (session.dead()) {
            if (post) {
                postedFailed(region, offset, "the server is gone");
            }
            return;
        }
        PendingRequests.Slot s = acquireQuietly(VfioUserCommand.REGION_WRITE, region, offset, post);
        if (s == null) {
            return;
        }
        try {
            regionRequests.incrementAndGet();
            ByteBuf msg = VfioUserMessages.command(s.request, s.id, VfioUserCommand.REGION_WRITE,
                    VfioUserPayloads.RegionAccess.SIZEOF + size, post);
            msg.writeLongLE(offset);
            msg.writeIntLE(region);
            msg.writeIntLE(size);
            for (int i = 0; i < size; i++) {
                msg.writeByte((int) (value >>> (8 * i)));
            }
            if (post) {
                // Counted once sent, not before: a read that counts it (postedBefore) is then sent
                // after it, so its reply shows it processed. Counted before the send, another
                // thread's read could count it and be answered before it went out, and a flush then
                // return at once with the write still unprocessed.
                if (session.connection().sendKeeping(msg)) {
                    postedWrites.incrementAndGet();
                } else {
                    postedFailed(region, offset, "the connection to the server is closed");
                }
                return;
            }
            long postedBefore = postedWrites.get();
            if (session.connection().sendKeeping(msg) && awaitQuietly(s, VfioUserCommand.REGION_WRITE, region, offset)) {
                processed(postedBefore);
                if (s.error) {
                    failed(VfioUserCommand.REGION_WRITE, region, offset, Errno.describe(s.errno));
                }
            }
        } finally {
            session.pending().release(s);
        }
    }

    /**
     * Waits until the server has processed every write posted before this call: the reply to a
     * command sent after them says so (spec, "Header": commands are processed in the order
     * received). DEVICE_GET_INFO is that command: every server answers it, and it changes nothing.
     * Returns at once if a reply has shown them processed already. False (counted and logged as a
     * failed access) if no reply came.
     */
    boolean flush() {
        long posted = postedWrites.get();
        if (postedProcessed.get() >= posted) {
            return true;
        }
        if (session.dead()) {
            return false;
        }
        try {
            session.request(VfioUserCommand.DEVICE_GET_INFO, VfioUserPayloads.DeviceInfo.SIZEOF, null, 0, b -> {
                b.writeIntLE(VfioUserPayloads.DeviceInfo.SIZEOF);
                b.writeZero(VfioUserPayloads.DeviceInfo.SIZEOF - 4);
            }).release();
        } catch (VfioException e) {
            failed(VfioUserCommand.DEVICE_GET_INFO, -1, 0, "flushing posted writes: " + e.getMessage());
            return false;
        }
        processed(posted);
        return true;
    }

    /** A reply came to a command sent after the first {@code posted} posted writes: they are processed. */
    private void processed(long posted) {
        long done = postedProcessed.get();
        while (done < posted && !postedProcessed.compareAndSet(done, posted)) {
            done = postedProcessed.get();
        }
    }

    /**
     * A posted write that could not be sent: dropped, as a posted PCI write that goes nowhere is,
     * counted, and logged the first time only (a guest writing in a loop would flood the log).
     */
    private void postedFailed(int region, long offset, String why) {
        failedRequests.incrementAndGet();
        if (postedWriteErrors.incrementAndGet() == 1) {
            LOG.warn("{}: a posted REGION_WRITE of region {} at 0x{} was dropped: {}; further posted writes that fail "
                    + "are counted (postedWriteErrors), not logged", name, region, Long.toHexString(offset), why);
        }
    }

    /** Waits for a region access's reply; false (logged, counted) on timeout or a lost connection. */
    private boolean awaitQuietly(PendingRequests.Slot s, VfioUserCommand command, int region, long offset) {
        try {
            if (session.awaitReply(s)) {
                return true;
            }
            failed(command, region, offset, "no reply within x-msg-timeout=" + TimeUnit.NANOSECONDS.toMillis(session.timeoutNanos())
                    + " ms");
            session.noReply(command);
        } catch (VfioUserException e) {
            failedRequests.incrementAndGet(); // the connection closed: onClose has said so
        }
        return false;
    }

    /** Counts a failed access and logs it, at most once a second so a guest loop cannot flood the log. */
    private void failed(VfioUserCommand command, int region, long offset, String why) {
        long n = failedRequests.incrementAndGet();
        long now = System.nanoTime();
        long last = lastTimeoutLog.get();
        if (now - last >= LOG_INTERVAL_NANOS && lastTimeoutLog.compareAndSet(last, now)) {
            LOG.warn("{}: {} of region {} at 0x{} failed: {} ({} failed accesses so far; reads return all-ones, "
                    + "writes are dropped)", name, command.specName(), region, Long.toHexString(offset), why, n);
        }
    }

    /**
     * Reads {@code length} bytes into native memory at {@code address}, in pieces of the server's
     * max_data_xfer_size: each a REGION_READ whose reply's data is copied once, from the connection's
     * buffer straight to {@code address} (the slot's {@link PendingRequests.Slot#target}), with
     * nothing allocated. A piece that fails reads all-ones, as a PCI read without completion does.
     */
    long read(int region, long offset, long address, long length) {
        layout.accessible(region, offset, length, false);
        int chunk = transferSize();
        for (long done = 0; done < length; ) {
            int n = (int) Math.min(chunk, length - done);
            long at = offset + done;
            if (!readPiece(region, at, address + done, n)) {
                fill(address + done, n);
            }
            done += n;
        }
        return length;
    }

    /** One REGION_READ of {@code n} bytes into {@code address}; false (counted, logged) if it failed. */
    private boolean readPiece(int region, long at, long address, int n) {
        if (session.dead()) {
            return false;
        }
        PendingRequests.Slot s = acquireQuietly(VfioUserCommand.REGION_READ, region, at, false);
        if (s == null) {
            return false;
        }
        try {
            s.target = address;
            s.targetFrom = VfioUserPayloads.RegionAccess.DATA;
            s.targetLength = n;
            if (!readRoundTrip(s, region, at, n)) {
                return false;
            }
            if (s.error || s.targetReceived != n) {
                failed(VfioUserCommand.REGION_READ, region, at, s.error ? Errno.describe(s.errno)
                        : "its reply carries " + s.targetReceived + " of " + n + " bytes");
                return false;
            }
            return true;
        } finally {
            session.pending().release(s);
        }
    }

    /**
     * The largest piece of one REGION_READ/WRITE: the server's max_data_xfer_size, but no more than
     * ours, since a REGION_READ's reply carries the piece back and our connection takes no message
     * beyond our own limit. (libvfio-user's server answers its own value whatever we propose.)
     */
    private int transferSize() {
        return Math.min(session.peer().maxDataXferSize(), VfioUserVersion.CAPABILITIES.maxDataXferSize());
    }

    private static void fill(long address, int n) {
        ByteBuffer dst = new Pointer(address).getByteBuffer(0, n); // a failure's path: the view may allocate
        for (int i = 0; i < n; i++) {
            dst.put(i, (byte) 0xFF);
        }
    }

    /**
     * Writes {@code length} bytes from native memory at {@code address}, in pieces of the server's
     * max_data_xfer_size: each a REGION_WRITE whose header is the slot's own buffer and whose data
     * goes from {@code address} to the socket in the same sendmsg (two iovecs), copied nowhere first,
     * with nothing allocated. A piece that fails is dropped (counted, logged), as a write is.
     */
    long write(int region, long offset, long address, long length) {
        layout.accessible(region, offset, length, true);
        int chunk = transferSize();
        for (long done = 0; done < length && !session.dead(); ) {
            int n = (int) Math.min(chunk, length - done);
            writePiece(region, offset + done, address + done, n);
            done += n;
        }
        return length;
    }

    private void writePiece(int region, long at, long address, int n) {
        PendingRequests.Slot s = acquireQuietly(VfioUserCommand.REGION_WRITE, region, at, false);
        if (s == null) {
            return;
        }
        try {
            regionRequests.incrementAndGet();
            long postedBefore = postedWrites.get();
            ByteBuf msg = VfioUserMessages.command(s.request, s.id, VfioUserCommand.REGION_WRITE,
                    VfioUserPayloads.RegionAccess.SIZEOF + n);
            msg.writeLongLE(at);
            msg.writeIntLE(region);
            msg.writeIntLE(n);
            if (session.connection().sendGathering(msg, address, n)
                    && awaitQuietly(s, VfioUserCommand.REGION_WRITE, region, at)) {
                processed(postedBefore);
                if (s.error) {
                    failed(VfioUserCommand.REGION_WRITE, region, at, Errno.describe(s.errno));
                }
            }
        } finally {
            session.pending().release(s);
        }
    }

    /**
     * Maps one mmap-able area of a region from the fd the server sent with its region info, if the
     * file still backs all of it (checked again here: the server may have shrunk it since). A file not
     * sealed against shrinking (F_SEAL_SHRINK) may still shrink under the mapping, and then an access
     * faults; such areas are remembered, so that {@link #lostMapping} can name the one that did.
     */
    MemoryMapping mmap(int region, RegionCapability.Area area) {
        VfioRegion r = layout.mmapable(region, area);
        OwnedFd fd = regionFds[region];
        long fileSize = fileSize(fd);
        if (!UnsignedRange.fitsAt(r.offset(), area.offset(), area.size(), fileSize)) {
            throw new VfioException(name + ": region " + region + " (" + r.name() + "): the fd the server sent is now "
                    + fileSize + " bytes, but the area " + area + " needs " + Long.toUnsignedString(end(r.offset(), area))
                    + "; it is not mapped");
        }
        int prot = (r.readable() ? PROT_READ : 0) | (r.writable() ? PROT_WRITE : 0);
        MemoryMapping m = MemoryMapping.map(fd, r.offset() + area.offset(), area.size(), prot, MAP_SHARED);
        if ((seals(fd) & F_SEAL_SHRINK) == 0) {
            synchronized (unsealed) {
                unsealed.add(new MappedArea(region, r.name(), r.offset(), area));
            }
        }
        return m;
    }

    private static int seals(OwnedFd fd) {
        try {
            return Syscalls.seals(fd);
        } catch (SyscallException e) {
            return 0; // not a memfd (a file, a device region): nothing can seal it
        }
    }

    /** An area mapped from a file its server could still shrink. */
    private record MappedArea(int region, String regionName, long fdOffset, RegionCapability.Area area) {
    }

    /**
     * Which mapped area has lost memory behind it since it was mapped (the server shrank its file,
     * which was not sealed against it), in words; null if none. For after a fault: it calls fstat.
     */
    String lostMapping() {
        synchronized (unsealed) {
            for (MappedArea a : unsealed) {
                OwnedFd fd = regionFds[a.region()];
                if (fd == null) {
                    continue;
                }
                long fileSize = fileSize(fd);
                if (!UnsignedRange.fitsAt(a.fdOffset(), a.area().offset(), a.area().size(), fileSize)) {
                    return "the vfio-user server at " + session.socket() + " shrank the file behind region " + a.region() + " ("
                            + a.regionName() + ") to " + fileSize + " bytes after it was mapped; the mapped area "
                            + a.area() + " needs " + Long.toUnsignedString(end(a.fdOffset(), a.area())) + " (the server "
                            + "did not seal it against shrinking, F_SEAL_SHRINK)";
                }
            }
        }
        return null;
    }

    /** Closes the region fds. Mappings made with {@link #mmap} are the caller's to close. */
    void close() {
        for (OwnedFd fd : regionFds) {
            if (fd != null) {
                fd.close();
            }
        }
        Arrays.fill(regionFds, null);
    }
}
