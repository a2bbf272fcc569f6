package io.jvfio.vfio.kernel;

import io.jvfio.memory.DmaMappingListener;
import io.jvfio.memory.MemlockLimit;
import io.jvfio.vfio.DmaAddressing;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.vfio.VfioIommuType1DirtyBitmap;
import io.jvfio.vmm.linux.vfio.VfioIommuType1DmaMap;
import io.jvfio.vmm.linux.vfio.VfioIommuType1DmaUnmap;
import io.jvfio.vmm.linux.vfio.VfioIommuType1Info;
import io.jvfio.vmm.linux.vfio.VfioIommuType1InfoCapIovaRange;
import io.jvfio.vmm.linux.vfio.VfioInfoCapHeader;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_API_VERSION;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DMA_MAP_FLAG_READ;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DMA_MAP_FLAG_WRITE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IOMMU_DIRTY_PAGES_FLAG_START;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IOMMU_INFO_CAPS;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_NOIOMMU_IOMMU;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_TYPE1_IOMMU;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_TYPE1v2_IOMMU;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_CHECK_EXTENSION;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_GET_API_VERSION;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_IOMMU_DIRTY_PAGES;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_IOMMU_GET_INFO;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_IOMMU_MAP_DMA;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_IOMMU_UNMAP_DMA;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_SET_IOMMU;

/**
 * A VFIO container ({@code /dev/vfio/vfio}): one IOMMU address space shared by the groups attached to
 * it, the Type1 {@link IommuAddressSpace}. It follows guest memory as a {@link DmaMappingListener},
 * mapping guest RAM at IOVA = guest physical address, so a device's DMA addresses are the guest's
 * addresses.
 *
 * <p>The IOMMU model is chosen when the first group is attached: Type1v2 if the kernel has it, else
 * Type1. The no-IOMMU model (no DMA isolation, no DMA mapping) only when asked for explicitly.
 */
public final class VfioContainer implements IommuAddressSpace {

    public static final String PATH = "/dev/vfio/vfio";

    private final OwnedFd fd;
    private final boolean noIommu;
    private final DmaAddressing addressing;
    private final List<VfioGroup> groups = new ArrayList<>();
    private final VfioIommuType1DmaMap dmaMap = new VfioIommuType1DmaMap();
    private final VfioIommuType1DmaUnmap dmaUnmap = new VfioIommuType1DmaUnmap();
    private final VfioIommuType1DirtyBitmap dirtyBitmap = new VfioIommuType1DirtyBitmap();
    private int iommuType;
    private IommuInfo iommuInfo;
    /** The DMA mappings made, IOVA to length: the ranges a device's dirty log covers. Guarded by this. */
    private final java.util.TreeMap<Long, Long> mappings = new java.util.TreeMap<>(Long::compareUnsigned);

    private VfioContainer(OwnedFd fd, boolean noIommu, DmaAddressing addressing) {
        this.fd = fd;
        this.noIommu = noIommu;
        this.addressing = addressing;
    }

    /** Opens a container and checks the VFIO API version and that an IOMMU model is available. */
    public static VfioContainer open() {
        return open(false);
    }

    /**
     * A container for no-IOMMU groups ({@code /dev/vfio/noiommu-N}, {@link NoIommuMode}): the devices then
     * see host physical memory with no isolation at all and nothing to map, and {@code addressing} gives
     * the DMA address of guest RAM ({@link PinnedGuestRam}). Only for a user who asks for it.
     */
    public static VfioContainer openNoIommu(DmaAddressing addressing) {
        return open(true, addressing);
    }

    private static VfioContainer open(boolean noIommu) {
        return open(noIommu, DmaAddressing.GUEST_PHYSICAL);
    }

