package io.jvfio.vfio.user.client;

import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioDeviceLayout;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIoEventFd;
import io.jvfio.vfio.migration.MigratableBackend;
import io.jvfio.vfio.user.protocol.VfioUserCapabilities;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vfio.user.transport.VfioUserEventLoop;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.UnixSocket;
import io.jvfio.vmm.migration.DirtyLog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;

/**
 * A VFIO device back end over vfio-user: the same {@link VfioBackend} as the kernel's
 * {@link io.jvfio.vfio.kernel.VfioDevice}, so the passthrough device model cannot tell them apart.
 *
 * <p>On connect it negotiates the version and capabilities, reads the device, region (with their
 * capability chains and fds) and interrupt info, and, given guest memory, follows it as a
 * {@link DmaMappingListener}: every RAM region is sent with DMA_MAP with its memfd, so the server
 * maps the guest's pages directly. The server's DMA_READ/DMA_WRITE are answered from guest memory,
 * within the windows mapped.
 *
 * <p>A request's reply is read by the thread that sent it, one sendmsg and one recvmsg per round
 * trip with no hand-off between threads; threads issuing requests at once share the socket, and
 * whichever reads serves the server's DMA_READ/DMA_WRITE on the way (the event loop does while no
 * thread waits). Memory BAR writes are posted (No_reply) unless {@link #postWrites} turns that off.
 *
 * <p>Every request waits for its reply at most {@code x-msg-timeout}. If the server goes away the
 * device stays: reads return all-ones, writes are dropped, one log line says so, and the VM runs on,
 * as a surprise-removed PCI device behaves.
 *
 * <p>The work is done by four package-private parts: the session ({@link ClientSession}: connecting,
 * VERSION, request plumbing, liveness), the regions ({@link ClientRegions}: the device's layout,
 * region access, mmap-able areas), the interrupts ({@link ClientIrqs}: DEVICE_SET_IRQS) and the DMA
 * windows ({@link ClientDmaWindows}: DMA_MAP/DMA_UNMAP, and serving DMA_READ/DMA_WRITE).
 */
public final class VfioUserClient implements VfioBackend, MigratableBackend, DmaMappingListener {

    private static final Logger LOG = LoggerFactory.getLogger(VfioUserClient.class);

    public static final long DEFAULT_MSG_TIMEOUT_MS = 5000;

    private final ClientSession session;
    private final ClientRegions regions;
    private final ClientIrqs irqs;
    private final ClientDmaWindows dma;
    private final ClientIoFds ioFds;

    private VfioUserClient(Path socket, long timeoutMillis, VfioUserEventLoop ownLoop, VfioUserEventLoop loop,
                           OwnedFd fd) {
        this.session = new ClientSession(socket, timeoutMillis, ownLoop);
        this.regions = new ClientRegions(session);
        this.irqs = new ClientIrqs(session, regions);
        this.dma = new ClientDmaWindows(session);
        this.ioFds = new ClientIoFds(session);
        session.open(fd, loop, dma);
    }

