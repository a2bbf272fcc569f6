package io.jvfio.vfio.devices;

import com.sun.jna.Pointer;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.emulated.DeviceStateHeader;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.emulated.MsixTable;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;
import io.jvfio.vmm.range.UnsignedRange;
import io.netty.buffer.ByteBuf;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vfio.devices.EduRegisters.*;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_PCI;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_AUTOMASKED;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_MASKABLE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_NORESIZE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_PRE_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_MIGRATION_STOP_COPY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_MMAP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_WRITE;

/**
 * QEMU's {@code edu} educational device, register-compatible ({@code docs/specs/edu.rst}), written
 * in Java and served over vfio-user: identification, liveness, factorial on a worker thread,
 * status and interrupt registers, and the DMA engine with its 4 KiB buffer at 0x40000 and 28-bit
 * DMA mask. On top of QEMU's: MSI-X with 8 vectors (table and PBA in BAR1, register 0x68 fires any
 * vector), a 1 MiB BAR2 of memory on a memfd that the client may mmap, and the DMA buffer readable
 * and writable at BAR0 0x40000 so a driver can check a transfer without a second DMA.
 *
 * <p>The interrupt goes to whichever index the client enabled with DEVICE_SET_IRQS: MSI-X vector 0,
 * else MSI, else INTx (level-triggered: asserted while the interrupt status is non-zero).
 *
 * <p>It migrates ({@link MigratableDevice}, VFIO_MIGRATION_STOP_COPY and PRE_COPY): BAR2's memory
 * goes first, while the device runs; the registers, the pending factorial or DMA (kept, not
 * finished: it runs again where the device next runs), the DMA buffer, config space, the MSI-X
 * table and the interrupts it holds go with the device stopped, with BAR2 again if it changed since.
 */
