package io.jvfio.memory;

import io.jvfio.vmm.range.UnsignedRange;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One range of guest RAM: {@code size} bytes at guest physical address {@code start}, backed by a
 * window of a {@link MemoryBackend} starting at {@code backendOffset}. Immutable: moving RAM means
 * removing a region and adding another.
 */
public final class GuestRegion {

    /** Views are cut in 1 GiB chunks: a ByteBuffer holds at most 2 GiB, and a power of two keeps the index a shift. */
    static final int CHUNK_SHIFT = 30;
    static final long CHUNK_SIZE = 1L << CHUNK_SHIFT;
    static final long CHUNK_MASK = CHUNK_SIZE - 1;

    private final String name;
    private final long start;
    private final long size;
    private final MemoryBackend backend;
    private final long backendOffset;
    private final boolean readOnly;
    /** Little-endian views of the region, chunk i covering [i GiB, (i+1) GiB). */
    final ByteBuffer[] chunks;

    GuestRegion(String name, long start, long size, MemoryBackend backend, long backendOffset, boolean readOnly) {
        this.name = name;
        this.start = start;
        this.size = size;
        this.backend = backend;
        this.backendOffset = backendOffset;
        this.readOnly = readOnly;
        int n = (int) ((size + CHUNK_SIZE - 1) >>> CHUNK_SHIFT);
        this.chunks = new ByteBuffer[n];
        for (int i = 0; i < n; i++) {
            long from = (long) i << CHUNK_SHIFT;
            int length = (int) Math.min(CHUNK_SIZE, size - from);
            chunks[i] = backend.mapping().byteBuffer(backendOffset + from, length).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    public String name() {
        return name;
    }

    /** The first guest physical address. */
    public long start() {
        return start;
    }

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