    /**
     * Connects to the server at {@code socket}, negotiates, and reads the device. With {@code memory},
     * guest RAM is mapped for the device's DMA (DMA_MAP with each region's fd) and kept in sync.
     * The client runs on its own event loop thread.
     */
    public static VfioUserClient connect(Path socket, long msgTimeoutMillis, GuestMemory memory) {
        VfioUserEventLoop own = new VfioUserEventLoop("vfio-user-client");
        try {
            return connect(socket, msgTimeoutMillis, memory, own, own);
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
    }

    /** As {@link #connect(Path, long, GuestMemory)}, on a shared event loop that the caller closes. */
    public static VfioUserClient connect(Path socket, long msgTimeoutMillis, GuestMemory memory,
                                         VfioUserEventLoop loop) {
        return connect(socket, msgTimeoutMillis, memory, null, loop);
    }

    private static VfioUserClient connect(Path socket, long msgTimeoutMillis, GuestMemory memory,
                                          VfioUserEventLoop own, VfioUserEventLoop loop) {
        if (msgTimeoutMillis <= 0) {
            throw new IllegalArgumentException("x-msg-timeout must be positive, not " + msgTimeoutMillis);
        }
        OwnedFd fd;
        try {
            fd = UnixSocket.connect(socket);
        } catch (SyscallException e) {
            if (e.errnoValue() == Errno.ENAMETOOLONG.number()) { // the message names the limit and the fix
                throw new VfioException("cannot connect to the vfio-user server: " + e.getMessage(), e);
            }
            throw new VfioException("cannot connect to the vfio-user server at " + socket + ": "
                    + Errno.describe(e.errnoValue()) + " - start the server first (e.g. ./jvfio --serve edu,socket=" + socket
                    + ") or fix socket=", e);
        }
        VfioUserClient c = new VfioUserClient(socket, msgTimeoutMillis, own, loop, fd);
        try {
            c.session.negotiate();
            c.regions.readDevice();
            c.ioFds.read(c.regions.layout().regions());
            if (memory != null) {
                c.dma.memory(memory);
                memory.addListener(c); // replays every RAM region as DMA_MAP
            }
            return c;
        } catch (RuntimeException e) {
            c.dma.memory(null);
            c.closeQuietly();
            throw e;
        }
    }

    /** Why the device is gone (its server stopped answering, or went away), or null while it works. */
    @Override
    public String failure() {
        return session.failure();
    }

    /**
     * Who is told, once, why the device is gone, instead of the log (a launcher that ends its run with
     * that reason as its one line); told at once if it is gone already.
     */
    @Override
    public void onGone(Consumer<String> observer) {
        session.onGone(observer);
    }

    // ---- VfioBackend: description ----

    @Override
    public String name() {
        return session.name();
    }

    public Path socket() {
        return session.socket();
    }

    /** The capabilities the server announced. */
    public VfioUserCapabilities serverCapabilities() {
        return session.peer();
    }

    public int deviceFlags() {
        return regions.deviceFlags();
    }

    /** True once the server has gone away: the device reads all-ones and drops writes. */
    public boolean isDead() {
        return session.dead();
    }

    /** REGION_READ and REGION_WRITE requests sent: what a directly mapped BAR saves. */
    public long regionRequests() {
        return regions.regionRequests();
    }

    /** Region accesses that failed (timeout, error reply, dead server) and read all-ones or were dropped. */
    public long failedRequests() {
        return regions.failedRequests();
    }

    /**
     * Whether {@link #postedWrite}s are posted (the default: REGION_WRITE with No_reply, not waited
     * for), or each waits for its reply ({@code false}: {@code x-no-posted-writes=on}, as QEMU's
     * property). Config and I/O space writes ({@link #write}) always wait: PCI makes them non-posted.
     */
    public void postWrites(boolean on) {
        regions.postWrites(on);
    }

    /** REGION_WRITEs sent posted (with No_reply). */
    public long postedWrites() {
        return regions.postedWrites();
    }

    /**
     * Posted writes dropped because they could not be delivered (the server gone or the connection
     * closed); the first is logged, the rest only counted here. The server never answers a posted
     * write, not even with an error (spec, "Header"), so this is all the client can learn.
     */
    public long postedWriteErrors() {
        return regions.postedWriteErrors();
    }

    /**
     * Waits until the server has processed every write posted before this call (a reply to a
     * command sent after them says so: the server takes commands in order). A region read does the
     * same for the writes before it by itself. False if no reply came (the access is counted failed).
     */
    public boolean flushPostedWrites() {
        return regions.flush();
    }

    @Override
    public boolean supportsReset() {
        return (regions.deviceFlags() & VFIO_DEVICE_FLAGS_RESET) != 0;
    }

    @Override
    public VfioDeviceLayout layout() {
        return regions.layout();
    }

    // ---- VfioBackend: region access ----

    /**
     * A little-endian read of 1, 2, 4 or 8 bytes: one REGION_READ round trip, allocation-free. If it
     * fails (dead server, timeout, error reply) it reads all-ones, as a PCI read that gets no
     * completion does.
     */
    @Override
    public long read(int region, long offset, int size) {
        return regions.read(region, offset, size);
    }

    /** A little-endian write of 1, 2, 4 or 8 bytes: one REGION_WRITE round trip; dropped if it fails. */
    @Override
    public void write(int region, long offset, int size, long value) {
        regions.write(region, offset, size, value, false);
    }

    /**
     * A memory-space BAR write, posted: REGION_WRITE with No_reply, not waited for (unless
     * {@link #postWrites} turned that off, or INTx is unmasked through an eventfd: see
     * {@link ClientIrqs#intxUnmaskByEventFd}); a later read comes after it, {@link #flushPostedWrites}
     * waits for it. Dropped if it fails.
     */
    @Override
    public void postedWrite(int region, long offset, int size, long value) {
        regions.write(region, offset, size, value, !irqs.intxUnmaskByEventFd());
    }

    /** Reads {@code length} bytes into native memory at {@code address}, in pieces of the server's max_data_xfer_size. */
    @Override
    public long read(int region, long offset, long address, long length) {
        return regions.read(region, offset, address, length);
    }

    /** Writes {@code length} bytes from native memory at {@code address}, in pieces of the server's max_data_xfer_size. */
    @Override
    public long write(int region, long offset, long address, long length) {
        return regions.write(region, offset, address, length);
    }

    /** The doorbells the server offered for {@code region} (DEVICE_GET_REGION_IO_FDS), asked at connect. */
    @Override
    public List<VfioIoEventFd> ioEventFds(int region) {
        return ioFds.of(region);
    }

    /**
     * Maps one mmap-able area of a region from the fd the server sent with its region info, if the
     * file still backs all of it (checked again here: the server may have shrunk it since).
     */
    @Override
    public MemoryMapping mmap(int region, RegionCapability.Area area) {
        return regions.mmap(region, area);
    }

    /**
     * Which mapped area has lost memory behind it since it was mapped (the server shrank its file,
     * which was not sealed against it), in words; null if none. For after a fault: it calls fstat.
     */
    @Override
    public String lostMapping() {
        return regions.lostMapping();
    }

    // ---- VfioBackend: interrupts ----

    /**
     * Assigns {@code eventfds[i]} as vector {@code first + i}'s trigger. The fds go as SCM_RIGHTS, at most
     * the server's max_msg_fds per message; a null entry de-assigns that vector.
     */
    @Override
    public void setIrqTriggers(int index, int first, EventFd[] eventfds) {
        irqs.setIrqTriggers(index, first, eventfds);
    }

    @Override
    public void disableIrq(int index) {
        irqs.disableIrq(index);
    }

    @Override
    public void maskIrq(int index, int vector) {
        irqs.maskIrq(index, vector);
    }

    @Override
    public void unmaskIrq(int index, int vector) {
        irqs.unmaskIrq(index, vector);
    }

    @Override
    public void setUnmaskEventFd(int index, EventFd unmask) {
        irqs.setUnmaskEventFd(index, unmask);
    }

    /** Fires vector {@code vector} from the server's side (SET_IRQS DATA_NONE|TRIGGER), as a loopback test. */
    public void triggerIrq(int index, int vector) {
        irqs.triggerIrq(index, vector);
    }

    @Override
    public void reset() {
        if (!supportsReset()) {
            throw new VfioException.ResetNotSupported(name() + " does not support reset: the server's DEVICE_GET_INFO "
                    + "flags lack VFIO_DEVICE_FLAGS_RESET");
        }
        if (!session.dead()) {
            session.request(VfioUserCommand.DEVICE_RESET, 0, null, 0, b -> { }).release();
        }
    }

    /**
     * The device's VFIO migration v2 (VFIO_USER_DEVICE_FEATURE, VFIO_USER_MIG_DATA_READ/WRITE): asked
     * of the server each call.
     *
     * @throws VfioException.MigrationNotSupported if the device does not migrate (ENOTTY)
     */
    @Override
    public ClientMigration migration() {
        return ClientMigration.probe(session);
    }

    /**
     * The device's DMA writes into guest RAM, logged by its server ({@link #dmaLogging}) over the DMA
     * windows given to it when the log starts (IOVA = guest-physical address).
     */
    @Override
    public DirtyLog dmaDirtyLog() {
        return new ClientDirtyLog(name(), dmaLogging(), dma::windows);
    }

    /** The device's DMA dirty logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*), which a server may lack (ENOTTY). */
    public ClientDmaLogging dmaLogging() {
        return new ClientDmaLogging(session);
    }

    // ---- DMA: guest memory for the server ----

    /** A guest RAM region is now DMA-able: DMA_MAP with its memfd, so the server maps it directly. */
    @Override
    public void map(DmaMapping m) {
        dma.map(m);
    }

    /** A guest RAM region is going away: DMA_UNMAP, whose reply means the server let go of it. */
    @Override
    public void unmap(DmaMapping m) {
        dma.unmap(m);
    }

    /** How many DMA windows the server has been given. */
    public int dmaWindows() {
        return dma.dmaWindows();
    }

    // ---- end ----

    /**
     * Stops following guest memory (DMA_UNMAP of every window, while the server is there), closes the
     * connection and the region fds. Mappings made with {@link #mmap} are the caller's to close.
     */
    @Override
    public void close() {
        GuestMemory m = dma.memory();
        dma.memory(null);
        if (m != null) {
            try {
                m.removeListener(this);
            } catch (RuntimeException e) {
                LOG.warn("{}: unmapping guest memory failed: {}", name(), e.getMessage());
            }
        }
        closeQuietly();
    }

    private void closeQuietly() {
        session.close();
        regions.close();
        ioFds.close();
        session.closeLoop();
    }

    /** The connection to the server: its queued output, for tests of the bound. */
    public VfioUserConnection connection() {
        return session.connection();
    }

    @Override
    public String toString() {
        return session.name() + (session.dead() ? " (server gone)" : "");
    }
}