    private static VfioContainer open(boolean noIommu, DmaAddressing addressing) {
        OwnedFd fd;
        try {
            fd = Syscalls.open(PATH, O_RDWR);
        } catch (SyscallException e) {
            throw new VfioException("cannot open " + PATH + ": " + e.errno().text() + "; load the VFIO modules "
                    + "(modprobe vfio-pci) and run as a user allowed to use it", e);
        }
        try {
            int version = Ioctl.ioctl(fd, VFIO_GET_API_VERSION, 0L);
            if (version != VFIO_API_VERSION) {
                throw new VfioException(PATH + " speaks VFIO API version " + version + ", jvfio knows version "
                        + VFIO_API_VERSION);
            }
            VfioContainer c = new VfioContainer(fd, noIommu, addressing);
            if (noIommu ? !c.checkExtension(VFIO_NOIOMMU_IOMMU)
                    : !c.checkExtension(VFIO_TYPE1v2_IOMMU) && !c.checkExtension(VFIO_TYPE1_IOMMU)) {
                throw new VfioException(noIommu
                        ? "the kernel does not offer VFIO no-IOMMU mode (boot with vfio.enable_unsafe_noiommu_mode=1, or "
                        + "echo Y > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, on a kernel with "
                        + "CONFIG_VFIO_NOIOMMU)"
                        : "the kernel's VFIO offers no Type1 IOMMU (modprobe vfio_iommu_type1)");
            }
            return c;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /** The groups in this container: what this process owns, for a hot reset's proof of ownership. */
    public synchronized List<VfioGroup> groups() {
        return List.copyOf(groups);
    }

    /** VFIO_CHECK_EXTENSION: IOMMU models and features the kernel offers. */
    public boolean checkExtension(int extension) {
        return Ioctl.ioctl(fd, VFIO_CHECK_EXTENSION, extension) > 0;
    }

    public boolean noIommu() {
        return noIommu;
    }

    /** The DMA address of guest RAM for this container's devices: IOVA = guest physical address, unless no-IOMMU. */
    public DmaAddressing dmaAddressing() {
        return addressing;
    }

    /**
     * Attaches a group; the first one fixes the IOMMU model. Every group of a VM shares the
     * container, so guest RAM is mapped once for all of them.
     */
    synchronized void attach(VfioGroup group) {
        group.setContainer(this);
        groups.add(group);
        if (iommuType == 0) {
            try {
                iommuType = noIommu ? VFIO_NOIOMMU_IOMMU
                        : checkExtension(VFIO_TYPE1v2_IOMMU) ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
                Ioctl.ioctl(fd, VFIO_SET_IOMMU, iommuType);
                iommuInfo = noIommu ? new IommuInfo(0, List.of()) : readIommuInfo();
            } catch (RuntimeException e) {
                iommuType = 0;
                groups.remove(group);
                group.unsetContainer();
                throw e;
            }
        }
    }

    synchronized void detach(VfioGroup group) {
        groups.remove(group);
    }

    private IommuInfo readIommuInfo() {
        VfioIommuType1Info info = new VfioIommuType1Info(256);
        Ioctl.ioctl(fd, VFIO_IOMMU_GET_INFO, info);
        if (info.argsz() > info.capacity()) {
            info = new VfioIommuType1Info(info.argsz());
            Ioctl.ioctl(fd, VFIO_IOMMU_GET_INFO, info);
        }
        List<IommuInfo.IovaRange> ranges = new ArrayList<>();
        if ((info.flags() & VFIO_IOMMU_INFO_CAPS) != 0) {
            ByteBuffer b = info.memory();
            for (int at = info.capOffset(); at != 0 && at + VfioInfoCapHeader.SIZEOF <= info.capacity();
                    at = VfioInfoCapHeader.next(b, at)) {
                if (VfioInfoCapHeader.id(b, at) == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
                    int n = VfioIommuType1InfoCapIovaRange.nrIovas(b, at);
                    for (int i = 0; i < n; i++) {
                        ranges.add(new IommuInfo.IovaRange(VfioIommuType1InfoCapIovaRange.start(b, at, i),
                                VfioIommuType1InfoCapIovaRange.end(b, at, i)));
                    }
                }
            }
        }
        return new IommuInfo(info.iovaPgsizes(), ranges);
    }

    /** VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU or VFIO_NOIOMMU_IOMMU; 0 before the first group. */
    public int iommuType() {
        return iommuType;
    }

    /** The IOMMU's page sizes and IOVA ranges; null before the first group is attached. */
    @Override
    public IommuInfo iommuInfo() {
        return iommuInfo;
    }

    @Override
    public synchronized void mapDma(long iova, long vaddr, long size, boolean readable, boolean writable, String what) {
        if (noIommu) {
            throw new VfioException("a no-IOMMU container cannot map DMA: the device sees host physical addresses");
        }
        if (iommuInfo == null) {
            throw new IllegalStateException("attach a group before mapping DMA: the IOMMU model is not set yet");
        }
        if (!iommuInfo.usable(iova, size)) {
            throw IommuAddressSpace.outsideRanges(what, iova, size, iommuInfo, "the IOMMU");
        }
        MemlockLimit.requirePinnable(size, "VFIO DMA");
        int flags = (readable ? VFIO_DMA_MAP_FLAG_READ : 0) | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0);
        Ioctl.ioctl(fd, VFIO_IOMMU_MAP_DMA, dmaMap.set(flags, vaddr, iova, size));
        if (writable) {
            mappings.put(iova, size); // a device cannot write the others: no dirty log covers them
        }
    }

    @Override
    public synchronized long unmapDma(long iova, long size) {
        Ioctl.ioctl(fd, VFIO_IOMMU_UNMAP_DMA, dmaUnmap.set(0, iova, size));
        mappings.subMap(iova, true, iova + size - 1, true).clear();
        return dmaUnmap.size();
    }

    /** The writable DMA mappings now, by IOVA: what a device can write, and what its dirty log covers. */
    public synchronized List<VfioDmaLogging.Range> writableMappings() {
        List<VfioDmaLogging.Range> all = new ArrayList<>();
        mappings.forEach((iova, size) -> all.add(new VfioDmaLogging.Range(iova, size)));
        return all;
    }

    // ---- Type1's dirty page tracking (VFIO_IOMMU_DIRTY_PAGES) ----

    /**
     * VFIO_IOMMU_DIRTY_PAGES_FLAG_START: Type1 logs the pages of every DMA mapping from now on. Type1 sees
     * no device's writes: a mapping an IOMMU-backed group can reach reads as wholly dirty; only when every
     * group of the container is an emulated one (a mediated device's, which marks what it pins) does the
     * bitmap narrow to the pages pinned.
     */
    public synchronized void dirtyPagesStart() {
        dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, "START");
    }

