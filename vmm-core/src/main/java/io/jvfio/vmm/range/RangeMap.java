package io.jvfio.vmm.range;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Ranges that do not overlap, sorted by unsigned base and found by address and length: the DMA
 * windows a vfio-user client has given its server (DMA_MAP), and those a served device was given.
 * Bases and sizes are u64 (a range may lie at or across 2^63); a range that is empty or wraps past
 * 2^64 is refused, as is one that shares a byte with a range held, so a lookup needs one step.
 *
 * <p>Not thread-safe: its owner changes and reads it under its own lock (the DMA windows change
 * when guest memory or the client's mappings do, and an access must not race a removal).
 */
public final class RangeMap<T extends Ranged> {

    /** By base, as u64: a range at 2^63 or above sorts after one below it. */
    private final TreeMap<Long, T> byBase = new TreeMap<>(Long::compareUnsigned);

    /**
     * Adds {@code range}. Throws {@link IllegalArgumentException} if it is empty or wraps past 2^64,
     * or overlaps a range held (naming it); the caller that answers a peer checks
     * {@link #overlapping} first, to answer with its own error.
     */
    public void add(T range) {
        long base = range.base();
        long size = range.size();
        if (!UnsignedRange.valid(base, size)) {
            throw new IllegalArgumentException(UnsignedRange.describe(base, size) + " is empty or wraps past 2^64");
        }
        T other = overlapping(base, size);
        if (other != null) {
            throw new IllegalArgumentException(UnsignedRange.describe(base, size) + " overlaps "
                    + UnsignedRange.describe(other.base(), other.size()) + ", held already");
        }
        byBase.put(base, range);
    }

    /**
     * A range held that shares a byte with [base, base + size), or null. Throws
     * {@link IllegalArgumentException} if that range is empty or wraps past 2^64.
     */
    public T overlapping(long base, long size) {
        // The ranges held do not overlap, so only the last one starting at or below our last byte can.
        Map.Entry<Long, T> below = byBase.floorEntry(UnsignedRange.last(base, size));
        if (below == null) {
            return null;
        }
        T r = below.getValue();
        return UnsignedRange.overlaps(base, size, r.base(), r.size()) ? r : null;
    }

    /** The range holding all of [address, address + length), or null (also if the access wraps). */
    public T find(long address, long length) {
        Map.Entry<Long, T> e = byBase.floorEntry(address);
        if (e == null) {
            return null;
        }
        T r = e.getValue();
        return UnsignedRange.within(r.base(), r.size(), address, length) ? r : null;
    }

    /** The range based exactly at {@code base}, or null. */
    public T at(long base) {
        return byBase.get(base);
    }

    /** Removes the range based exactly at {@code base}; returns it, or null if there is none. */
    public T remove(long base) {
        return byBase.remove(base);
    }

    /** The ranges held, by unsigned base: a copy, so the caller may change the map while it goes. */
    public List<T> ranges() {
        return List.copyOf(byBase.values());
    }

    public int size() {
        return byBase.size();
    }

    public boolean isEmpty() {
        return byBase.isEmpty();
    }

    public void clear() {
        byBase.clear();
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("RangeMap[");
        for (T r : byBase.values()) {
            s.append(s.length() > 9 ? ", " : "").append(UnsignedRange.describe(r.base(), r.size()));
        }
        return s.append(']').toString();
    }
}
