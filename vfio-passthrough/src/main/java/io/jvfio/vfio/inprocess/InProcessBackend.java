package io.jvfio.vfio.inprocess;

import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioDeviceLayout;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.emulated.MigratableDevice;
import io.jvfio.vfio.emulated.host.DeviceContext;
import io.jvfio.vfio.emulated.host.DeviceDma;
import io.jvfio.vfio.emulated.host.DmaDirtyLog;
import io.jvfio.vfio.migration.DeviceMigration;
import io.jvfio.vfio.migration.MigratableBackend;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TRIGGER;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_UNMASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_NONE;

/**
 * A device written in Java ({@link EmulatedDevice}) behind the {@link VfioBackend} interface in the
 * VMM's own process, with no socket: region accesses are calls into the device, its interrupts signal
 * the model's eventfds, and its DMA reaches guest RAM through the same checked windows a vfio-user
 * server keeps (the memfds mapped again, at their IOVAs). The device model cannot tell it from a
 * device in another process; what is left of an access is the model's own work, which is what the
 * MMIO benchmarks measure this way.
 *
 * <p>Region accesses are serialized, as a vfio-user server's one event loop serializes them, and a
 * register access allocates nothing.
 *
 * <p>It migrates as a served device does: {@link #migration} steps a {@link MigratableDevice} through
 * VFIO migration v2 by its save and load hooks, and {@link #dmaDirtyLog} reports the guest pages its DMA
 * wrote; a device without the hooks does not migrate, and {@link #migration} says so.
 */
public final class InProcessBackend implements VfioBackend, MigratableBackend, DmaMappingListener {

    private final String name;
    private final EmulatedDevice device;
    private final GuestMemory memory;
    private final VfioDeviceLayout layout;
    private final List<EmulatedDevice.Region> deviceRegions;
    private final DeviceContext context;
    /** One register access's bytes, little-endian: the device reads and writes them as a ByteBuf, we as a ByteBuffer. */
    private final ByteBuffer registerBytes = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuf register = Unpooled.wrappedBuffer(registerBytes);
    private long regionAccesses;
    private boolean closed;
    /** Made the first time it is asked for; null before, and for a device that does not migrate. */
    private InProcessMigration migration;

    private InProcessBackend(String name, EmulatedDevice device, GuestMemory memory) {
        this.name = name;
        this.device = device;
        this.memory = memory;
        this.deviceRegions = List.copyOf(device.regions());
        List<VfioRegion> regions = new ArrayList<>();
        for (int i = 0; i < deviceRegions.size(); i++) {
            EmulatedDevice.Region r = deviceRegions.get(i);
            regions.add(new VfioRegion(i, r.flags(), r.size(), r.mmapOffset(), r.capabilities()));
        }
        this.layout = new VfioDeviceLayout(name, regions, device.irqs());
        // Every window of guest RAM comes with its memfd; memory without one has no client to ask.
        this.context = new DeviceContext(name, device.irqs(), false, new DeviceDma.Messages() {
            @Override
            public void read(long address, byte[] dst, int offset, int length) {
                throw unreachable(address);
            }

            @Override
            public void write(long address, byte[] src, int offset, int length) {
                throw unreachable(address);
            }
        }, DeviceDma.UNBOUNDED); // the VMM's own guest RAM, whose size the VMM chose
    }

    /**
     * Attaches {@code device} to this VMM in-process; with {@code memory}, the device may DMA to guest
     * RAM (every region, as it is added and removed).
     */
    public static InProcessBackend attach(String name, EmulatedDevice device, GuestMemory memory) {
        InProcessBackend b = new InProcessBackend(name, device, memory);
        device.attach(b.context);
        if (memory != null) {
            try {
                memory.addListener(b);
            } catch (RuntimeException e) {
                b.close();
                throw e;
            }
        }
        return b;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean supportsReset() {
        return (device.flags() & VFIO_DEVICE_FLAGS_RESET) != 0;
    }

    @Override
    public VfioDeviceLayout layout() {
        return layout;
    }

    // ---- regions ----

    @Override
    public synchronized long read(int region, long offset, int size) {
        AccessSize.check(size);
        layout.accessible(region, offset, size, false);
        regionAccesses++;
        register.clear();
        device.read(region, offset, register, size);
        return AccessSize.get(registerBytes, 0, size);
    }

    @Override
    public synchronized void write(int region, long offset, int size, long value) {
        AccessSize.check(size);
        layout.accessible(region, offset, size, true);
        regionAccesses++;
        AccessSize.put(registerBytes, 0, size, value);
        register.setIndex(0, size);
        device.write(region, offset, register, size);
    }

    @Override
    public synchronized long read(int region, long offset, long address, long length) {
        layout.accessible(region, offset, length, false);
        regionAccesses++;
        ByteBuf dst = Unpooled.wrappedBuffer(new com.sun.jna.Pointer(address).getByteBuffer(0, length));
        dst.clear();
        device.read(region, offset, dst, (int) length);
        return length;
    }

    @Override
    public synchronized long write(int region, long offset, long address, long length) {
        layout.accessible(region, offset, length, true);
        regionAccesses++;
        ByteBuf src = Unpooled.wrappedBuffer(new com.sun.jna.Pointer(address).getByteBuffer(0, length));
        device.write(region, offset, src, (int) length);
        return length;
    }

    /** Region reads and writes the device was asked for: what a mapped area saves. */
    public synchronized long regionAccesses() {
        return regionAccesses;
    }

    @Override
    public MemoryMapping mmap(int region, RegionCapability.Area area) {
        VfioRegion r = layout.mmapable(region, area);
        OwnedFd fd = deviceRegions.get(region).mmapFd();
        if (fd == null) {
            throw new VfioException(r.name() + " of " + name + " says it is mmap-able but the device gave no fd");
        }
        int prot = (r.readable() ? PROT_READ : 0) | (r.writable() ? PROT_WRITE : 0);
        return MemoryMapping.map(fd, r.offset() + area.offset(), area.size(), prot, MAP_SHARED);
    }

    // ---- interrupts: the device's side is DeviceIrqs, as in a server; the eventfds are duplicates ----

    @Override
    public void setIrqTriggers(int index, int start, EventFd[] eventfds) {
        layout.enableable(index, start, eventfds.length);
        for (int i = 0; i < eventfds.length; i++) {
            OwnedFd[] fds = eventfds[i] == null ? new OwnedFd[0]
                    : new OwnedFd[] {Syscalls.dup(eventfds[i].fd())};
            setIrqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, start + i, fds);
        }
    }

