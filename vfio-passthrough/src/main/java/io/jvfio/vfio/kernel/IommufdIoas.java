package io.jvfio.vfio.kernel;

import io.jvfio.memory.MemlockLimit;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.iommufd.IommuIoasAlloc;
import io.jvfio.vmm.linux.iommufd.IommuIoasIovaRanges;
import io.jvfio.vmm.linux.iommufd.IommuIoasMap;
import io.jvfio.vmm.linux.iommufd.IommuIoasUnmap;
import io.jvfio.vmm.linux.iommufd.IommuIovaRange;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMU_IOAS_MAP_FIXED_IOVA;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMU_IOAS_MAP_READABLE;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMU_IOAS_MAP_WRITEABLE;
import static io.jvfio.vmm.linux.iommufd.IommufdIoctls.IOMMU_IOAS_ALLOC;
import static io.jvfio.vmm.linux.iommufd.IommufdIoctls.IOMMU_IOAS_IOVA_RANGES;
import static io.jvfio.vmm.linux.iommufd.IommufdIoctls.IOMMU_IOAS_MAP;
import static io.jvfio.vmm.linux.iommufd.IommufdIoctls.IOMMU_IOAS_UNMAP;

/**
 * An I/O address space of an {@link Iommufd} (IOMMU_IOAS_ALLOC), the iommufd
 * {@link IommuAddressSpace}: guest RAM is mapped into it at IOVA = guest physical address
 * (IOMMU_IOAS_MAP with a fixed IOVA), and the devices of a VM attach to it through their cdevs.
 * Unlike a Type1 container it exists before any device: its usable IOVA ranges narrow as devices
 * attach (each brings its group's reserved regions, such as the MSI window), so they are read from
 * the kernel when a mapping is made.
 */
public final class IommufdIoas implements IommuAddressSpace {

    private final Iommufd iommufd;
    private final int id;
    private final IommuIoasMap map = new IommuIoasMap();
    private final IommuIoasUnmap unmap = new IommuIoasUnmap();
    private boolean closed;

    private IommufdIoas(Iommufd iommufd, int id) {
        this.iommufd = iommufd;
        this.id = id;
    }

    static IommufdIoas allocate(Iommufd iommufd) {
        IommuIoasAlloc alloc = new IommuIoasAlloc();
        Ioctl.ioctl(iommufd.fd(), IOMMU_IOAS_ALLOC, alloc);
        return new IommufdIoas(iommufd, alloc.outIoasId());
    }

    /** The IOAS's object id in its iommufd, what VFIO_DEVICE_ATTACH_IOMMUFD_PT takes. */
    public int id() {
        return id;
    }

    public Iommufd iommufd() {
        return iommufd;
    }

    /**
     * IOMMU_IOAS_IOVA_RANGES: the ranges a mapping may use now, and the alignment it needs (as the
     * smallest page size).
     */
    @Override
    public synchronized IommuInfo iommuInfo() {
        IommuIoasIovaRanges query = new IommuIoasIovaRanges();
        IommuIovaRange ranges = new IommuIovaRange(4);
        while (true) {
            try {
                Ioctl.ioctl(iommufd.fd(), IOMMU_IOAS_IOVA_RANGES, query.query(id, ranges));
                break;
            } catch (SyscallException e) {
                // Too small an array: the kernel says EMSGSIZE and how many ranges there are.
                if (!e.is(Errno.EMSGSIZE) || query.numIovas() <= ranges.count()) {
                    throw e;
                }
                ranges = new IommuIovaRange(query.numIovas());
            }
        }
        List<IommuInfo.IovaRange> list = new ArrayList<>();
        for (int i = 0; i < query.numIovas(); i++) {
            list.add(new IommuInfo.IovaRange(ranges.start(i), ranges.last(i)));
        }
        return new IommuInfo(query.outIovaAlignment(), list);
    }

    @Override
    public synchronized void mapDma(long iova, long vaddr, long size, boolean readable, boolean writable,
            String what) {
        IommuInfo info = iommuInfo();
        if (!info.usable(iova, size)) {
            throw IommuAddressSpace.outsideRanges(what, iova, size, info, this.toString());
        }
        MemlockLimit.requirePinnable(size, "iommufd DMA");
        int flags = IOMMU_IOAS_MAP_FIXED_IOVA | (readable ? IOMMU_IOAS_MAP_READABLE : 0)
                | (writable ? IOMMU_IOAS_MAP_WRITEABLE : 0);
        Ioctl.ioctl(iommufd.fd(), IOMMU_IOAS_MAP, map.set(id, flags, vaddr, size, iova));
    }

    @Override
    public synchronized long unmapDma(long iova, long size) {
        Ioctl.ioctl(iommufd.fd(), IOMMU_IOAS_UNMAP, unmap.set(id, iova, size));
        return unmap.length();
    }

    /** IOMMU_DESTROY of the IOAS (its mappings go with it); the iommufd itself stays open. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            iommufd.destroy(id);
        } catch (SyscallException e) {
            throw new VfioException("cannot destroy " + this + ": " + e.getMessage()
                    + " (a device still attached to it? close the devices first)", e);
        }
    }

    @Override
    public String toString() {
        return "IOAS " + id + " of " + iommufd;
    }
}
