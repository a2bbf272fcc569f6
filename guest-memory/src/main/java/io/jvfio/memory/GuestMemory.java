package io.jvfio.memory;

import io.jvfio.vmm.range.UnsignedRange;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A guest physical address space of RAM regions, and the one way Java code reads and writes guest
 * RAM (rust-vmm's {@code vm-memory}, in Java): little-endian u8/u16/u32/u64 at a guest physical
 * address, bulk copies to and from arrays and buffers, ByteBuffer views of a range, and the host
 * address of a range.
 *
 * <p>Accessors allocate nothing and take no lock: the regions are an immutable sorted array behind
 * one volatile field, replaced whole when the map changes. That volatile read also means each access
 * reads guest memory afresh, never a value the JIT kept from an earlier call. What a caller may and
 * may not rely on when devices share this memory is the package's safety contract
 * ({@link io.jvfio.memory}), stated there once.
 *
 * <p>Changes to the map (regions, listeners) are serialized; {@link DmaMappingListener}s follow
 * them. When a region goes away, listeners unmap it first; then its mapping is replaced with zero
 * pages, so a thread that raced the removal reads zeros rather than crashing, and the memory is
 * freed. {@link #close()} must come after every user of the memory has stopped.
 */
public final class GuestMemory implements AutoCloseable {

    private static final GuestRegion[] NONE = new GuestRegion[0];

    private volatile GuestRegion[] regions = NONE;
    private final List<DmaMappingListener> listeners = new ArrayList<>();
    /** Backends in use, with how many regions use each; retired ones stay until close. */
    private final Map<MemoryBackend, Integer> backendUsers = new IdentityHashMap<>();
    private final List<MemoryBackend> backends = new ArrayList<>();
    private boolean closed;

    // ---- the memory map ----

    /**
     * Adds {@code size} bytes of {@code backend} from {@code backendOffset} as guest RAM at
     * {@code start}. Every listener maps it first; if one refuses, those that mapped it unmap it and
     * nothing changes. On success this memory owns the backend: it is released when its last region
     * goes or the memory is closed.
     */
    public synchronized GuestRegion addRegion(String name, long start, MemoryBackend backend, long backendOffset,
            long size, boolean readOnly) {
        checkOpen();
        long page = backend.pageSize();
        // Guest physical addresses are u64: a region may lie above 2^63 (a vfio-user DMA window may).
        if (!UnsignedRange.valid(start, size)) {
            throw new GuestMemoryException("guest RAM region '" + name + "' at 0x" + Long.toHexString(start) + " of "
                    + size + " bytes is not a valid range");
        }
        if (start % page != 0 || size % page != 0 || backendOffset % page != 0) {
            throw new GuestMemoryException("guest RAM region '" + name + "' " + Sizes.range(start, size) + " at offset 0x"
                    + Long.toHexString(backendOffset) + " of " + backend + " is not aligned to its page size ("
                    + Sizes.format(page) + ")");
        }
        if (!UnsignedRange.fits(backendOffset, size, backend.size())) {
            throw new GuestMemoryException("guest RAM region '" + name + "' needs " + Sizes.format(size) + " from offset 0x"
                    + Long.toHexString(backendOffset) + " of " + backend + ", which is only " + Sizes.format(backend.size()));
        }
        GuestRegion[] current = regions;
        for (GuestRegion r : current) {
            if (UnsignedRange.overlaps(start, size, r.start(), r.size())) {
                throw new GuestMemoryException("guest RAM region '" + name + "' " + Sizes.range(start, size)
                        + " overlaps region " + r);
            }
            if (r.name().equals(name)) {
                throw new GuestMemoryException("guest RAM already has a region named '" + name + "': " + r);
            }
        }
        GuestRegion region = new GuestRegion(name, start, size, backend, backendOffset, readOnly);
        DmaMapping mapping = region.dmaMapping();
        for (int i = 0; i < listeners.size(); i++) {
            try {
                listeners.get(i).map(mapping);
            } catch (RuntimeException e) {
                for (int j = i - 1; j >= 0; j--) {
                    unmapQuietly(listeners.get(j), mapping, e);
                }
                throw e;
            }
        }
        GuestRegion[] next = Arrays.copyOf(current, current.length + 1);
        next[current.length] = region;
        Arrays.sort(next, (a, b) -> Long.compareUnsigned(a.start(), b.start()));
        regions = next;
        if (backendUsers.merge(backend, 1, Integer::sum) == 1 && !backends.contains(backend)) {
            backends.add(backend);
        }
        return region;
    }

    /** Adds all of {@code backend} at {@code start}, writable. */
    public GuestRegion addRegion(String name, long start, MemoryBackend backend) {
        return addRegion(name, start, backend, 0, backend.size(), false);
    }

    /**
     * Removes a region: every listener unmaps it (last added first), then it leaves the map, then,
     * if no other region uses its backend, the backend's memory is released. If a listener fails to
     * unmap, the memory is kept until {@link #close()}, since a device might still reach it.
     */
    public synchronized void removeRegion(GuestRegion region) {
        checkOpen();
        GuestRegion[] current = regions;
        int at = Arrays.asList(current).indexOf(region);
        if (at < 0) {
            throw new GuestMemoryException("region " + region + " is not part of this guest memory");
        }
        DmaMapping mapping = region.dmaMapping();
        RuntimeException failure = null;
        for (int i = listeners.size() - 1; i >= 0; i--) {
            try {
                listeners.get(i).unmap(mapping);
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        GuestRegion[] next = new GuestRegion[current.length - 1];
        System.arraycopy(current, 0, next, 0, at);
        System.arraycopy(current, at + 1, next, at, current.length - at - 1);
        regions = next;
        MemoryBackend backend = region.backend();
        int users = backendUsers.merge(backend, -1, Integer::sum);
        if (users == 0) {
            backendUsers.remove(backend);
            if (failure == null) {
                backend.retire();
            }
        }
        if (failure != null) {
            throw new GuestMemoryException("a DMA mapping of region " + region + " could not be removed; its memory "
                    + "is kept until the guest memory is closed: " + failure.getMessage(), failure);
        }
    }

    /**
     * Removes a region as {@link #removeRegion} does, and gives its address range back to the process
     * at once (munmap) instead of at {@link #close()}, if no other region uses its backend. Only for a
     * caller that knows no thread still reads or writes the region: a view of it would now fault. A
     * vfio-user server does this at each DMA_UNMAP, holding device DMA off meanwhile, since a client
     * that maps and unmaps a large window over and over would otherwise fill the server's address
     * space with retired ranges until it left.
     */
    public synchronized void removeRegionAndRelease(GuestRegion region) {
        removeRegion(region);
        MemoryBackend backend = region.backend();
        if (!backendUsers.containsKey(backend) && backends.remove(backend)) {
            backend.close();
        }
    }

    /** Adds a listener and maps every region for it now, in address order. */
    public synchronized void addListener(DmaMappingListener listener) {
        checkOpen();
        GuestRegion[] current = regions;
        for (int i = 0; i < current.length; i++) {
            try {
                listener.map(current[i].dmaMapping());
            } catch (RuntimeException e) {
                for (int j = i - 1; j >= 0; j--) {
                    unmapQuietly(listener, current[j].dmaMapping(), e);
                }
                throw e;
            }
        }
        listeners.add(listener);
    }

    /** Removes a listener, unmapping every region for it (highest address first). */
    public synchronized void removeListener(DmaMappingListener listener) {
        if (!listeners.remove(listener)) {
            return;
        }
        GuestRegion[] current = regions;
        RuntimeException failure = null;
        for (int i = current.length - 1; i >= 0; i--) {
            try {
                listener.unmap(current[i].dmaMapping());
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static void unmapQuietly(DmaMappingListener l, DmaMapping m, RuntimeException cause) {
        try {
            l.unmap(m);
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    /** The regions, in address order. */
    public List<GuestRegion> regions() {
        return List.of(regions);
    }

    /** The sum of all regions' sizes: what VFIO will pin. */
    public long totalSize() {
        long sum = 0;
        for (GuestRegion r : regions) {
            sum += r.size();
        }
        return sum;
    }

    /** The region holding {@code gpa}, or null if it is not guest RAM. */
    public GuestRegion find(long gpa) {
        GuestRegion[] rs = regions;
        int lo = 0;
        int hi = rs.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            GuestRegion r = rs[mid];
            if (Long.compareUnsigned(gpa, r.start()) < 0) {
                hi = mid - 1;
            } else if (!UnsignedRange.contains(r.start(), r.size(), gpa)) {
                lo = mid + 1;
            } else {
                return r;
            }
        }
        return null;
    }

    /** The region holding all of [gpa, gpa + length), or an error naming the address and nearest region. */
    private GuestRegion region(long gpa, long length) {
        GuestRegion r = find(gpa);
        if (r == null) {
            throw notInRam(gpa, length);
        }
        if (!UnsignedRange.within(r.start(), r.size(), gpa, length)) {
            throw new GuestMemoryException("an access of " + length + " bytes at guest physical address 0x"
                    + Long.toHexString(gpa) + " crosses the end of region " + r);
        }
        return r;
    }

    private GuestMemoryException notInRam(long gpa, long length) {
        GuestRegion[] rs = regions;
        String where = "guest physical address 0x" + Long.toHexString(gpa) + " (" + length + " bytes) is not in guest RAM";
        if (rs.length == 0) {
            return new GuestMemoryException(where + "; guest RAM has no regions");
        }
        GuestRegion nearest = rs[0];
        long best = Long.MAX_VALUE;
        for (GuestRegion r : rs) {
            long d = Long.compareUnsigned(gpa, r.start()) < 0 ? r.start() - gpa : gpa - r.last();
            if (Long.compareUnsigned(d, best) < 0) {
                best = d;
                nearest = r;
            }
        }
        return new GuestMemoryException(where + "; the nearest region is " + nearest);
    }

    // ---- accessors: little-endian, as an x86 guest stores data ----

    public int readU8(long gpa) {
        GuestRegion r = region(gpa, 1);
        long off = gpa - r.start();
        return chunk(r, off).get(pos(off)) & 0xff;
    }

    public int readU16(long gpa) {
        GuestRegion r = region(gpa, 2);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        return pos <= b.capacity() - 2 ? b.getShort(pos) & 0xffff : (int) readSplit(r, off, 2);
    }

    public int readU32(long gpa) {
        GuestRegion r = region(gpa, 4);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        return pos <= b.capacity() - 4 ? b.getInt(pos) : (int) readSplit(r, off, 4);
    }

    public long readU64(long gpa) {
        GuestRegion r = region(gpa, 8);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        return pos <= b.capacity() - 8 ? b.getLong(pos) : readSplit(r, off, 8);
    }

    public void writeU8(long gpa, int value) {
        GuestRegion r = region(gpa, 1);
        long off = gpa - r.start();
        chunk(r, off).put(pos(off), (byte) value);
    }

    public void writeU16(long gpa, int value) {
        GuestRegion r = region(gpa, 2);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        if (pos <= b.capacity() - 2) {
            b.putShort(pos, (short) value);
        } else {
            writeSplit(r, off, 2, value);
        }
    }

    public void writeU32(long gpa, int value) {
        GuestRegion r = region(gpa, 4);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        if (pos <= b.capacity() - 4) {
            b.putInt(pos, value);
        } else {
            writeSplit(r, off, 4, value);
        }
    }

    public void writeU64(long gpa, long value) {
        GuestRegion r = region(gpa, 8);
        long off = gpa - r.start();
        ByteBuffer b = chunk(r, off);
        int pos = pos(off);
        if (pos <= b.capacity() - 8) {
            b.putLong(pos, value);
        } else {
            writeSplit(r, off, 8, value);
        }
    }

    /** The view holding region offset {@code off}. */
    private static ByteBuffer chunk(GuestRegion r, long off) {
        return r.chunks[(int) (off >>> GuestRegion.CHUNK_SHIFT)];
    }

    /** Where region offset {@code off} is within its view. */
    private static int pos(long off) {
        return (int) (off & GuestRegion.CHUNK_MASK);
    }

    /** An access that straddles two 1 GiB chunks of one region, byte by byte. */
    private static long readSplit(GuestRegion r, long off, int length) {
        long v = 0;
        for (int i = 0; i < length; i++) {
            long o = off + i;
            v |= (long) (chunk(r, o).get(pos(o)) & 0xff)
                    << (8 * i);
        }
        return v;
    }

    private static void writeSplit(GuestRegion r, long off, int length, long value) {
        for (int i = 0; i < length; i++) {
            long o = off + i;
            chunk(r, o).put(pos(o), (byte) (value >>> (8 * i)));
        }
    }

    /** Copies {@code length} bytes of guest RAM at {@code gpa} into {@code dst[offset..]}. */
    public void read(long gpa, byte[] dst, int offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, dst.length);
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        while (length > 0) {
            ByteBuffer b = chunk(r, off);
            int pos = pos(off);
            int n = Math.min(length, b.capacity() - pos);
            b.get(pos, dst, offset, n);
            off += n;
            offset += n;
            length -= n;
        }
    }

    /** Copies {@code src[offset..offset+length)} into guest RAM at {@code gpa}. */
    public void write(long gpa, byte[] src, int offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, src.length);
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        while (length > 0) {
            ByteBuffer b = chunk(r, off);
            int pos = pos(off);
            int n = Math.min(length, b.capacity() - pos);
            b.put(pos, src, offset, n);
            off += n;
            offset += n;
            length -= n;
        }
    }

    /** Fills {@code dst} from its position to its limit with guest RAM at {@code gpa}; advances its position. */
    public void read(long gpa, ByteBuffer dst) {
        int length = dst.remaining();
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        int at = dst.position();
        while (length > 0) {
            ByteBuffer b = chunk(r, off);
            int pos = pos(off);
            int n = Math.min(length, b.capacity() - pos);
            dst.put(at, b, pos, n);
            off += n;
            at += n;
            length -= n;
        }
        dst.position(at);
    }

    /** Copies {@code src} from its position to its limit into guest RAM at {@code gpa}; advances its position. */
    public void write(long gpa, ByteBuffer src) {
        int length = src.remaining();
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        int at = src.position();
        while (length > 0) {
            ByteBuffer b = chunk(r, off);
            int pos = pos(off);
            int n = Math.min(length, b.capacity() - pos);
            b.put(pos, src, at, n);
            off += n;
            at += n;
            length -= n;
        }
        src.position(at);
    }

    /**
     * A little-endian view of {@code length} bytes at {@code gpa}: the fast path for a device that
     * works on one buffer repeatedly. The view is valid while the region is mapped; after the region
     * is removed it reads zeros.
     */
    public ByteBuffer slice(long gpa, int length) {
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        int pos = pos(off);
        ByteBuffer b = chunk(r, off);
        if (!UnsignedRange.fits(pos, length, b.capacity())) {
            throw new GuestMemoryException("a view of " + length + " bytes at guest physical address 0x"
                    + Long.toHexString(gpa) + " would straddle a 1 GiB boundary inside region " + r
                    + "; copy it with read() instead");
        }
        return b.slice(pos, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The address in this process of guest range [gpa, gpa + length), which must lie in one region. */
    public long hostAddress(long gpa, long length) {
        GuestRegion r = region(gpa, length);
        return r.hostAddress() + (gpa - r.start());
    }

    // ---- lifetime ----

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("this guest memory is closed");
        }
    }

    /**
     * Unmaps every region from every listener, then unmaps and closes every backend. Call it only
     * after the vCPUs and devices that use this memory have stopped.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        GuestRegion[] current = regions;
        RuntimeException failure = null;
        for (int i = current.length - 1; i >= 0; i--) {
            DmaMapping m = current[i].dmaMapping();
            for (int j = listeners.size() - 1; j >= 0; j--) {
                try {
                    listeners.get(j).unmap(m);
                } catch (RuntimeException e) {
                    // Closing goes on: pages an IOMMU still maps stay pinned by the kernel, not freed.
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
        }
        listeners.clear();
        regions = NONE;
        backendUsers.clear();
        for (MemoryBackend b : backends) {
            b.close();
        }
        backends.clear();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("guest memory");
        for (GuestRegion r : regions) {
            sb.append("\n  ").append(r).append(" <- ").append(r.backend());
            if (r.backendOffset() != 0) {
                sb.append(" at offset 0x").append(Long.toHexString(r.backendOffset()));
            }
        }
        return sb.toString();
    }
}
