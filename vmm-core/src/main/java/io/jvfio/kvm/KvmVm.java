package io.jvfio.kvm;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.DirectRegion;
import io.jvfio.vmm.bus.IoEventFd;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import io.jvfio.vmm.linux.kvm.KvmDirtyLog;
import io.jvfio.vmm.linux.kvm.KvmIoeventfd;
import io.jvfio.vmm.linux.kvm.KvmIrqRouting;
import io.jvfio.vmm.linux.kvm.KvmIrqfd;
import io.jvfio.vmm.linux.kvm.KvmMsi;
import io.jvfio.vmm.linux.kvm.KvmUserspaceMemoryRegion;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_CHECK_EXTENSION;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_CREATE_IRQCHIP;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_CREATE_VM;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_DIRTY_LOG;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_IOEVENTFD;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_IRQFD;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_GSI_ROUTING;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_TSS_ADDR;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_USER_MEMORY_REGION;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SIGNAL_MSI;

/**
 * A KVM virtual machine: its memory slots (guest RAM, and BAR areas mapped straight into the
 * guest's address space, followed as the guest moves them), the in-kernel interrupt controller,
 * MSI delivery ({@code KVM_SIGNAL_MSI}) and the irqfd bypass (an eventfd bound to a GSI route, so
 * a device's interrupt reaches the guest without passing through user space), and the doorbells
 * ({@code KVM_IOEVENTFD}: a guest write signals an eventfd without an exit to user space).
 */
public final class KvmVm implements AddressSpace.Listener, AutoCloseable {

    /** Where the kernel may put the TSS it needs on Intel for real mode: below 4 GiB, out of RAM's way. */
    public static final long TSS_ADDRESS = 0xfffb_d000L;
    /** The first GSI free for MSI routes: 0-23 are the IOAPIC's pins. */
    public static final int FIRST_MSI_GSI = 24;

    private final Kvm kvm;
    private final OwnedFd fd;
    private final int maxSlots;
    private final BitSet slotsInUse = new BitSet();
    private final Map<DirectRegion, Integer> directSlots = new HashMap<>();
    private final KvmUserspaceMemoryRegion region = new KvmUserspaceMemoryRegion();
    /** Each slot in use: {gpa, size, host address, flags}, to register it again with other flags. */
    private final Map<Integer, long[]> slotRegions = new HashMap<>();
    private final KvmDirtyLog dirtyLog = new KvmDirtyLog();
    /** The IOAPIC's pins. */
    public static final int IOAPIC_PINS = 24;

    /** The MSI routes by GSI: KVM_SET_GSI_ROUTING replaces the whole table, so it is kept here. */
    private final TreeMap<Integer, long[]> msiRoutes = new TreeMap<>();
    /** The irqchip routes by GSI: {irqchip, pin}. */
    private final TreeMap<Integer, int[]> irqchipRoutes = new TreeMap<>();
    private final KvmIrqfd irqfd = new KvmIrqfd();
    private final KvmIoeventfd ioeventfd = new KvmIoeventfd();
    private final ThreadLocal<KvmMsi> msi = ThreadLocal.withInitial(KvmMsi::new);
    private boolean irqchip;

    private KvmVm(Kvm kvm, OwnedFd fd) {
        this.kvm = kvm;
        this.fd = fd;
        this.maxSlots = kvm.checkExtension(KvmConstants.KVM_CAP_NR_MEMSLOTS);
    }

