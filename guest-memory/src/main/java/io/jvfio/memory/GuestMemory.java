package io.jvfio.memory;

import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.range.UnsignedRange;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A guest physical address space of RAM regions that changes: regions come and go, and
 * {@link DmaMappingListener}s (KVM memory slots, VFIO's IOMMU, a vfio-user server) follow it. Guest
 * RAM is read and written through {@link #ram()}, an immutable {@link GuestRam} behind one volatile
 * field, replaced whole at each change (rust-vmm's {@code GuestMemoryAtomic} over
 * {@code GuestMemoryMmap}).
 *
 * <p>Changes to the map (regions, listeners) are serialized; listeners follow them. When a region
 * goes away, listeners unmap it first; then its memory is replaced with zero pages and freed. What a
 * reader racing that sees, and what any caller may rely on when devices share this memory, is the
 * package's safety contract ({@link io.jvfio.memory}), stated there once. {@link #close()} must come
 * after every user of the memory has stopped.
 */
public final class GuestMemory implements AutoCloseable {

    private volatile GuestRam ram = GuestRam.EMPTY;
    private final RamWriteLog writes = new RamWriteLog();
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
        if (!backend.mapping().isMapped()) {
            throw new GuestMemoryException("guest RAM region '" + name + "' cannot use " + backend
                    + ": it is closed");
        }
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
        GuestRegion[] current = ram.sorted;
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
        ram = new GuestRam(next, writes);
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
        GuestRegion[] current = ram.sorted;
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
        ram = new GuestRam(next, writes);
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
        GuestRegion[] current = ram.sorted;
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
        GuestRegion[] current = ram.sorted;
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

    /**
     * Guest RAM as it is now: the snapshot every access goes through. One volatile read; see
     * {@link GuestRam} for when to take it.
     */
    public GuestRam ram() {
        return ram;
    }

    /**
     * The log of the pages written through {@link GuestRam}'s write methods (the VMM's own writes: a device
     * emulated in Java, DMA copies), for live migration's RAM pre-copy; the vCPUs' writes are KVM's dirty
     * log, a passed-through device's DMA its own. Off until {@link DirtyLog#start started}.
     */
    public DirtyLog writeLog() {
        return writes;
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
        GuestRegion[] current = ram.sorted;
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
        ram = GuestRam.EMPTY;
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
        return ram.toString();
    }
}
