package io.jvfio.vfio.kernel;

import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemlockLimit;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Capabilities;
import io.jvfio.vmm.linux.Pagemap;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Guest RAM as a device in VFIO's no-IOMMU mode sees it: at host physical addresses, with nothing
 * to translate or confine its DMA. As DPDK's IOVA-as-PA mode does, the RAM is locked in memory
 * (mlock, which also faults every page in) while it is guest RAM, following guest memory as a
 * {@link DmaMappingListener}, and the DMA address of a range is read from
 * {@code /proc/self/pagemap}: the physical address of its first byte, valid for the whole range only
 * if its pages are physically contiguous (checked page by page; a range that is not is an error, as
 * the device would run off into another page).
 *
 * <p>mlock keeps the pages resident, not at their physical addresses: the kernel may still migrate a
 * locked page (memory compaction while {@code vm.compact_unevictable_allowed} is 1, the default; NUMA
 * balancing; memory hot-unplug), and a device would then DMA into whatever took its old frame. Only a
 * kernel driver can pin a page's frame for good (VFIO's Type1 and iommufd do, with an IOMMU); that
 * is part of why the mode is unsafe, and why the warning says so. The addresses are read when asked
 * for, right before the driver programs the device, to keep that window small.
 */
public final class PinnedGuestRam implements DmaMappingListener, DmaAddressing, AutoCloseable {

    private static final Path COMPACT_UNEVICTABLE = Path.of("/proc/sys/vm/compact_unevictable_allowed");

    private final GuestMemory memory;
    private final Pagemap pagemap;

    private PinnedGuestRam(GuestMemory memory, Pagemap pagemap) {
        this.memory = memory;
        this.pagemap = pagemap;
    }

    /**
     * Host physical addresses for the RAM of {@code memory}, which starts being locked once this is
     * added to it as a listener. Reading them needs CAP_SYS_ADMIN (without it the kernel shows every
     * page frame number as 0): checked first, with an error that names it.
     */
    public static PinnedGuestRam of(GuestMemory memory) {
        if (!Capabilities.effective().has(Capabilities.CAP_SYS_ADMIN)) {
            throw new VfioException("VFIO no-IOMMU mode needs the host physical addresses of guest RAM from "
                    + Pagemap.PATH + ", and the kernel shows them only to a process with CAP_SYS_ADMIN (to others "
                    + "every page frame number reads 0); run jvfio as root or with CAP_SYS_ADMIN");
        }
        return new PinnedGuestRam(memory, Pagemap.open());
    }

    /** Locks the region in memory, which faults in every page of it. */
    @Override
    public void map(DmaMapping m) {
        MemlockLimit.requirePinnable(m.size(), "VFIO no-IOMMU DMA (mlock)");
        try {
            Syscalls.mlock(m.hostAddress(), m.size(), "guest RAM region " + m);
        } catch (SyscallException e) {
            throw new VfioException("cannot lock guest RAM region " + m + " in memory for no-IOMMU DMA: "
                    + e.errno().text() + "; raise RLIMIT_MEMLOCK (ulimit -l) or run jvfio with CAP_IPC_LOCK", e);
        }
    }

    @Override
    public void unmap(DmaMapping m) {
        Syscalls.munlock(m.hostAddress(), m.size(), "guest RAM region " + m);
    }

    /**
     * The host physical address of guest range [gpa, gpa + size), which must lie in one region of guest
     * RAM and on physically contiguous pages.
     */
    @Override
    public long dmaAddress(long gpa, long size) {
        if (size <= 0) {
            throw new IllegalArgumentException("a DMA range of " + size + " bytes");
        }
        long host = memory.ram().hostAddress(gpa, size); // throws if the range is not all in one region
        long page = pagemap.pageSize();
        long first = host & -page;
        long last = (host + size - 1) & -page;
        long base;
        try {
            base = pagemap.entry(first).physicalPage(first, page);
            for (long at = first + page; Long.compareUnsigned(at, last) <= 0; at += page) {
                long pa = pagemap.entry(at).physicalPage(at, page);
                if (pa != base + (at - first)) {
                    throw new VfioException(String.format("guest range 0x%x+0x%x is not physically contiguous "
                            + "(host page 0x%x is at physical 0x%x, page 0x%x at 0x%x, not 0x%x): without an IOMMU the "
                            + "device sees physical memory, so one DMA cannot span it; split the transfer at page "
                            + "boundaries, or back guest RAM with huge pages (-object memory-backend-memfd,hugetlb=on)",
                            gpa, size, first, base, at, pa, base + (at - first)));
                }
            }
        } catch (IllegalStateException e) {
            throw new VfioException("no host physical address for guest range 0x" + Long.toHexString(gpa) + "+0x"
                    + Long.toHexString(size) + ": " + e.getMessage(), e);
        }
        return base + (host - first);
    }

    @Override
    public String describe() {
        return "IOVA = host physical address (no IOMMU; guest RAM locked, addresses from " + Pagemap.PATH + ")";
    }

    /** What mlock does not promise on this host, for the warning: whether compaction may move locked pages. */
    public static String compactionCaveat() {
        String allowed;
        try {
            allowed = Files.readString(COMPACT_UNEVICTABLE).trim();
        } catch (IOException e) {
            allowed = null;
        }
        return "0".equals(allowed) ? "locked pages stay where they are unless NUMA balancing or memory hot-unplug "
                + "moves them" : "memory compaction may still move locked pages (" + COMPACT_UNEVICTABLE + " is "
                + (allowed == null ? "unreadable" : allowed) + "; 0 keeps them in place)";
    }

    @Override
    public void close() {
        pagemap.close();
    }

    @Override
    public String toString() {
        return describe();
    }
}
