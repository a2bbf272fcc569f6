package io.jvfio.memory;

import io.jvfio.vmm.linux.HostMemory;
import io.jvfio.vmm.range.Ranged;
import io.jvfio.vmm.range.UnsignedRange;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Guest RAM as it is at one moment, and the one way Java code reads and writes it (rust-vmm's
 * {@code vm-memory}, in Java): little-endian u8/u16/u32/u64 at a guest physical address, bulk
 * copies to and from arrays and buffers, ByteBuffer views of a range, and the host address of a
 * range. {@link GuestMemory#ram()} gives the current one; a change to the map makes a new one.
 *
 * <p>When to take a snapshot, and what a caller may rely on when devices share this memory, is the
 * package's safety contract ({@link io.jvfio.memory}), stated there once.
 *
 * <p>Immutable: a sorted array of regions (and of the windows that view them; a racy cache of the
 * last one used is the one field that changes). The accessors allocate nothing and take no lock.
 *
 * <p>A value access (u8 to u64) first tries the first window, whose start, end and host address are
 * fields of the snapshot itself, then the window the last access used, each with one unsigned compare,
 * and loads or stores at the host address ({@link UnsafeValues}, which says why not the ByteBuffer);
 * a copy tries the last window used, then its ByteBuffer. Anything else (another window, an access
 * across a window's end, an address outside RAM) takes the general path: the search, the split at a
 * 1 GiB seam ({@link HostMemory}), and the errors.
 *
 * <p>While live migration logs the VMM's own writes ({@link GuestMemory#writeLog()}), each write method
 * marks the pages it wrote after storing; off, that costs one volatile read.
 */
public final class GuestRam {

    static final GuestRam EMPTY = new GuestRam(new GuestRegion[0], new RamWriteLog());

    /** By unsigned start; they do not overlap. Never changed: GuestMemory copies it to change the map. */
    final GuestRegion[] sorted;
    private final long totalSize;
    /** Every region cut where its ByteBuffers are (1 GiB chunks), by unsigned start. */
    private final Window[] windows;
    /**
     * The window the last access went through, which the next one most likely hits: the accessors try
     * it with one unsigned compare before any search. Racy on purpose, as a cache: a window is
     * immutable (final fields), so any thread's write is a valid window of this snapshot, and a stale
     * one only costs a search. Null while there are no regions.
     */
    private Window hot;
    /** The first window, flat: its start, its end for values, its host address (0, 0, 0 when there is none). */
    private final long firstStart;
    private final long firstValueEnd;
    private final long firstAddress;
    /** The log of what the write methods wrote (its {@link GuestMemory}'s, shared by each of its snapshots). */
    private final RamWriteLog writes;

    /** {@code sorted} by unsigned start, not overlapping, and not changed afterwards. */
    GuestRam(GuestRegion[] sorted, RamWriteLog writes) {
        this.sorted = sorted;
        this.writes = writes;
        long sum = 0;
        List<Window> all = new ArrayList<>();
        for (GuestRegion r : sorted) {
            sum += r.size();
            for (long off = 0; off < r.size(); off += HostMemory.CHUNK_SIZE) {
                ByteBuffer chunk = r.host.chunk(off);
                all.add(new Window(r.start() + off, chunk.capacity(), chunk, r.hostAddress() + off,
                        UnsafeValues.AVAILABLE ? chunk.capacity() - 7 : 0));
            }
        }
        this.totalSize = sum;
        this.windows = all.toArray(new Window[0]);
        this.hot = windows.length == 0 ? null : windows[0];
        boolean fast = windows.length > 0 && UnsafeValues.AVAILABLE;
        this.firstStart = fast ? windows[0].start : 0;
        this.firstValueEnd = fast ? windows[0].valueEnd : 0;
        this.firstAddress = fast ? windows[0].address : 0;
    }

    /**
     * A part of a region that one ByteBuffer views whole: the region itself up to 1 GiB, one 1 GiB chunk
     * of a larger one, at host address {@code address}. A value at an offset below {@code valueEnd}
     * (size - 7: a u64 fits; 0 where {@link UnsafeValues} is not available) is loaded or stored there;
     * a copy that fits goes through {@code bytes}, its little-endian buffer.
     */
    private record Window(long start, long size, ByteBuffer bytes, long address, long valueEnd) implements Ranged {
        @Override
        public long base() {
            return start;
        }
    }

    /** The regions, in address order. */
    public List<GuestRegion> regions() {
        return List.of(sorted);
    }

    /** The sum of all regions' sizes: what VFIO will pin. */
    public long totalSize() {
        return totalSize;
    }

    /** The region holding {@code gpa}, or null if it is not guest RAM. */
    public GuestRegion find(long gpa) {
        return UnsignedRange.find(sorted, gpa);
    }

    /** The region holding all of [gpa, gpa + length), or an error naming the address and nearest region. */
    private GuestRegion region(long gpa, long length) {
        GuestRegion r = UnsignedRange.find(sorted, gpa);
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
        String where = "guest physical address 0x" + Long.toHexString(gpa) + " (" + length + " bytes) is not in guest RAM";
        if (sorted.length == 0) {
            return new GuestMemoryException(where + "; guest RAM has no regions");
        }
        GuestRegion nearest = sorted[0];
        long best = Long.MAX_VALUE;
        for (GuestRegion r : sorted) {
            long d = Long.compareUnsigned(gpa, r.start()) < 0 ? r.start() - gpa : gpa - r.last();
            if (Long.compareUnsigned(d, best) < 0) {
                best = d;
                nearest = r;
            }
        }
        return new GuestMemoryException(where + "; the nearest region is " + nearest);
    }

    // ---- values: little-endian, as an x86 guest stores data ----

    public int readU8(long gpa) {
        return readInt(gpa, 1);
    }

    public int readU16(long gpa) {
        return readInt(gpa, 2);
    }

    public int readU32(long gpa) {
        return readInt(gpa, 4);
    }

    public long readU64(long gpa) {
        long at = valueAddress(gpa);
        return at != 0 ? UnsafeValues.getU64(at) : readU64Generally(gpa);
    }

    public void writeU8(long gpa, int value) {
        writeInt(gpa, 1, value);
    }

    public void writeU16(long gpa, int value) {
        writeInt(gpa, 2, value);
    }

    public void writeU32(long gpa, int value) {
        writeInt(gpa, 4, value);
    }

    public void writeU64(long gpa, long value) {
        long at = valueAddress(gpa);
        if (at != 0) {
            UnsafeValues.putU64(at, value);
        } else {
            GuestRegion r = general(gpa, 8);
            r.host.putU64(gpa - r.start(), value);
        }
        writes.written(gpa, 8);
    }

    // A u8, u16 or u32: width is a constant at each caller, so once inlined only its own branch is left.

    private int readInt(long gpa, int width) {
        long at = valueAddress(gpa);
        if (at != 0) {
            return width == 1 ? UnsafeValues.getU8(at) : width == 2 ? UnsafeValues.getU16(at) : UnsafeValues.getU32(at);
        }
        GuestRegion r = general(gpa, width);
        long off = gpa - r.start();
        return width == 1 ? r.host.getU8(off) : width == 2 ? r.host.getU16(off) : r.host.getU32(off);
    }

    private void writeInt(long gpa, int width, int value) {
        long at = valueAddress(gpa);
        if (at != 0) {
            switch (width) {
                case 1 -> UnsafeValues.putU8(at, value);
                case 2 -> UnsafeValues.putU16(at, value);
                default -> UnsafeValues.putU32(at, value);
            }
            writes.written(gpa, width);
            return;
        }
        GuestRegion r = general(gpa, width);
        long off = gpa - r.start();
        switch (width) {
            case 1 -> r.host.putU8(off, value);
            case 2 -> r.host.putU16(off, value);
            default -> r.host.putU32(off, value);
        }
        writes.written(gpa, width);
    }

    private long readU64Generally(long gpa) {
        GuestRegion r = general(gpa, 8);
        return r.host.getU64(gpa - r.start());
    }

    /**
     * The host address of a value of up to 8 bytes at {@code gpa} if it lies in the first window or the
     * last one used, else 0 (no window of any region is at address 0). One unsigned compare each,
     * off &lt; valueEnd, which also refuses a gpa below the window's start (off then wraps to a huge
     * unsigned value). A value in a window's last 7 bytes takes the general path, which knows its width.
     */
    private long valueAddress(long gpa) {
        long off = gpa - firstStart;
        if (Long.compareUnsigned(off, firstValueEnd) < 0) {
            return firstAddress + off;
        }
        Window w = hot;
        if (w != null) {
            off = gpa - w.start;
            if (Long.compareUnsigned(off, w.valueEnd) < 0) {
                return w.address + off;
            }
        }
        return 0;
    }

    /**
     * The region holding all of [gpa, gpa + length), as {@link #region} finds it (or its error), and the
     * window holding {@code gpa} made the hot one: the accessors' path when the fast path misses.
     */
    private GuestRegion general(long gpa, long length) {
        GuestRegion r = region(gpa, length);
        hot = UnsignedRange.find(windows, gpa);
        return r;
    }

    // ---- bulk copies; each stays in one region ----

    /** The hot window if all of a copy of {@code length} bytes at {@code gpa} lies in it, else null. */
    private Window hitCopy(long gpa, int length) {
        Window w = hot;
        return w != null && UnsignedRange.fits(gpa - w.start, length, w.size) ? w : null;
    }

    /** Copies {@code length} bytes of guest RAM at {@code gpa} into {@code dst[offset..]}. */
    public void read(long gpa, byte[] dst, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, dst.length);
        Window w = hitCopy(gpa, length);
        if (w != null) {
            w.bytes.get((int) (gpa - w.start), dst, offset, length);
            return;
        }
        GuestRegion r = general(gpa, length);
        r.host.get(gpa - r.start(), dst, offset, length);
    }

    /** Copies {@code src[offset..offset+length)} into guest RAM at {@code gpa}. */
    public void write(long gpa, byte[] src, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, src.length);
        Window w = hitCopy(gpa, length);
        if (w != null) {
            w.bytes.put((int) (gpa - w.start), src, offset, length);
        } else {
            GuestRegion r = general(gpa, length);
            r.host.put(gpa - r.start(), src, offset, length);
        }
        writes.written(gpa, length);
    }

    /** Fills {@code dst} from its position to its limit with guest RAM at {@code gpa}; advances its position. */
    public void read(long gpa, ByteBuffer dst) {
        int at = dst.position();
        int length = dst.limit() - at;
        Window w = hitCopy(gpa, length);
        if (w != null) {
            dst.put(at, w.bytes, (int) (gpa - w.start), length);
            dst.position(at + length);
            return;
        }
        GuestRegion r = general(gpa, length);
        r.host.get(gpa - r.start(), dst);
    }

    /** Copies {@code src} from its position to its limit into guest RAM at {@code gpa}; advances its position. */
    public void write(long gpa, ByteBuffer src) {
        int at = src.position();
        int length = src.limit() - at;
        Window w = hitCopy(gpa, length);
        if (w != null) {
            w.bytes.put((int) (gpa - w.start), src, at, length);
            src.position(at + length);
        } else {
            GuestRegion r = general(gpa, length);
            r.host.put(gpa - r.start(), src);
        }
        writes.written(gpa, length);
    }

    // ---- views and addresses ----

    /**
     * A little-endian view of {@code length} bytes at {@code gpa}: the fast path for a device that
     * works on one buffer repeatedly. The view is valid while the region is mapped; after the region
     * is removed it reads zeros.
     */
    public ByteBuffer slice(long gpa, int length) {
        GuestRegion r = region(gpa, length);
        long off = gpa - r.start();
        if (!r.host.inOneChunk(off, length)) {
            throw new GuestMemoryException("a view of " + length + " bytes at guest physical address 0x"
                    + Long.toHexString(gpa) + " would straddle a 1 GiB boundary inside region " + r
                    + "; copy it with read() instead");
        }
        return r.host.slice(off, length);
    }

    /**
     * The address in this process of guest range [gpa, gpa + length), which must lie in one region. A
     * write made there, outside this class's methods, is told to the write log with {@link #written}.
     */
    public long hostAddress(long gpa, long length) {
        GuestRegion r = region(gpa, length);
        return r.hostAddress() + (gpa - r.start());
    }

    /**
     * Guest range [gpa, gpa + length) was written at its {@link #hostAddress} (a device's DMA copied straight
     * in by its transport): while migration logs the VMM's writes, its pages are marked as this class's own
     * writes mark theirs.
     */
    public void written(long gpa, long length) {
        writes.written(gpa, length);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("guest RAM");
        for (GuestRegion r : sorted) {
            sb.append("\n  ").append(r).append(" <- ").append(r.backend());
            if (r.backendOffset() != 0) {
                sb.append(" at offset 0x").append(Long.toHexString(r.backendOffset()));
            }
        }
        return sb.toString();
    }
}