    /** VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP. */
    public synchronized void dirtyPagesStop() {
        dirtyPages(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, "STOP");
    }

    private void dirtyPages(int flag, String what) {
        requireType1("VFIO_IOMMU_DIRTY_PAGES " + what);
        try {
            Ioctl.ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, dirtyBitmap.control(flag));
        } catch (SyscallException e) {
            throw new VfioException("VFIO_IOMMU_DIRTY_PAGES " + what + " on " + this + " failed: " + e.errno().text()
                    + (e.is(Errno.EACCES) ? " (Type1 tracks dirty pages only with the Type1v2 model)"
                    : ""), e);
        }
    }

    /**
     * VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP for {@code [iova, iova + size)}, which must begin and end
     * where DMA mappings do: one bit a page of the IOMMU's smallest page size (bit i of word i / 64 for
     * page i), re-armed as they are read. Tracking must have been started.
     */
    public synchronized long[] dirtyBitmap(long iova, long size) {
        requireType1("VFIO_IOMMU_DIRTY_PAGES GET_BITMAP");
        long pageSize = dirtyPageSize();
        long pages = (size + pageSize - 1) / pageSize;
        int words = (int) ((pages + 63) / 64);
        ByteBuffer bitmap = ByteBuffer.allocateDirect(words * 8).order(ByteOrder.nativeOrder());
        try {
            Ioctl.ioctl(fd, VFIO_IOMMU_DIRTY_PAGES, dirtyBitmap.getBitmap(iova, size, pageSize,
                    DirectBuffers.address(bitmap), words * 8L));
        } catch (SyscallException e) {
            throw new VfioException("VFIO_IOMMU_DIRTY_PAGES GET_BITMAP for 0x" + Long.toHexString(iova) + "+0x"
                    + Long.toHexString(size) + " on " + this + " failed: " + e.errno().text()
                    + (e.is(Errno.EINVAL) ? " (tracking not started, or the range does not begin "
                    + "and end where DMA mappings do, or is not aligned to the page size 0x" + Long.toHexString(pageSize)
                    + ")" : ""), e);
        } finally {
            Reference.reachabilityFence(bitmap);
        }
        long[] out = new long[words];
        bitmap.asLongBuffer().get(out);
        return out;
    }

    /** The page a bit of {@link #dirtyBitmap} stands for: the IOMMU's smallest page size. */
    public synchronized long dirtyPageSize() {
        requireType1("VFIO_IOMMU_DIRTY_PAGES");
        return Long.lowestOneBit(iommuInfo.pageSizes());
    }

    private void requireType1(String what) {
        if (noIommu || iommuInfo == null) {
            throw new VfioException(what + " needs a Type1 container with a group attached; " + this + " has "
                    + (noIommu ? "the no-IOMMU model, which maps nothing" : "no IOMMU model yet"));
        }
    }

    public OwnedFd fd() {
        return fd;
    }

    /** Closes the container; its groups must be closed first (the kernel keeps it alive until they are). */
    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "VFIO container (" + (iommuType == VFIO_TYPE1v2_IOMMU ? "Type1v2" : iommuType == VFIO_TYPE1_IOMMU
                ? "Type1" : iommuType == VFIO_NOIOMMU_IOMMU ? "no-IOMMU" : "no IOMMU model yet") + ")";
    }
}
