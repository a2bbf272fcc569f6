package io.jvfio.vmm.range;

/**
 * Range arithmetic on addresses, offsets and sizes that are unsigned 64-bit values (u64 in the
 * vfio-user spec, the VFIO and KVM ABIs, PCI BARs), held in Java's signed {@code long}: 2^63 and
 * above are negative longs, and {@code base + size} may wrap past 2^64. Every check here is written
 * so that it cannot wrap: a range is [base, base + size) with base + size at most 2^64, so the
 * last byte is 2^64 - 1 at the highest, and a range crossing 2^63 is as valid as any other.
 *
 * <p>Nothing here allocates, so it may sit on MMIO and DMA paths.
 */
public final class UnsignedRange {

    private UnsignedRange() {
    }

    /**
     * True if [base, base + size) is a range: not empty, and not wrapping past 2^64 (its last byte
     * is at most 2^64 - 1).
     */
    public static boolean valid(long base, long size) {
        // size - 1 <= 2^64 - 1 - base, all unsigned; ~base is 2^64 - 1 - base.
        return size != 0 && Long.compareUnsigned(size - 1, ~base) <= 0;
    }

    /**
     * The last byte of [base, base + size): its end minus one, which, unlike the end, fits a u64
     * when the range reaches 2^64. Throws if the range is empty or wraps.
     */
    public static long last(long base, long size) {
        if (!valid(base, size)) {
            throw new IllegalArgumentException(describe(base, size) + " is empty or wraps past 2^64");
        }
        return base + size - 1;
    }

    /**
     * True if [offset, offset + length) lies inside [0, size): an access of {@code length} bytes at
     * {@code offset} of something {@code size} bytes long. An empty access fits at any offset up to
     * {@code size}.
     */
    public static boolean fits(long offset, long length, long size) {
        return Long.compareUnsigned(length, size) <= 0 && Long.compareUnsigned(offset, size - length) <= 0;
    }

    /**
     * True if an access of {@code length} bytes at {@code base + offset} fits in [0, size), where the
     * sum itself must not wrap past 2^64: an area at an offset into a file that starts at an offset.
     */
    public static boolean fitsAt(long base, long offset, long length, long size) {
        return Long.compareUnsigned(offset, ~base) <= 0 && fits(base + offset, length, size);
    }

    /** True if {@code address} lies in [base, base + size). */
    public static boolean contains(long base, long size, long address) {
        return Long.compareUnsigned(address - base, size) < 0;
    }

    /** True if all of [address, address + length) lies in [base, base + size); length may be 0. */
    public static boolean within(long base, long size, long address, long length) {
        return Long.compareUnsigned(address, base) >= 0 && fits(address - base, length, size);
    }

    /** True if the (non-empty) ranges [a, a + aSize) and [b, b + bSize) share a byte. */
    public static boolean overlaps(long a, long aSize, long b, long bSize) {
        return aSize != 0 && bSize != 0 && (contains(a, aSize, b) || contains(b, bSize, a));
    }

    /**
     * The range of {@code sorted} holding {@code address}, or null: a binary search over ranges that do
     * not overlap, sorted by unsigned base, as the buses, the address space and guest memory keep them
     * (an array replaced as a whole, read without a lock). It allocates nothing and is small enough
     * for the JIT to inline at each caller, where the element type is one final class.
     */
    public static <T extends Ranged> T find(T[] sorted, long address) {
        int lo = 0;
        int hi = sorted.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            T r = sorted[mid];
            long base = r.base();
            if (Long.compareUnsigned(address, base) < 0) {
                hi = mid - 1;
            } else if (!contains(base, r.size(), address)) {
                lo = mid + 1;
            } else {
                return r;
            }
        }
        return null;
    }

    /** {@code [0x1000+0x2000)}: a range for an error message, as unsigned hex. */
    public static String describe(long base, long size) {
        return "[0x" + Long.toHexString(base) + "+0x" + Long.toHexString(size) + ")";
    }
}