    /** Creates a VM, with the TSS address set where the architecture needs it. */
    public static KvmVm create(Kvm kvm) {
        int vmFd = Ioctl.ioctl(kvm.fd(), KVM_CREATE_VM, 0L);
        KvmVm vm = new KvmVm(kvm, OwnedFd.adopt(vmFd, "kvm-vm"));
        try {
            if (kvm.checkExtension(KvmConstants.KVM_CAP_SET_TSS_ADDR) > 0) {
                Ioctl.ioctl(vm.fd, KVM_SET_TSS_ADDR, TSS_ADDRESS);
            }
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    public Kvm kvm() {
        return kvm;
    }

    public OwnedFd fd() {
        return fd;
    }

    /** The in-kernel PIC, IOAPIC and local APICs (KVM_CREATE_IRQCHIP), before any vCPU is created. */
    public synchronized void createIrqchip() {
        Ioctl.ioctl(fd, KVM_CREATE_IRQCHIP, 0L);
        irqchip = true;
        // The kernel's default routing sends GSI n to IOAPIC pin n; a table set later replaces it whole,
        // so the table kept here starts with the same routes.
        for (int pin = 0; pin < IOAPIC_PINS; pin++) {
            irqchipRoutes.put(pin, new int[] {KvmConstants.KVM_IRQCHIP_IOAPIC, pin});
        }
    }

    public boolean hasIrqchip() {
        return irqchip;
    }

    /**
     * KVM_CHECK_EXTENSION on the VM: what this VM offers, which for some capabilities differs from what
     * {@code /dev/kvm} says (KVM_CAP_XSAVE2's size of the XSAVE area, for one).
     */
    public int checkExtension(int capability) {
        return Ioctl.ioctl(fd, KVM_CHECK_EXTENSION, capability);
    }

    // ---- memory slots ----

    /**
     * The most pages one memory slot holds: KVM_MEM_MAX_NR_PAGES, 2^31 - 1 on x86 (include/linux/kvm_host.h);
     * KVM_SET_USER_MEMORY_REGION answers a larger slot with a bare EINVAL.
     */
    public static final long MAX_SLOT_PAGES = (1L << 31) - 1;

    /** Installs host memory as guest physical memory; returns the slot. */
    public synchronized int addMemory(long gpa, long size, long hostAddress, boolean readOnly) {
        return addMemory(gpa, size, hostAddress, readOnly, false);
    }

    /**
     * Installs host memory as guest physical memory, with KVM logging the pages vCPUs write into it
     * ({@code logDirtyPages}: KVM_MEM_LOG_DIRTY_PAGES, read with {@link #dirtyLog}); returns the slot.
     */
    public synchronized int addMemory(long gpa, long size, long hostAddress, boolean readOnly, boolean logDirtyPages) {
        int slot = slotsInUse.nextClearBit(0);
        if (slot >= maxSlots) {
            throw new IllegalStateException("KVM offers " + maxSlots + " memory slots, and all are in use");
        }
        int flags = (readOnly ? KvmConstants.KVM_MEM_READONLY : 0)
                | (logDirtyPages ? KvmConstants.KVM_MEM_LOG_DIRTY_PAGES : 0);
        Ioctl.ioctl(fd, KVM_SET_USER_MEMORY_REGION, region.set(slot, flags, gpa, size, hostAddress));
        slotsInUse.set(slot);
        slotRegions.put(slot, new long[] {gpa, size, hostAddress, flags});
        return slot;
    }

    /** Removes a slot: its guest physical range becomes MMIO exits again. */
    public synchronized void removeMemory(int slot) {
        Ioctl.ioctl(fd, KVM_SET_USER_MEMORY_REGION, region.set(slot, 0, 0, 0, 0));
        slotsInUse.clear(slot);
        slotRegions.remove(slot);
    }

    /**
     * Turns KVM's log of the pages vCPUs write into {@code slot} on or off: the slot registered again
     * with KVM_MEM_LOG_DIRTY_PAGES set or cleared, at the same place (KVM allows changing only the
     * flags of a slot in place). Turning it on starts with every page clean.
     */
    public synchronized void logDirtyPages(int slot, boolean on) {
        long[] r = slotRegions.get(slot);
        if (r == null) {
            throw new IllegalArgumentException("memory slot " + slot + " is not in use");
        }
        int flags = (int) r[3];
        int wanted = on ? flags | KvmConstants.KVM_MEM_LOG_DIRTY_PAGES : flags & ~KvmConstants.KVM_MEM_LOG_DIRTY_PAGES;
        if (wanted != flags) {
            Ioctl.ioctl(fd, KVM_SET_USER_MEMORY_REGION, region.set(slot, wanted, r[0], r[1], r[2]));
            r[3] = wanted;
        }
    }

    /**
     * KVM_GET_DIRTY_LOG: writes {@code slot}'s bitmap of the pages written since logging started or
     * since the last call (bit i of the 64-bit word i / 64 for the slot's page i, 4 KiB pages) into the
     * memory at {@code bitmapAddress}, which holds at least one bit per page rounded up to 64, and
     * clears them in KVM. The slot must log dirty pages ({@link #logDirtyPages}).
     */
    public synchronized void dirtyLog(int slot, long bitmapAddress) {
        Ioctl.ioctl(fd, KVM_GET_DIRTY_LOG, dirtyLog.set(slot, bitmapAddress));
    }

    public synchronized int memorySlots() {
        return slotsInUse.cardinality();
    }

    /** A BAR area the device model mapped: a memory slot, so guest accesses cause no exit. */
    @Override
    public synchronized void regionAdded(DirectRegion r) {
        directSlots.put(r, addMemory(r.gpa(), r.size(), r.hostAddress(), !r.writable()));
    }

    /** The BAR moved or stopped decoding: its slot goes before the mapping does. */
    @Override
    public synchronized void regionRemoved(DirectRegion r) {
        Integer slot = directSlots.remove(r);
        if (slot != null) {
            removeMemory(slot);
        }
    }

    // ---- doorbells ----

    /**
     * A doorbell the device model placed: a KVM_IOEVENTFD (with KVM_IOEVENTFD_FLAG_DATAMATCH where it
     * matches data, KVM_IOEVENTFD_FLAG_PIO in port space), so the guest's write signals the eventfd in
     * the kernel and the vCPU goes on without an exit to user space.
     */
    @Override
    public synchronized boolean ioEventFdAdded(IoEventFd d) {
        Ioctl.ioctl(fd, KVM_IOEVENTFD, ioeventfd.set(d.address(), d.size(), d.eventfd().fd().get(), flags(d), d.data()));
        return true;
    }

    /** The doorbell's BAR moved or stopped decoding: KVM_IOEVENTFD_FLAG_DEASSIGN with the same fields. */
    @Override
    public synchronized void ioEventFdRemoved(IoEventFd d) {
        try {
            Ioctl.ioctl(fd, KVM_IOEVENTFD, ioeventfd.set(d.address(), d.size(), d.eventfd().fd().get(),
                    flags(d) | KvmConstants.KVM_IOEVENTFD_FLAG_DEASSIGN, d.data()));
        } catch (SyscallException e) {
            if (!e.is(Errno.ENOENT)) {
                throw e;
            }
        }
    }

    private static int flags(IoEventFd d) {
        return (d.datamatch() ? KvmConstants.KVM_IOEVENTFD_FLAG_DATAMATCH : 0)
                | (d.pio() ? KvmConstants.KVM_IOEVENTFD_FLAG_PIO : 0);
    }

    // ---- interrupts ----

    /**
     * Injects an MSI through the in-kernel local APICs. Returns true if delivered, false if the
     * guest blocked it (e.g. its APIC is disabled). Allocation-free after the first call on a thread.
     */
    public boolean signalMsi(long address, int data) {
        KvmMsi m = msi.get().set(address, data);
        int r = LibC.ioctl(fd.get(), KVM_SIGNAL_MSI.number(), m.address());
        if (r < 0) {
            throw new SyscallException("KVM_SIGNAL_MSI", String.format("address 0x%x data 0x%x", address, data),
                    LibC.errno());
        }
        return r > 0;
    }

    /** Routes GSI {@code gsi} to an MSI message (KVM_SET_GSI_ROUTING with the whole table). */
    public synchronized void setMsiRoute(int gsi, long address, int data) {
        msiRoutes.put(gsi, new long[] {address, data});
        commitRoutes();
    }

    public synchronized void removeMsiRoute(int gsi) {
        if (msiRoutes.remove(gsi) != null) {
            commitRoutes();
        }
    }

    /**
     * Routes GSI {@code gsi} to pin {@code pin} of in-kernel irqchip {@code irqchip} (KVM_IRQCHIP_IOAPIC:
     * a level or edge line into the IOAPIC), replacing any route the GSI had.
     */
    public synchronized void setIrqchipRoute(int gsi, int irqchip, int pin) {
        if (!this.irqchip) {
            throw new IllegalStateException("GSI " + gsi + " cannot reach an in-kernel irqchip: the VM has none "
                    + "(createIrqchip first)");
        }
        msiRoutes.remove(gsi);
        irqchipRoutes.put(gsi, new int[] {irqchip, pin});
        commitRoutes();
    }

    /** The irqchip and pin GSI {@code gsi} is routed to, or null. */
    public synchronized int[] irqchipRoute(int gsi) {
        int[] r = irqchipRoutes.get(gsi);
        return r == null ? null : r.clone();
    }

    /** A GSI no route uses yet. */
    public synchronized int freeMsiGsi() {
        int gsi = FIRST_MSI_GSI;
        while (msiRoutes.containsKey(gsi) || irqchipRoutes.containsKey(gsi)) {
            gsi++;
        }
        msiRoutes.put(gsi, new long[] {0, 0}); // reserved until set
        return gsi;
    }

    private void commitRoutes() {
        KvmIrqRouting table = new KvmIrqRouting(Math.max(1, msiRoutes.size() + irqchipRoutes.size())).reset();
        for (Map.Entry<Integer, int[]> e : irqchipRoutes.entrySet()) {
            table.addIrqchip(e.getKey(), e.getValue()[0], e.getValue()[1]);
        }
        for (Map.Entry<Integer, long[]> e : msiRoutes.entrySet()) {
            table.addMsi(e.getKey(), e.getValue()[0], (int) e.getValue()[1]);
        }
        Ioctl.ioctl(fd, KVM_SET_GSI_ROUTING, table);
    }

    /** Binds an eventfd to a GSI: the kernel injects the GSI's interrupt when the eventfd is signalled. */
    public synchronized void assignIrqfd(int eventfd, int gsi) {
        Ioctl.ioctl(fd, KVM_IRQFD, irqfd.set(eventfd, gsi, 0, 0));
    }

    /**
     * Binds an eventfd to a level-triggered GSI with a resample eventfd (KVM_IRQFD_FLAG_RESAMPLE): a
     * signal asserts the GSI; when the guest's EOI reaches the irqchip pin behind it, the kernel
     * deasserts the GSI and signals {@code resampleFd}. The GSI must be routed to an irqchip pin.
     */
    public synchronized void assignResampleIrqfd(int eventfd, int gsi, int resampleFd) {
        Ioctl.ioctl(fd, KVM_IRQFD, irqfd.set(eventfd, gsi, KvmConstants.KVM_IRQFD_FLAG_RESAMPLE, resampleFd));
    }

    public synchronized void deassignIrqfd(int eventfd, int gsi) {
        try {
            Ioctl.ioctl(fd, KVM_IRQFD, irqfd.set(eventfd, gsi, KvmConstants.KVM_IRQFD_FLAG_DEASSIGN, 0));
        } catch (SyscallException e) {
            if (!e.is(Errno.ENOENT)) {
                throw e;
            }
        }
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "KVM VM (" + memorySlots() + " memory slots" + (irqchip ? ", in-kernel irqchip)" : ")");
    }
}
