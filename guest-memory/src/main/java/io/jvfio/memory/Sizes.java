package io.jvfio.memory;

/** Byte counts and guest ranges written for people: 512M, [0x0-0x1fffffff]. */
final class Sizes {

    private Sizes() {
    }

    /** {@code 512M}, {@code 1536K}, {@code 4097B}: the largest unit that divides the size. */
    static String format(long bytes) {
        String[] units = {"B", "K", "M", "G", "T", "P", "E"};
        long v = bytes;
        int u = 0;
        while (u < units.length - 1 && v != 0 && (v & 1023) == 0) {
            v >>>= 10;
            u++;
        }
        return Long.toUnsignedString(v) + units[u];
    }

    /** An inclusive guest range as QEMU's {@code info mtree} writes it. */
    static String range(long start, long size) {
        return "[0x" + Long.toHexString(start) + "-0x" + Long.toHexString(start + size - 1) + "]";
    }
}
