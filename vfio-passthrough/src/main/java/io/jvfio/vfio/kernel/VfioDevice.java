package io.jvfio.vfio.kernel;

import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioDeviceLayout;
import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vfio.migration.MigratableBackend;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.vfio.VfioDeviceInfo;
import io.jvfio.vmm.linux.vfio.VfioDeviceIoeventfd;
import io.jvfio.vmm.linux.vfio.VfioIrqInfo;
import io.jvfio.vmm.linux.vfio.VfioIrqSet;
import io.jvfio.vmm.linux.vfio.VfioPciHotReset;
import io.jvfio.vmm.linux.vfio.VfioPciHotResetInfo;
import io.jvfio.vmm.linux.vfio.VfioRegionInfo;
import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.pci.PciAddress;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_PCI;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FLAGS_RESET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TRIGGER;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_UNMASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_NONE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_ERR_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_VGA_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_REGION_INFO_FLAG_CAPS;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_GET_INFO;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_IOEVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_GET_IRQ_INFO;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_GET_REGION_INFO;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_PCI_HOT_RESET;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_RESET;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_SET_IRQS;

/**
 * A VFIO device fd, opened through its group ({@link VfioGroup}) or through its cdev bound to an
 * iommufd ({@link VfioDeviceCdev}); everything after the open is the same on both. Its info, regions
 * (with their capability chains) and interrupt indexes are read once at open and answered from that cache afterwards, as rust-vmm's vfio-ioctls
 * does. Regions are read and written with pread/pwrite at their offset in the fd, or mmap'd.
 */
public final class VfioDevice implements VfioBackend, MigratableBackend {

    /** A device a bus reset of this one also resets, with its IOMMU group. */
    public record HotResetDevice(int group, PciAddress address) {
    }

    private final OwnedFd fd;
    private final VfioDeviceName name;
    private final VfioGroup group;
    private final VfioDeviceCdev cdev;
    private final int flags;
    private final VfioDeviceLayout layout;
    private final VfioIrqSet irqSet;
    private final VfioDeviceIoeventfd ioeventfd = new VfioDeviceIoeventfd();
    private VfioDeviceMigration migration;
    private VfioDmaLogging dmaLogging;

    private VfioDevice(OwnedFd fd, VfioDeviceName name, VfioGroup group, VfioDeviceCdev cdev, int flags,
            List<VfioRegion> regions, List<VfioIrq> irqs) {
        this.fd = fd;
        this.name = name;
        this.group = group;
        this.cdev = cdev;
        this.flags = flags;
        this.layout = new VfioDeviceLayout(name.toString(), regions, irqs);
        this.irqSet = new VfioIrqSet(irqs.stream().mapToInt(VfioIrq::count).max().orElse(1));
    }

    static VfioDevice open(OwnedFd fd, VfioDeviceName name, VfioGroup group) {
        return open(fd, name, group, null);
    }

    static VfioDevice open(OwnedFd fd, VfioDeviceName name, VfioDeviceCdev cdev) {
        return open(fd, name, null, cdev);
    }

