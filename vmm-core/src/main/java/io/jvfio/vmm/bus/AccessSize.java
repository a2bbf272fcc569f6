package io.jvfio.vmm.bus;

import java.nio.ByteBuffer;

/**
 * The width of one guest access (1, 2, 4 or 8 bytes) and what follows from it: the value an access
 * nobody claims reads (all ones, as PCI's master abort returns), the mask that cuts a value to the
 * width, and the little-endian load and store of that many bytes (x86 guests, PCI configuration
 * space and device registers are all little-endian).
 *
 * <p>These run on the MMIO and port I/O paths: they allocate nothing, and the buffer's byte order
 * (little-endian, set once by its owner) is not checked on every access.
 */
public final class AccessSize {

    private AccessSize() {
    }

    /** Refuses a width that is not 1, 2, 4 or 8 bytes (a back end's region access, before it is sent on). */
    public static void check(int size) {
        if (size != 1 && size != 2 && size != 4 && size != 8) {
            throw badSize(size);
        }
    }

    /** The all-ones value of {@code size} bytes: 0xFF, 0xFFFF, 0xFFFF_FFFF or -1L (8 bytes or more). */
    public static long allOnes(int size) {
        return size >= 8 ? -1L : (1L << (size << 3)) - 1;
    }

    /** {@code value} cut to its low {@code size} bytes, as an unsigned value. */
    public static long mask(long value, int size) {
        return value & allOnes(size);
    }

    /** The unsigned value of the {@code size} bytes at {@code at} of {@code b} (little-endian by its order). */
    public static long get(ByteBuffer b, int at, int size) {
        return switch (size) {
            case 1 -> b.get(at) & 0xFFL;
            case 2 -> b.getShort(at) & 0xFFFFL;
            case 4 -> b.getInt(at) & 0xFFFF_FFFFL;
            case 8 -> b.getLong(at);
            default -> throw badSize(size);
        };
    }

    /** Stores the low {@code size} bytes of {@code value} at {@code at} of {@code b} (little-endian by its order). */
    public static void put(ByteBuffer b, int at, int size, long value) {
        switch (size) {
            case 1 -> b.put(at, (byte) value);
            case 2 -> b.putShort(at, (short) value);
            case 4 -> b.putInt(at, (int) value);
            case 8 -> b.putLong(at, value);
            default -> throw badSize(size);
        }
    }

    private static IllegalArgumentException badSize(int size) {
        return new IllegalArgumentException("access size " + size + ": a guest access is 1, 2, 4 or 8 bytes");
    }
}
