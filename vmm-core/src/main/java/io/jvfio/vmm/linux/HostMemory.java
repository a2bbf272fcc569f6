package io.jvfio.vmm.linux;

import com.sun.jna.Pointer;
import io.jvfio.vmm.range.UnsignedRange;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A range of this process's memory (guest RAM's mmap, a BAR's mmap'd area) as little-endian
 * ByteBuffer views, so that Java code loads and stores in it: u8 to u64 values, bulk copies, and
 * views of a part. A ByteBuffer holds at most 2 GiB, so the range is cut in chunks of 1 GiB, a power
 * of two that keeps the chunk index a shift; a value or copy that straddles two chunks is split.
 *
 * <p>Nothing here allocates, locks or checks that the memory is still mapped, so it may sit on MMIO
 * and DMA paths. Offsets are the caller's to check against the range first, with an error that
 * names what it holds (an offset outside the range throws an index exception from the views). The
 * owner of the mapping keeps it mapped while a HostMemory over it is in use: like any pointer, a
 * view of unmapped memory crashes the JVM.
 */
public final class HostMemory {

    private static final int CHUNK_SHIFT = 30;
    /** The size of every chunk but the last. */
    public static final long CHUNK_SIZE = 1L << CHUNK_SHIFT;
    private static final long CHUNK_MASK = CHUNK_SIZE - 1;

    private final long address;
    private final long size;
    /** Little-endian views, chunk i covering [i GiB, (i + 1) GiB) of the range. */
    private final ByteBuffer[] chunks;
    /**
     * Chunk 0 again: most ranges (and the low GiB of every one) are in it, and reaching it without the
     * array saves each of their accesses one dependent load.
     */
    private final ByteBuffer first;

    private HostMemory(long address, long size) {
        this.address = address;
        this.size = size;
        this.chunks = new ByteBuffer[(int) ((size + CHUNK_SIZE - 1) >>> CHUNK_SHIFT)];
        for (int i = 0; i < chunks.length; i++) {
            long from = (long) i << CHUNK_SHIFT;
            chunks[i] = new Pointer(address + from).getByteBuffer(0, Math.min(CHUNK_SIZE, size - from))
                    .order(ByteOrder.LITTLE_ENDIAN);
        }
        this.first = chunks[0];
    }

    /** The {@code size} bytes at {@code address} in this process, which the caller has mapped. */
    public static HostMemory at(long address, long size) {
        if (address == 0 || !UnsignedRange.valid(address, size)) {
            throw new IllegalArgumentException("host memory " + UnsignedRange.describe(address, size)
                    + " is not a range of this process's memory");
        }
        return new HostMemory(address, size);
    }

    /** The address of the first byte in this process. */
    public long address() {
        return address;
    }

    public long size() {
        return size;
    }

    // ---- one chunk, for callers that do their own width switch ----

    /**
     * The view holding {@code offset}, little-endian; with {@link #position} it serves an access that
     * the caller knows stays inside one chunk (a page-aligned BAR area's registers).
     */
    public ByteBuffer chunk(long offset) {
        long i = offset >>> CHUNK_SHIFT;
        return i == 0 ? first : chunks[(int) i];
    }

    /** Where {@code offset} lies in {@link #chunk its chunk}. */
    public static int position(long offset) {
        return (int) (offset & CHUNK_MASK);
    }

    // ---- values, little-endian; one may straddle two chunks ----

    public int getU8(long offset) {
        return chunk(offset).get(position(offset)) & 0xff;
    }