    private static VfioDevice open(OwnedFd fd, VfioDeviceName name, VfioGroup group, VfioDeviceCdev cdev) {
        try {
            VfioDeviceInfo info = new VfioDeviceInfo(VfioDeviceInfo.SIZEOF);
            Ioctl.ioctl(fd, VFIO_DEVICE_GET_INFO, info);
            List<VfioRegion> regions = new ArrayList<>();
            VfioRegionInfo query = new VfioRegionInfo(256);
            for (int i = 0; i < info.numRegions(); i++) {
                if (!queryRegion(fd, query, i)) {
                    regions.add(new VfioRegion(i, 0, 0, 0, List.of()));
                    continue;
                }
                if (query.argsz() > query.capacity()) {
                    query = new VfioRegionInfo(query.argsz());
                    Ioctl.ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, query.query(i));
                }
                regions.add(new VfioRegion(i, query.flags(), query.size(), query.offset(), capabilities(query)));
            }
            List<VfioIrq> irqs = new ArrayList<>();
            VfioIrqInfo irq = new VfioIrqInfo();
            for (int i = 0; i < info.numIrqs(); i++) {
                try {
                    Ioctl.ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, irq.query(i));
                    irqs.add(new VfioIrq(i, irq.flags(), irq.count()));
                } catch (SyscallException e) {
                    // vfio-pci has no ERR index for a conventional PCI device and says EINVAL; a mediated
                    // device's driver says so for each index it lacks (mtty: all but INTx and MSI).
                    if (!e.is(Errno.EINVAL) || (i != VFIO_PCI_ERR_IRQ_INDEX && !name.isMdev())) {
                        throw e;
                    }
                    irqs.add(new VfioIrq(i, 0, 0));
                }
            }
            return new VfioDevice(fd, name, group, cdev, info.flags(), regions, irqs);
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * Fills {@code query} with region {@code index}; false for the VGA region of a device that has
     * none, which vfio-pci answers with EINVAL rather than with an empty region.
     */
    private static boolean queryRegion(OwnedFd fd, VfioRegionInfo query, int index) {
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, query.query(index));
            return true;
        } catch (SyscallException e) {
            if (index == VFIO_PCI_VGA_REGION_INDEX && e.is(Errno.EINVAL)) {
                return false;
            }
            throw e;
        }
    }

    private static List<RegionCapability> capabilities(VfioRegionInfo info) {
        if ((info.flags() & VFIO_REGION_INFO_FLAG_CAPS) == 0) {
            return List.of();
        }
        return RegionCapability.parseChain(info.memory(), info.capOffset());
    }

    /** The device's PCI address; a mediated device has none, and is refused with that reason. */
    public PciAddress address() {
        return name.requirePci("a PCI address");
    }

    /** The name VFIO knows the device by: a PCI address or a mediated device's UUID. */
    public VfioDeviceName deviceName() {
        return name;
    }

    @Override
    public String name() {
        return name.toString();
    }

    /** The group the device was opened through; null on the cdev path. */
    public VfioGroup group() {
        return group;
    }

    /** The cdev the device was opened through, bound to an iommufd; null on the group path. */
    public VfioDeviceCdev cdev() {
        return cdev;
    }

    /** VFIO_DEVICE_FLAGS_*. */
    public int flags() {
        return flags;
    }

    public boolean isPci() {
        return (flags & VFIO_DEVICE_FLAGS_PCI) != 0;
    }

    /** True if the driver offers VFIO_DEVICE_RESET (a function-level or equivalent reset). */
    @Override
    public boolean supportsReset() {
        return (flags & VFIO_DEVICE_FLAGS_RESET) != 0;
    }

    @Override
    public VfioDeviceLayout layout() {
        return layout;
    }

    /** Its container's: the host physical address of locked guest RAM in no-IOMMU mode, else IOVA = GPA. */
    @Override
    public DmaAddressing dmaAddressing() {
        return group != null && group.container() != null ? group.container().dmaAddressing()
                : DmaAddressing.GUEST_PHYSICAL;
    }

    // ---- region access ----

    /** Reads {@code length} bytes at {@code offset} of a region into native memory at {@code address}. */
    @Override
    public long read(int region, long offset, long address, long length) {
        VfioRegion r = layout.accessible(region, offset, length, false);
        return Syscalls.pread(fd, address, length, r.offset() + offset);
    }

    /** Writes {@code length} bytes from native memory at {@code address} to a region at {@code offset}. */
    @Override
    public long write(int region, long offset, long address, long length) {
        VfioRegion r = layout.accessible(region, offset, length, true);
        return Syscalls.pwrite(fd, address, length, r.offset() + offset);
    }

    /** A little-endian read of 1, 2, 4 or 8 bytes, as a guest's access to a trapped register is. */
    @Override
    public long read(int region, long offset, int size) {
        VfioRegion r = layout.accessible(region, offset, size, false);
        return Syscalls.preadValue(fd, size, r.offset() + offset); // no allocation: a vCPU's MMIO path
    }

    /** A little-endian write of 1, 2, 4 or 8 bytes. */
    @Override
    public void write(int region, long offset, int size, long value) {
        VfioRegion r = layout.accessible(region, offset, size, true);
        Syscalls.pwriteValue(fd, value, size, r.offset() + offset);
    }

    /** Maps one mmap-able area of a region (all of it, if the kernel gave no sparse areas). */
    @Override
    public MemoryMapping mmap(int region, RegionCapability.Area area) {
        VfioRegion r = layout.mmapable(region, area);
        int prot = (r.readable() ? PROT_READ : 0) | (r.writable() ? PROT_WRITE : 0);
        return MemoryMapping.map(fd, r.offset() + area.offset(), area.size(), prot, MAP_SHARED);
    }

    /**
     * VFIO_DEVICE_IOEVENTFD: on {@code eventfd}'s signal vfio-pci writes {@code size} bytes of
     * {@code data} at {@code offset} of BAR {@code region} itself (the ioctl's offset is the device
     * fd's: the region's offset, index &lt;&lt; 40 for vfio-pci, plus the register's). {@code eventfd}
     * null removes the one at that offset, width and data; false if there was none. vfio-pci takes BARs
     * only, outside the MSI-X table, and at most 1000 per device: its refusal is a {@link VfioException}
     * naming the errno, which a caller with a fallback (the trapped write) catches.
     */
    @Override
    public synchronized boolean setIoEventFd(int region, long offset, int size, long data, EventFd eventfd) {
        VfioRegion r = layout.accessible(region, offset, size, true);
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_IOEVENTFD, ioeventfd.set(r.offset() + offset, size, data,
                    eventfd == null ? -1 : eventfd.fd().get()));
            return true;
        } catch (SyscallException e) {
            if (eventfd == null && e.is(Errno.ENODEV)) {
                return false; // none was there
            }
            throw new VfioException(name + ": VFIO_DEVICE_IOEVENTFD for " + r.name() + " +0x" + Long.toHexString(offset)
                    + " (" + size + " bytes of 0x" + Long.toHexString(data) + ") failed: " + Errno.describe(e.errnoValue()),
                    e);
        }
    }

    // ---- interrupts ----

    /**
     * Signals {@code eventfds[i]} for vector {@code start + i} of interrupt index {@code index}: enables
     * the index (INTx, MSI with as many vectors, MSI-X) with those triggers if it is off, or sets just
     * those vectors if it is on. A null entry (fd -1) leaves that vector unassigned.
     */
    @Override
    public synchronized void setIrqTriggers(int index, int start, EventFd[] eventfds) {
        layout.enableable(index, start, eventfds.length);
        int[] fds = new int[eventfds.length];
        for (int i = 0; i < fds.length; i++) {
            fds[i] = eventfds[i] == null ? -1 : eventfds[i].fd().get();
        }
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.setEventFds(VFIO_IRQ_SET_DATA_EVENTFD
                | VFIO_IRQ_SET_ACTION_TRIGGER, index, start, fds, fds.length));
    }

    /** Disables interrupt index {@code index} as a whole. */
    @Override
    public synchronized void disableIrq(int index) {
        irq(index);
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                index, 0, 0));
    }

    /** Masks one vector in the device (INTx, or MSI-X where maskable). */
    @Override
    public synchronized void maskIrq(int index, int vector) {
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
                index, vector, 1));
    }

    @Override
    public synchronized void unmaskIrq(int index, int vector) {
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
                index, vector, 1));
    }

    /**
     * Registers the eventfd that unmasks an automasked interrupt (INTx) when signalled: after the
     * guest's EOI, the interrupt router signals it and the device may interrupt again.
     */
    @Override
    public synchronized void setUnmaskEventFd(int index, EventFd unmask) {
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.setEventFds(VFIO_IRQ_SET_DATA_EVENTFD
                | VFIO_IRQ_SET_ACTION_UNMASK, index, 0, new int[] {unmask.fd().get()}, 1));
    }

    /** Fires vector {@code vector} of {@code index} from the kernel side, as a loopback test of the eventfd path. */
    public synchronized void triggerIrq(int index, int vector) {
        Ioctl.ioctl(fd, VFIO_DEVICE_SET_IRQS, irqSet.set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                index, vector, 1));
    }

    // ---- reset ----

    /**
     * VFIO_DEVICE_RESET, for a device whose driver offers it. Otherwise a hot reset of its bus, proving
     * ownership with the groups of its own container (as QEMU's vfio-pci falls back to
     * VFIO_DEVICE_PCI_HOT_RESET), so that the device model need not know this back end; otherwise an
     * error that says why. On the cdev path the kernel checks ownership through the iommufd itself.
     */
    @Override
    public void reset() {
        if (supportsReset()) {
            Ioctl.ioctl(fd, VFIO_DEVICE_RESET, 0L);
        } else if (name.isMdev()) {
            throw new VfioException.ResetNotSupported(name.describe() + " does not support reset: its VFIO device flags "
                    + "lack VFIO_DEVICE_FLAGS_RESET, and a mediated device has no PCI bus to reset instead");
        } else if (cdev != null) {
            hotReset(List.of());
        } else if (group.container() != null) {
            hotReset(group.container().groups());
        } else {
            throw new VfioException.ResetNotSupported(name + " does not support reset: its VFIO device flags "
                    + "lack VFIO_DEVICE_FLAGS_RESET (the device has no function-level reset, power-management "
                    + "reset or bus reset the kernel can use alone), and its group is in no container, so a hot "
                    + "reset of its bus cannot prove ownership");
        }
    }

    /** Every device a hot (secondary bus) reset of this one would also reset, with its group. */
    public List<HotResetDevice> hotResetInfo() {
        PciAddress address = name.requirePci("a hot reset (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, a reset of a PCI bus)");
        VfioPciHotResetInfo info = new VfioPciHotResetInfo(8);
        while (true) {
            try {
                Ioctl.ioctl(fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info.query());
                break;
            } catch (SyscallException e) {
                if (e.is(Errno.ENOSPC) && info.count() > info.maxDevices()) {
                    info = new VfioPciHotResetInfo(info.count());
                } else if (e.is(Errno.ENODEV)) {
                    throw new VfioException(address + " cannot be hot reset: no bus reset reaches it alone", e);
                } else {
                    throw e;
                }
            }
        }
        List<HotResetDevice> devices = new ArrayList<>();
        for (int i = 0; i < info.count(); i++) {
            devices.add(new HotResetDevice(info.groupId(i), new PciAddress(info.segment(i), info.bus(i),
                    info.devfn(i) >>> 3, info.devfn(i) & 7)));
        }
        return devices;
    }

    /**
     * A secondary bus reset of this device's bus (VFIO_DEVICE_PCI_HOT_RESET), for a device without a
     * reset of its own. It resets every device on the bus, so the kernel wants proof that the caller
     * owns all their groups: {@code owned} must include each one, else the error names the group
     * that blocks it and what to do. A device opened through its cdev proves it with a zero-length
     * list instead, which the kernel requires there (vfio_pci_core.c): every affected device must be
     * bound to the same iommufd, and {@code owned} is not used.
     */
    public void hotReset(java.util.Collection<VfioGroup> owned) {
        PciAddress address = name.requirePci("a hot reset (VFIO_DEVICE_PCI_HOT_RESET, a reset of a PCI bus)");
        List<HotResetDevice> affected;
        try {
            affected = hotResetInfo();
        } catch (VfioException e) {
            throw new VfioException.ResetNotSupported("cannot reset " + address + ": it has no reset of its own (its "
                    + "VFIO device flags lack VFIO_DEVICE_FLAGS_RESET) and no bus reset reaches it alone (it sits on a "
                    + "root bus, or its bus cannot be reset); the VM cannot reset this device", e);
        }
        if (cdev != null) {
            try {
                Ioctl.ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, new VfioPciHotReset(0).set(new int[0], 0));
            } catch (SyscallException e) {
                if (!e.is(Errno.EPERM)) {
                    throw e;
                }
                throw new VfioException.ResetNotSupported("cannot reset " + address + ": it has no reset of its own, "
                        + "and a bus reset would also reset " + affected.stream().map(d -> d.address().toString())
                        .toList() + ", not all bound to " + cdev.ioas().iommufd() + "; pass those devices to this VM "
                        + "with the same iommufd=, or use a device with a function-level reset", e);
            }
            return;
        }
        java.util.Map<Integer, VfioGroup> byId = new java.util.HashMap<>();
        for (VfioGroup g : owned) {
            byId.put(g.id(), g);
        }
        java.util.LinkedHashSet<Integer> needed = new java.util.LinkedHashSet<>();
        for (HotResetDevice d : affected) {
            needed.add(d.group());
            if (!byId.containsKey(d.group())) {
                throw new VfioException.ResetNotSupported("cannot reset " + address + ": it has no reset of its own, "
                        + "and a bus reset would also reset " + d.address() + " in IOMMU group " + d.group() + ", which "
                        + "this VM does not own; pass that group's devices to this VM as well, or use a device with a "
                        + "function-level reset");
            }
        }
        int[] fds = needed.stream().mapToInt(id -> byId.get(id).fd().get()).toArray();
        Ioctl.ioctl(fd, VFIO_DEVICE_PCI_HOT_RESET, new VfioPciHotReset(fds.length).set(fds, fds.length));
    }

    /**
     * The device's migration (VFIO migration v2), probed the first time; a device whose driver does
     * not migrate is refused with {@link VfioException.MigrationNotSupported}, naming it and why.
     */
    @Override
    public synchronized VfioDeviceMigration migration() {
        if (migration == null) {
            migration = VfioDeviceMigration.probe(fd, name.describe());
        }
        return migration;
    }

    /**
     * The device's own DMA dirty logging, probed the first time; a device whose driver has none is
     * refused with a {@link VfioException} that names it and the kernel's answer.
     */
    public synchronized VfioDmaLogging dmaLogging() {
        if (dmaLogging == null) {
            dmaLogging = VfioDmaLogging.probe(fd, name.describe());
        }
        return dmaLogging;
    }

    /**
     * The device's DMA writes into guest RAM: logged by its own driver ({@link #dmaLogging}) where it
     * can, else by its Type1 container's dirty page tracking (every page it can reach counts as
     * written). Null on the iommufd path: jvfio implements neither iommufd's dirty tracking
     * (IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_GET_DIRTY_BITMAP) nor a record of the IOAS's mappings
     * to hand the driver's log, so the migration stream resends guest RAM while the machine is stopped.
     * Null in no-IOMMU mode too, which does not migrate at all (its DMA addresses are host physical).
     */
    @Override
    public DirtyLog dmaDirtyLog() {
        VfioContainer container = group != null ? group.container() : null;
        if (cdev != null || container == null || container.noIommu()) {
            return null;
        }
        try {
            return new DeviceDirtyLog(name.describe(), dmaLogging(), container::writableMappings);
        } catch (VfioException e) {
            return new ContainerDirtyLog(name.describe(), container); // its driver logs nothing (ENOTTY)
        }
    }

    public OwnedFd fd() {
        return fd;
    }

    @Override
    public void close() {
        try {
            if (cdev != null) {
                cdev.detach(fd);
            }
        } finally {
            fd.close();
        }
    }

    @Override
    public String toString() {
        return "VFIO device " + name.describe() + " (" + (cdev != null ? cdev : group) + ")";
    }
}