public final class EduDevice implements EmulatedDevice, MigratableDevice, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EduDevice.class);

    private static final int CONFIG_SIZE = 256;

    private final long dmaMask;
    private final MemoryBackend bar2;
    private final ByteBuffer bar2View;
    private final MsixTable msix;
    private final ExecutorService worker;
    private final List<Region> regions;
    private final List<VfioIrq> irqs;
    private volatile Context context;

    // Device state, guarded by this.
    private PciConfigSpace config;
    private int liveness;
    private int factorial;
    private int status;
    private int irqStatus;
    private long dmaSrc;
    private long dmaDst;
    private long dmaCount;
    private long dmaCmd;
    private final byte[] dmaBuffer = new byte[DMA_BUFFER_SIZE];
    /** MSI-X vectors raised while the Function Mask was set: pending in the PBA until it clears. */
    private int functionMaskedPending;
    /**
     * Bumped by reset, so work a reset interrupted stops and does not land afterwards. Written under
     * this, read without it by the worker's loop.
     */
    private volatile int generation;
    /** Stopped for migration (STOP, STOP_COPY, RESUMING): no work runs and no interrupt is sent. */
    private boolean stopped;
    /** An MSI raised while stopped, sent when the device runs again. */
    private boolean msiHeld;
    /** BAR2 as the initial section of the migration stream sent it, to tell in STOP_COPY whether it changed. */
    private byte[] bar2Sent;

    /** An edu device with QEMU's default 28-bit DMA mask. */
    public EduDevice() {
        this(DMA_MASK);
    }

    /** An edu device whose DMA addresses are masked with {@code dmaMask} (QEMU's {@code dma_mask}). */
    public EduDevice(long dmaMask) {
        this.dmaMask = dmaMask;
        this.bar2 = MemoryBackend.memfd("edu-bar2", BAR2_SIZE, false);
        this.bar2View = new Pointer(bar2.hostAddress()).getByteBuffer(0, BAR2_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        this.msix = new MsixTable(MSIX_VECTORS, MSIX_TABLE_OFFSET, MSIX_PBA_OFFSET, v -> {
            Context c = context;
            return (functionMaskedPending() & 1 << v) != 0 || c != null && c.pending(VFIO_PCI_MSIX_IRQ_INDEX, v);
        });
        this.worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "edu-worker");
            t.setDaemon(true);
            return t;
        });
        this.config = newConfig();

        int rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        List<Region> rs = new ArrayList<>();
        rs.add(new Region(rw, BAR0_SIZE, null, 0, List.of()));
        rs.add(new Region(rw, BAR1_SIZE, null, 0, List.of()));
        rs.add(new Region(rw | VFIO_REGION_INFO_FLAG_MMAP, BAR2_SIZE, bar2.fd(), 0,
                List.of(new RegionCapability.SparseMmap(List.of(new RegionCapability.Area(0, BAR2_SIZE))))));
        rs.add(Region.absent()); // BAR3: the upper half of 64-bit BAR2
        rs.add(Region.absent());
        rs.add(Region.absent());
        rs.add(Region.absent()); // ROM
        rs.add(new Region(rw, CONFIG_SIZE, null, 0, List.of()));
        rs.add(Region.absent()); // VGA
        regions = List.copyOf(rs);
        irqs = List.of(
                new VfioIrq(VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE
                        | VFIO_IRQ_INFO_AUTOMASKED, 1),
                new VfioIrq(VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE, 1),
                // No NORESIZE: its server takes MSI-X vectors one at a time, so a client enables only those in use.
                new VfioIrq(VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE, MSIX_VECTORS),
                new VfioIrq(3, 0, 0), // ERR: not a PCI Express device
                new VfioIrq(4, 0, 0)); // REQ: never asks for the device back
    }

    private synchronized int functionMaskedPending() {
        return functionMaskedPending;
    }

    /** Where newConfig puts the MSI-X capability. */
    private static final int MSIX_CAP = newConfig().findCapability(PciRegs.PCI_CAP_ID_MSIX);

    private static PciConfigSpace newConfig() {
        PciConfigSpace c = new PciConfigSpace(CONFIG_SIZE)
                .identity(VENDOR_ID, DEVICE_ID, REVISION, CLASS_CODE)
                .subsystem(0x1af4, 0x1100)
                .interruptPin(1)
                .bar(0, BAR0_SIZE, PciConfigSpace.BarType.MEMORY32, false)
                .bar(1, BAR1_SIZE, PciConfigSpace.BarType.MEMORY32, false)
                .bar(2, BAR2_SIZE, PciConfigSpace.BarType.MEMORY64, true);
        c.addMsi(true, false, 0);
        c.addMsix(MSIX_VECTORS, 1, MSIX_TABLE_OFFSET, 1, MSIX_PBA_OFFSET);
        return c;
    }

    // ---- EmulatedDevice ----

    @Override
    public int flags() {
        return VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    }

    @Override
    public List<Region> regions() {
        return regions;
    }

    @Override
    public List<VfioIrq> irqs() {
        return irqs;
    }

    /**
     * One doorbell: a write of 0 to MSIX_FIRE (BAR0 0x68), "fire MSI-X vector 0", a kick with no
     * reply to emulate. Offered as an ioeventfd with datamatch 0, so a guest's write of 0 there
     * signals the server through KVM; other vectors' writes stay trapped.
     */
    @Override
    public List<Doorbell> doorbells() {
        return List.of(new Doorbell(0, MSIX_FIRE, 4, true, 0));
    }

    @Override
    public void read(int region, long offset, ByteBuf dst, int count) {
        switch (region) {
            case 0 -> readBar0(offset, dst, count);
            case 1 -> {
                for (int i = 0; i < count; i++) {
                    dst.writeByte(msix.readByte(offset + i));
                }
            }
            case 2 -> dst.writeBytes(bar2View.slice((int) offset, count));
            case VFIO_PCI_CONFIG_REGION_INDEX -> {
                synchronized (this) {
                    for (int i = 0; i < count; i++) {
                        dst.writeByte((int) config.read((int) offset + i, 1));
                    }
                }
            }
            default -> throw new VfioUserException(io.jvfio.vmm.linux.Errno.EINVAL, "edu has no region " + region);
        }
    }

    @Override
    public void write(int region, long offset, ByteBuf src, int count) {
        switch (region) {
            case 0 -> writeBar0(offset, src, count);
            case 1 -> {
                for (int i = 0; i < count; i++) {
                    msix.writeByte(offset + i, src.getUnsignedByte(src.readerIndex() + i));
                }
            }
            case 2 -> src.getBytes(src.readerIndex(), bar2View.slice((int) offset, count));
            case VFIO_PCI_CONFIG_REGION_INDEX -> {
                int released;
                synchronized (this) {
                    for (int i = 0; i < count; i++) {
                        config.write((int) offset + i, 1, src.getUnsignedByte(src.readerIndex() + i));
                    }
                    released = functionMasked() ? 0 : functionMaskedPending;
                    functionMaskedPending &= ~released;
                }
                for (int v = 0; released != 0; v++, released >>>= 1) {
                    if ((released & 1) != 0) {
                        fireMsix(v); // the Function Mask cleared: pending messages go out (PCI Local Bus 3.0, 6.8.2.4)
                    }
                }
            }
            default -> throw new VfioUserException(io.jvfio.vmm.linux.Errno.EINVAL, "edu has no region " + region);
        }
    }

    /**
     * The MSI-X Function Mask of the device's own config space. The client writes the MSI-X control
     * register through to the device (QEMU 11's vfio-user-pci does, as for kernel VFIO), while it keeps
     * the vector table to itself and never sends a MASK for a vector. With the Function Mask set the
     * function must not send and must set pending bits instead (PCI Local Bus 3.0, 6.8.2.3), and QEMU
     * reads the PBA from the server: so the device holds the message itself and shows it in its PBA.
     */
    private boolean functionMasked() {
        return (config.read(MSIX_CAP + PciRegs.PCI_MSIX_FLAGS, 2) & PciRegs.PCI_MSIX_FLAGS_MASKALL) != 0;
    }

    /** QEMU's rule: 4-byte accesses below 0x80, 4 or 8 from there; anything else reads all-ones. */
    private static boolean validRegisterAccess(long offset, int size) {
        return offset < 0x80 ? size == 4 : size == 4 || size == 8;
    }

    /** The DMA registers hold any u64: an address near 2^63 plus the count must not wrap into the buffer. */
    private static boolean inDmaBuffer(long offset, int count) {
        return UnsignedRange.within(DMA_BUFFER, DMA_BUFFER_SIZE, offset, count);
    }

    private void readBar0(long offset, ByteBuf dst, int count) {
        synchronized (this) {
            if (inDmaBuffer(offset, count)) {
                dst.writeBytes(dmaBuffer, (int) (offset - DMA_BUFFER), count);
                return;
            }
            if (!validRegisterAccess(offset, count)) {
                dst.writeBytes(ALL_ONES, 0, Math.min(count, ALL_ONES.length));
                for (int i = ALL_ONES.length; i < count; i++) {
                    dst.writeByte(0xFF);
                }
                return;
            }
            long v = register(offset);
            if (count == 4) {
                dst.writeIntLE((int) v);
            } else {
                dst.writeLongLE(v);
            }
        }
    }

    private static final byte[] ALL_ONES = {-1, -1, -1, -1, -1, -1, -1, -1};

    private long register(long offset) {
        return switch ((int) offset) {
            case ID -> ID_VALUE & 0xFFFFFFFFL;
            case LIVENESS -> ~liveness & 0xFFFFFFFFL;
            case FACTORIAL -> factorial & 0xFFFFFFFFL;
            case STATUS -> status & 0xFFFFFFFFL;
            case IRQ_STATUS -> irqStatus & 0xFFFFFFFFL;
            case DMA_SRC -> dmaSrc;
            case DMA_DST -> dmaDst;
            case DMA_COUNT -> dmaCount;
            case DMA_CMD -> dmaCmd;
            default -> -1L;
        };
    }

    private void writeBar0(long offset, ByteBuf src, int count) {
        if (inDmaBuffer(offset, count)) {
            synchronized (this) {
                src.getBytes(src.readerIndex(), dmaBuffer, (int) (offset - DMA_BUFFER), count);
            }
            return;
        }
        if (!validRegisterAccess(offset, count)) {
            return; // QEMU ignores it too
        }
        long v = count == 4 ? src.getUnsignedIntLE(src.readerIndex()) : src.getLongLE(src.readerIndex());
        int value = (int) v;
        switch ((int) offset) {
            case LIVENESS -> {
                synchronized (this) {
                    liveness = value;
                }
            }
            case FACTORIAL -> startFactorial(value);
            case STATUS -> {
                synchronized (this) {
                    status = (value & STATUS_IRQ_FACTORIAL) | (status & STATUS_COMPUTING);
                }
            }
            case IRQ_RAISE -> raiseIrq(value);
            case IRQ_ACK -> lowerIrq(value);
            case MSIX_FIRE -> fireMsix(value);
            case DMA_SRC, DMA_DST, DMA_COUNT -> {
                synchronized (this) {
                    if ((dmaCmd & DMA_CMD_RUN) == 0) { // ignored while a transfer runs
                        switch ((int) offset) {
                            case DMA_SRC -> dmaSrc = v;
                            case DMA_DST -> dmaDst = v;
                            default -> dmaCount = v;
                        }
                    }
                }
            }
            case DMA_CMD -> startDma(v);
            default -> {
                // read-only or unassigned
            }
        }
    }

    // ---- factorial ----

    private void startFactorial(int value) {
        int gen;
        synchronized (this) {
            if ((status & STATUS_COMPUTING) != 0) {
                return; // busy: the write is ignored, as QEMU's is
            }
            factorial = value;
            status |= STATUS_COMPUTING;
            if (stopped) {
                return; // kept busy: it runs when the device does (start)
            }
            gen = generation;
        }
        computeFactorial(value, gen);
    }

    private void computeFactorial(int value, int gen) {
        work(() -> {
            int result = factorial(value, gen);
            boolean irq;
            synchronized (this) {
                if (gen != generation) {
                    return;
                }
                factorial = result;
                status &= ~STATUS_COMPUTING;
                irq = (status & STATUS_IRQ_FACTORIAL) != 0;
            }
            if (irq) {
                raiseIrq(IRQ_FACTORIAL_DONE);
            }
        });
    }

    /**
     * n! in 32 bits, wrapping, as the C device computes it, or whatever it got to if a reset (a new
     * generation) came meanwhile, so a reset stops even a factorial of 0xffffffff. Once the product
     * is 0 (32 factors of 2 in it, from n >= 34 on) it stays 0, so the loop ends there.
     */
    private int factorial(int n, int gen) {
        int result = 1;
        for (long i = Integer.toUnsignedLong(n); i > 0 && result != 0 && gen == generation; i--) {
            result *= (int) i;
        }
        return result;
    }

    /**
     * Runs device work on the worker. Nothing the work throws may end it or reach the executor, which
     * would log it as an uncaught exception and drop it: a client's interrupts and DMA fail by the
     * client's doing, and the device goes on for the next client.
     */
    private void work(Runnable task) {
        try {
            worker.execute(() -> {
                try {
                    task.run();
                } catch (RuntimeException e) {
                    LOG.warn("edu: device work failed: {}", e.toString());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            LOG.debug("edu: closed, work dropped");
        }
    }

    // ---- DMA ----

    private void startDma(long command) {
        long src;
        long dst;
        long count;
        int gen;
        synchronized (this) {
            if ((command & DMA_CMD_RUN) == 0 || (dmaCmd & DMA_CMD_RUN) != 0) {
                return; // not a start, or one is running
            }
            dmaCmd = command;
            src = dmaSrc;
            dst = dmaDst;
            count = dmaCount;
            gen = generation;
            if (stopped) {
                return; // kept running: it goes when the device does (start)
            }
        }
        work(() -> runDma(command, src, dst, count, gen));
    }

    private void runDma(long command, long src, long dst, long count, int gen) {
        if (gen != generation) {
            return; // queued behind work a reset stopped: the reset cancelled it
        }
        try {
            transfer((command & DMA_CMD_TO_RAM) != 0, src, dst, count, gen);
        } catch (VfioUserException e) {
            LOG.warn("edu: DMA failed: {}", e.getMessage());
        }
        boolean irq;
        synchronized (this) {
            if (gen != generation) {
                return; // reset meanwhile
            }
            dmaCmd &= ~DMA_CMD_RUN;
            irq = (command & DMA_CMD_IRQ) != 0;
        }
        if (irq) {
            raiseIrq(IRQ_DMA_DONE);
        }
    }

    /** One transfer between guest RAM (through the client's DMA windows) and the device's buffer. */
    private void transfer(boolean toRam, long src, long dst, long count, int gen) {
        long bufferAddress = toRam ? src : dst;
        long ramAddress = toRam ? dst : src;
        if (!UnsignedRange.within(DMA_BUFFER, DMA_BUFFER_SIZE, bufferAddress, count)) {
            LOG.warn("edu: DMA of {} bytes at device address 0x{} is outside the buffer [0x40000-0x40fff]: not done",
                    count, Long.toHexString(bufferAddress));
            return;
        }
        long masked = ramAddress & dmaMask;
        if (masked != ramAddress) {
            LOG.warn("edu: DMA address 0x{} clamped to 0x{} by the DMA mask 0x{}", Long.toHexString(ramAddress),
                    Long.toHexString(masked), Long.toHexString(dmaMask));
        }
        Context c = context;
        boolean master;
        synchronized (this) {
            master = (config.command() & PciRegs.PCI_COMMAND_MASTER) != 0;
        }
        if (c == null || !master) {
            LOG.warn("edu: DMA with {}: not done", c == null ? "no client connected" : "bus mastering disabled");
            return;
        }
        if (gen != generation) {
            return; // reset meanwhile: the transfer is cancelled
        }
        int at = (int) (bufferAddress - DMA_BUFFER);
        int n = (int) count;
        byte[] data = new byte[n];
        if (toRam) {
            synchronized (this) {
                System.arraycopy(dmaBuffer, at, data, 0, n);
            }
            c.dmaWrite(masked, data, 0, n);
        } else {
            c.dmaRead(masked, data, 0, n);
            synchronized (this) {
                if (gen == generation) {
                    System.arraycopy(data, 0, dmaBuffer, at, n);
                }
            }
        }
    }

    // ---- interrupts ----

    private void raiseIrq(int value) {
        boolean assert_;
        synchronized (this) {
            irqStatus |= value;
            assert_ = irqStatus != 0;
        }
        Context c = context;
        if (!assert_ || c == null) {
            return;
        }
        if (c.enabled(VFIO_PCI_MSIX_IRQ_INDEX)) {
            fireMsix(0);
        } else if (c.enabled(VFIO_PCI_MSI_IRQ_INDEX)) {
            synchronized (this) {
                if (stopped) {
                    msiHeld = true;
                    return;
                }
            }
            c.raise(VFIO_PCI_MSI_IRQ_INDEX, 0);
        } else if (!intxDisabled() && !isStopped()) { // INTx is a level: start() asserts it again
            c.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    private void lowerIrq(int value) {
        boolean low;
        synchronized (this) {
            irqStatus &= ~value;
            low = irqStatus == 0;
        }
        Context c = context;
        if (low && c != null) {
            c.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    private synchronized boolean intxDisabled() {
        return (config.command() & PciRegs.PCI_COMMAND_INTX_DISABLE) != 0;
    }

    private void fireMsix(int vector) {
        Context c = context;
        if (c == null || vector < 0 || vector >= MSIX_VECTORS) {
            return;
        }
        synchronized (this) {
            if (functionMasked() || stopped) { // a stopped device holds it as the Function Mask does
                functionMaskedPending |= 1 << vector;
                return;
            }
        }
        c.raise(VFIO_PCI_MSIX_IRQ_INDEX, vector);
    }

    // ---- lifetime ----

    /** A function-level reset: registers, DMA buffer, MSI-X table and config space to their power-on values. */
    @Override
    public void reset() {
        synchronized (this) {
            generation++;
            liveness = 0;
            factorial = 0;
            status = 0;
            irqStatus = 0;
            dmaSrc = 0;
            dmaDst = 0;
            dmaCount = 0;
            dmaCmd = 0;
            functionMaskedPending = 0;
            stopped = false;
            msiHeld = false;
            bar2Sent = null;
            java.util.Arrays.fill(dmaBuffer, (byte) 0);
            config = newConfig();
        }
        msix.reset();
        Context c = context;
        if (c != null) {
            c.lower(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    // ---- migration ----

    /** The state format's version: bump it whenever the layout of a section below changes. */
    private static final DeviceStateHeader STATE = new DeviceStateHeader("edu", 1);
    /** How long stop() waits for work already running (a DMA through messages waits on its replies). */
    private static final long STOP_TIMEOUT_SECONDS = 10;

    @Override
    public int migrationFlags() {
        return VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY;
    }

    @Override
    public DeviceStateHeader stateHeader() {
        return STATE;
    }

    private synchronized boolean isStopped() {
        return stopped;
    }

    /**
     * Stops: work queued or running is cancelled (a new generation, as a reset does) and waited for,
     * while its registers stay as they are (COMPUTING set, DMA_CMD_RUN set), so it runs again in full
     * where the device next runs; interrupts are held. A DMA cancelled half way is done again whole,
     * which is safe: source and destination are as they were, the guest being stopped too.
     */
    @Override
    public void stop() {
        synchronized (this) {
            stopped = true;
            generation++;
        }
        try {
            worker.submit(() -> { }).get(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return; // closed: nothing runs
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new VfioException("edu: its running work did not stop within " + STOP_TIMEOUT_SECONDS + " s (a DMA "
                    + "through DMA_READ/DMA_WRITE messages whose client stopped answering?): " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VfioException("edu: interrupted while waiting for its work to stop");
        }
    }

    /** Runs again: a kept factorial or DMA starts over, held interrupts go out, INTx is asserted again if due. */
    @Override
    public void start() {
        int gen;
        boolean computing;
        boolean dma;
        long cmd;
        long src;
        long dst;
        long count;
        int release;
        boolean msi;
        boolean level;
        synchronized (this) {
            if (!stopped) {
                return;
            }
            stopped = false;
            gen = generation;
            computing = (status & STATUS_COMPUTING) != 0;
            dma = (dmaCmd & DMA_CMD_RUN) != 0;
            cmd = dmaCmd;
            src = dmaSrc;
            dst = dmaDst;
            count = dmaCount;
            release = functionMasked() ? 0 : functionMaskedPending;
            functionMaskedPending &= ~release;
            msi = msiHeld;
            msiHeld = false;
            level = irqStatus != 0;
        }
        if (computing) {
            computeFactorial(factorialInput(), gen);
        }
        if (dma) {
            work(() -> runDma(cmd, src, dst, count, gen));
        }
        for (int v = 0; release != 0; v++, release >>>= 1) {
            if ((release & 1) != 0) {
                fireMsix(v);
            }
        }
        Context c = context;
        if (c != null && msi) {
            c.raise(VFIO_PCI_MSI_IRQ_INDEX, 0);
        }
        if (c != null && level && !c.enabled(VFIO_PCI_MSIX_IRQ_INDEX) && !c.enabled(VFIO_PCI_MSI_IRQ_INDEX)
                && !intxDisabled()) {
            c.raise(VFIO_PCI_INTX_IRQ_INDEX, 0);
        }
    }

    /** While COMPUTING, the factorial register holds the value written, as QEMU's does. */
    private synchronized int factorialInput() {
        return factorial;
    }

    /** BAR2's memory, the bulk of the state, taken while the device runs. */
    @Override
    public void savePrecopy(ByteBuf out) {
        byte[] copy = new byte[BAR2_SIZE];
        bar2View.duplicate().get(0, copy);
        synchronized (this) {
            bar2Sent = copy;
        }
        out.writeBytes(copy);
    }

    /**
     * The registers (the pending factorial's input and busy bit, the DMA registers with a transfer
     * still to run), the DMA buffer, config space, the MSI-X table, the interrupts held while stopped
     * or masked by the Function Mask (the PBA's device-held bits), and BAR2 again if it changed after
     * {@link #savePrecopy} (the client writes it through its mmap, which nothing here can track).
     */
    @Override
    public void saveStopCopy(ByteBuf out) {
        byte[] bar2Now = new byte[BAR2_SIZE];
        bar2View.duplicate().get(0, bar2Now);
        synchronized (this) {
            out.writeIntLE(liveness);
            out.writeIntLE(factorial);
            out.writeIntLE(status);
            out.writeIntLE(irqStatus);
            out.writeLongLE(dmaSrc);
            out.writeLongLE(dmaDst);
            out.writeLongLE(dmaCount);
            out.writeLongLE(dmaCmd);
            out.writeIntLE(functionMaskedPending);
            out.writeByte(msiHeld ? 1 : 0);
            out.writeBytes(dmaBuffer);
            for (int i = 0; i < CONFIG_SIZE; i++) {
                out.writeByte((int) config.raw(i, 1));
            }
            boolean changed = bar2Sent == null || !java.util.Arrays.equals(bar2Sent, bar2Now);
            bar2Sent = null;
            out.writeByte(changed ? 1 : 0);
            if (changed) {
                out.writeBytes(bar2Now);
            }
        }
        msix.save(out);
    }

    @Override
    public void loadPrecopy(ByteBuf in) {
        if (in.readableBytes() < BAR2_SIZE) {
            throw new VfioException("edu: the stream's initial section has " + in.readableBytes() + " bytes, and edu's "
                    + "BAR2 alone is " + BAR2_SIZE + ": the stream is not edu's, or is cut short");
        }
        in.readBytes(bar2View.duplicate().clear());
    }

    @Override
    public void loadStopCopy(ByteBuf in) {
        synchronized (this) {
            liveness = in.readIntLE();
            factorial = in.readIntLE();
            status = in.readIntLE();
            irqStatus = in.readIntLE();
            dmaSrc = in.readLongLE();
            dmaDst = in.readLongLE();
            dmaCount = in.readLongLE();
            dmaCmd = in.readLongLE();
            functionMaskedPending = in.readIntLE();
            msiHeld = in.readUnsignedByte() != 0;
            in.readBytes(dmaBuffer);
            for (int i = 0; i < CONFIG_SIZE; i++) {
                config.set(i, 1, in.readUnsignedByte());
            }
            if (in.readUnsignedByte() != 0) {
                in.readBytes(bar2View.duplicate().clear());
            }
            stopped = true; // loaded into a stopped device: start() runs what it kept
        }
        msix.load(in);
    }

    @Override
    public void attach(Context context) {
        this.context = context;
    }

    @Override
    public void detach() {
        this.context = null;
    }

    /** BAR2 is plain memory: the server moves large accesses to it straight to and from the socket. */
    @Override
    public ByteBuffer memory(int region) {
        return region == 2 ? bar2View.duplicate() : null;
    }

    /** BAR2's memory, as the device sees it (the client sees the same pages through its mmap). */
    public ByteBuffer bar2() {
        return bar2View.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void close() {
        worker.shutdownNow();
        try {
            worker.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        bar2.close();
    }

    @Override
    public String toString() {
        return "edu (1234:11e8, MSI-X 8 vectors, 1 MiB BAR2 on a memfd)";
    }
}
