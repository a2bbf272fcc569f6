package io.jvfio.memory;

import io.jvfio.vmm.linux.HostMemory;
import io.jvfio.vmm.range.Ranged;
import io.jvfio.vmm.range.UnsignedRange;

/**
 * One range of guest RAM: {@code size} bytes at guest physical address {@code start}, backed by a
 * window of a {@link MemoryBackend} starting at {@code backendOffset}. Immutable: moving RAM means
 * removing a region and adding another.
 */
public final class GuestRegion implements Ranged {

    private final String name;
    private final long start;
    private final long size;
    private final MemoryBackend backend;
    private final long backendOffset;
    private final boolean readOnly;
    /** The region's bytes in this process, which {@link GuestRam}'s accessors read and write. */
    final HostMemory host;

    GuestRegion(String name, long start, long size, MemoryBackend backend, long backendOffset, boolean readOnly) {
        this.name = name;
        this.start = start;
        this.size = size;
        this.backend = backend;
        this.backendOffset = backendOffset;
        this.readOnly = readOnly;
        this.host = HostMemory.at(hostAddress(), size);
    }

    public String name() {
        return name;
    }

    /** The first guest physical address. */
    public long start() {
        return start;
    }

    /** The same as {@link #start()}: the {@link Ranged} name for it. */
    @Override
    public long base() {
        return start;
    }

    @Override
    public long size() {
        return size;
    }

    /** The last guest physical address (inclusive). */
    public long last() {
        return start + size - 1;
    }

    public boolean contains(long gpa) {
        return UnsignedRange.contains(start, size, gpa);
    }

    public MemoryBackend backend() {
        return backend;
    }

    /** Where the region starts within its backend's fd. */
    public long backendOffset() {
        return backendOffset;
    }

    /** The address of the region's first byte in this process. */
    public long hostAddress() {
        return backend.hostAddress() + backendOffset;
    }

    /** True for memory devices may read but not write (DMA mapped read-only). */
    public boolean readOnly() {
        return readOnly;
    }

    /** The region as an IOMMU maps it: IOVA = guest physical address. */
    public DmaMapping dmaMapping() {
        return new DmaMapping(name, start, hostAddress(), size, backend.fd(), backendOffset, true, !readOnly);
    }

    @Override
    public String toString() {
        return "'" + name + "' " + Sizes.range(start, size);
    }
}
