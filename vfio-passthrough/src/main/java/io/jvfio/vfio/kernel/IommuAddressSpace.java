package io.jvfio.vfio.kernel;

import io.jvfio.memory.DmaMapping;
import io.jvfio.memory.DmaMappingListener;
import io.jvfio.vfio.VfioException;

/**
 * The I/O address space the devices of a VM share: the IOMMU's view of guest RAM, kept at IOVA =
 * guest physical address by following guest memory as a {@link DmaMappingListener}. Two kernel
 * interfaces provide one: a Type1 {@link VfioContainer} ({@code /dev/vfio/vfio}, devices joined
 * through their groups) and an {@link IommufdIoas} ({@code /dev/iommu}, devices joined through their
 * cdevs). Nothing above {@link KernelVfio} knows which it has, as rust-vmm's vfio-ioctls splits its
 * container and iommufd back ends behind one trait.
 */
public sealed interface IommuAddressSpace extends DmaMappingListener, AutoCloseable
        permits VfioContainer, IommufdIoas {

    /**
     * Maps {@code size} bytes of this process at {@code vaddr} for the devices to reach at {@code iova};
     * {@code what} names the memory in an error. The kernel pins the pages (RLIMIT_MEMLOCK).
     */
    void mapDma(long iova, long vaddr, long size, boolean readable, boolean writable, String what);

    /** Unmaps [iova, iova + size); returns the bytes the kernel unmapped. */
    long unmapDma(long iova, long size);

    /** The page sizes and IOVA ranges a mapping may use now; null while the space cannot tell yet. */
    IommuInfo iommuInfo();

    @Override
    default void map(DmaMapping m) {
        mapDma(m.iova(), m.hostAddress(), m.size(), m.readable(), m.writable(), "guest RAM region " + m);
    }

    @Override
    default void unmap(DmaMapping m) {
        long unmapped = unmapDma(m.iova(), m.size());
        if (unmapped != m.size()) {
            throw new VfioException("unmapping " + m + " from " + this + " unmapped " + unmapped + " bytes, not "
                    + m.size());
        }
    }

    /** Releases the address space; the devices attached to it must have been closed first. */
    @Override
    void close();

    /** The error for a mapping outside the IOVA ranges the IOMMU allows, one line with the fix. */
    static VfioException outsideRanges(String what, long iova, long size, IommuInfo info, String space) {
        return new VfioException("cannot map " + what + " for DMA at IOVA 0x" + Long.toHexString(iova) + "+0x"
                + Long.toHexString(size) + ": " + space + " only maps " + info.ranges()
                + "; move guest RAM out of the reserved range");
    }
}