    public int getU16(long offset) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        return at <= b.capacity() - 2 ? b.getShort(at) & 0xffff : (int) getSplit(offset, 2);
    }

    public int getU32(long offset) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        return at <= b.capacity() - 4 ? b.getInt(at) : (int) getSplit(offset, 4);
    }

    public long getU64(long offset) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        return at <= b.capacity() - 8 ? b.getLong(at) : getSplit(offset, 8);
    }

    public void putU8(long offset, int value) {
        chunk(offset).put(position(offset), (byte) value);
    }

    public void putU16(long offset, int value) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        if (at <= b.capacity() - 2) {
            b.putShort(at, (short) value);
        } else {
            putSplit(offset, 2, value);
        }
    }

    public void putU32(long offset, int value) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        if (at <= b.capacity() - 4) {
            b.putInt(at, value);
        } else {
            putSplit(offset, 4, value);
        }
    }

    public void putU64(long offset, long value) {
        ByteBuffer b = chunk(offset);
        int at = position(offset);
        if (at <= b.capacity() - 8) {
            b.putLong(at, value);
        } else {
            putSplit(offset, 8, value);
        }
    }

    /** A value that straddles two chunks, byte by byte. */
    private long getSplit(long offset, int length) {
        long v = 0;
        for (int i = 0; i < length; i++) {
            v |= (long) getU8(offset + i) << (8 * i);
        }
        return v;
    }

    private void putSplit(long offset, int length, long value) {
        for (int i = 0; i < length; i++) {
            putU8(offset + i, (int) (value >>> (8 * i)));
        }
    }

    // ---- bulk copies, chunk by chunk ----

    /** Copies {@code length} bytes at {@code offset} into {@code dst[at..]}. */
    public void get(long offset, byte[] dst, int at, int length) {
        copy(offset, dst, null, at, length, false);
    }

    /** Copies {@code src[at..at + length)} to {@code offset}. */
    public void put(long offset, byte[] src, int at, int length) {
        copy(offset, src, null, at, length, true);
    }

    /** Fills {@code dst} from its position to its limit with the bytes at {@code offset}; advances its position. */
    public void get(long offset, ByteBuffer dst) {
        int at = dst.position();
        int length = dst.remaining();
        copy(offset, null, dst, at, length, false);
        dst.position(at + length);
    }

    /** Copies {@code src} from its position to its limit to {@code offset}; advances its position. */
    public void put(long offset, ByteBuffer src) {
        int at = src.position();
        int length = src.remaining();
        copy(offset, null, src, at, length, true);
        src.position(at + length);
    }

    /**
     * Copies between [offset, offset + length) and {@code array} or {@code buffer} from {@code at},
     * chunk by chunk: to this memory if {@code store}, from it otherwise. Absolute ByteBuffer
     * transfers, so nothing is allocated and the buffer's position is the caller's to move.
     */
    private void copy(long offset, byte[] array, ByteBuffer buffer, int at, int length, boolean store) {
        while (length > 0) {
            ByteBuffer b = chunk(offset);
            int p = position(offset);
            int n = Math.min(length, b.capacity() - p);
            if (array != null) {
                if (store) {
                    b.put(p, array, at, n);
                } else {
                    b.get(p, array, at, n);
                }
            } else if (store) {
                b.put(p, buffer, at, n);
            } else {
                buffer.put(at, b, p, n);
            }
            offset += n;
            at += n;
            length -= n;
        }
    }

    // ---- views ----

    /** True if [offset, offset + length) lies in one chunk, so that {@link #slice} can view it. */
    public boolean inOneChunk(long offset, int length) {
        return length >= 0 && UnsignedRange.fits(position(offset), length, chunk(offset).capacity());
    }

    /**
     * A little-endian view of {@code length} bytes at {@code offset}, which must lie in one chunk
     * ({@link #inOneChunk}): a ByteBuffer cannot span two.
     */
    public ByteBuffer slice(long offset, int length) {
        if (!inOneChunk(offset, length)) {
            throw new IllegalArgumentException("a view of " + length + " bytes at offset 0x" + Long.toHexString(offset)
                    + " of " + this + " would straddle a 1 GiB chunk boundary; copy it instead");
        }
        return chunk(offset).slice(position(offset), length).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public String toString() {
        return "host memory " + UnsignedRange.describe(address, size);
    }
}