    @Override
    public void disableIrq(int index) {
        irq(index);
        try {
            context.irqs.apply(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, null, new OwnedFd[0]);
        } catch (VfioUserException e) {
            throw new VfioException(name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void maskIrq(int index, int vector) {
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, index, vector, new OwnedFd[0]);
    }

    @Override
    public void unmaskIrq(int index, int vector) {
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, index, vector, new OwnedFd[0]);
    }

    @Override
    public void setUnmaskEventFd(int index, EventFd unmask) {
        setIrqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK, index, 0,
                new OwnedFd[] {Syscalls.dup(unmask.fd())});
    }

    private void setIrqs(int flags, int index, int vector, OwnedFd[] fds) {
        try {
            context.irqs.apply(flags, index, vector, 1, null, fds);
        } catch (VfioUserException e) {
            for (OwnedFd f : fds) {
                f.close();
            }
            throw new VfioException(name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void reset() {
        if (!supportsReset()) {
            throw new VfioException.ResetNotSupported(name + " does not support reset: its flags lack "
                    + "VFIO_DEVICE_FLAGS_RESET");
        }
        device.reset();
    }

    private static VfioUserException unreachable(long address) {
        return new VfioUserException(Errno.EFAULT, "DMA at 0x" + Long.toHexString(address) + ": that guest memory "
                + "has no fd to map, and an in-process device has no client to ask");
    }

    // ---- migration ----

    /**
     * The device's VFIO migration v2 (its {@link MigratableDevice} hooks, as a vfio-user server drives
     * them), made the first time it is asked for.
     *
     * @throws VfioException.MigrationNotSupported if the device is no {@link MigratableDevice}: it has no
     *                                             state to save and load, and a VM with it cannot migrate
     */
    @Override
    public synchronized DeviceMigration migration() {
        if (migration == null) {
            if (!(device instanceof MigratableDevice m)) {
                throw new VfioException.MigrationNotSupported(name + " does not migrate: its Java device ("
                        + device.getClass().getName() + ") does not implement MigratableDevice, so it has no state to "
                        + "save and load; a VM with it cannot migrate", null);
            }
            migration = new InProcessMigration(name, m, device, this);
        }
        return migration;
    }

    /** The DMA page size the dirty log counts in: the host's page. */
    static final long DIRTY_PAGE_SIZE = 4096;

    /**
     * The guest pages the device's DMA writes, for RAM pre-copy: every write through its DMA windows
     * counted by {@link DeviceContext} while the log runs (as a served device's VFIO_DEVICE_FEATURE_DMA_LOGGING
     * counts them), in pages of {@value #DIRTY_PAGE_SIZE} bytes. Its window addresses are guest-physical.
     */
    @Override
    public DirtyLog dmaDirtyLog() {
        return new DirtyLog() {
            private volatile DmaDirtyLog log;

            @Override
            public void start() {
                DmaDirtyLog l = new DmaDirtyLog(DIRTY_PAGE_SIZE, List.of());
                log = l;
                context.logDmaWrites(l);
            }

            @Override
            public void collect(DirtyPages into) {
                DmaDirtyLog l = log;
                if (l != null) {
                    l.drain(into);
                }
            }

            @Override
            public void stop() {
                if (log != null) {
                    context.logDmaWrites(null);
                    log = null;
                }
            }
        };
    }

    // ---- DmaMappingListener: guest RAM, as it comes and goes ----

    @Override
    public void map(DmaMapping m) {
        try {
            context.dma.map(m.iova(), m.size(), m.readable(), m.writable(), m.fdOffset(),
                    m.fd() == null ? null : Syscalls.dup(m.fd()));
        } catch (VfioUserException e) {
            throw new VfioException(name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void unmap(DmaMapping m) {
        context.dma.unmap(m.iova(), m.size());
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (migration != null) {
            migration.end();
        }
        if (memory != null) {
            memory.removeListener(this);
        }
        device.detach();
        context.clear();
        register.release();
    }

    @Override
    public String toString() {
        return name + " (in-process)";
    }
}
