package io.jvfio.memory;

import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.range.Ranged;

/**
 * A guest RAM range as an IOMMU (or a vfio-user server) maps it: the device sees {@code size} bytes
 * at {@code iova}, which equals the guest physical address, backed by this process's memory at
 * {@code hostAddress} and by {@code fd} from {@code fdOffset} (for a peer that maps the same pages).
 *
 * <p>{@code fd} is borrowed: it stays open until {@link DmaMappingListener#unmap} for this mapping
 * has returned; a listener that needs it longer duplicates it.
 */
public record DmaMapping(String name, long iova, long hostAddress, long size, OwnedFd fd, long fdOffset,
                         boolean readable, boolean writable) implements Ranged {

    /** The first IOVA: a DMA window is kept and found by it ({@link io.jvfio.vmm.range.RangeMap}). */
    @Override
    public long base() {
        return iova;
    }

    /** The last IOVA of the mapping (inclusive). */
    public long lastIova() {
        return iova + size - 1;
    }

    @Override
    public String toString() {
        return "'" + name + "' " + Sizes.range(iova, size) + " (" + Sizes.format(size) + " at host 0x"
                + Long.toHexString(hostAddress) + ", " + fd.name() + "+0x" + Long.toHexString(fdOffset)
                + (writable ? ", rw" : ", ro") + ")";
    }
}
