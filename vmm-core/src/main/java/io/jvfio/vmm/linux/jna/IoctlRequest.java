package io.jvfio.vmm.linux.jna;

/**
 * An ioctl request number with the name of its C macro, so a failure can say
 * {@code VFIO_DEVICE_SET_IRQS on ...} rather than a number.
 *
 * <p>The encoding is {@code asm-generic/ioctl.h} (x86_64): bits 0-7 the number, 8-15 the type
 * (the driver's magic), 16-29 the argument size, 30-31 the direction (1 write, 2 read, from the
 * caller's point of view). VFIO encodes every request with {@code _IO}, argument size 0,
 * whatever it passes; KVM encodes sizes and directions.
 */
public record IoctlRequest(String name, long number) {

    static final int NR_BITS = 8;
    static final int TYPE_BITS = 8;
    static final int SIZE_BITS = 14;
    static final int NR_SHIFT = 0;
    static final int TYPE_SHIFT = NR_SHIFT + NR_BITS;
    static final int SIZE_SHIFT = TYPE_SHIFT + TYPE_BITS;
    static final int DIR_SHIFT = SIZE_SHIFT + SIZE_BITS;

    static final int DIR_NONE = 0;
    static final int DIR_WRITE = 1;
    static final int DIR_READ = 2;

    public IoctlRequest {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("an ioctl request needs the name of its C macro");
        }
    }

    /** {@code _IO(type, nr)}: no argument, or one whose size the driver does not encode. */
    public static IoctlRequest io(String name, int type, int nr) {
        return new IoctlRequest(name, encode(name, DIR_NONE, type, nr, 0));
    }

    /** {@code _IOR(type, nr, size)}: the kernel writes an argument of {@code size} bytes. */
    public static IoctlRequest ior(String name, int type, int nr, int size) {
        return new IoctlRequest(name, encode(name, DIR_READ, type, nr, size));
    }

    /** {@code _IOW(type, nr, size)}: the kernel reads an argument of {@code size} bytes. */
    public static IoctlRequest iow(String name, int type, int nr, int size) {
        return new IoctlRequest(name, encode(name, DIR_WRITE, type, nr, size));
    }

    /** {@code _IOWR(type, nr, size)}: the argument goes both ways. */
    public static IoctlRequest iowr(String name, int type, int nr, int size) {
        return new IoctlRequest(name, encode(name, DIR_READ | DIR_WRITE, type, nr, size));
    }

    static long encode(String name, int dir, int type, int nr, int size) {
        check(name, "type", type, TYPE_BITS);
        check(name, "number", nr, NR_BITS);
        check(name, "size", size, SIZE_BITS);
        return ((long) dir << DIR_SHIFT) | ((long) size << SIZE_SHIFT) | ((long) type << TYPE_SHIFT)
                | ((long) nr << NR_SHIFT);
    }

    private static void check(String name, String what, int value, int bits) {
        if (value < 0 || value >= (1 << bits)) {
            throw new IllegalArgumentException(name + ": ioctl " + what + " " + value + " does not fit in "
                    + bits + " bits");
        }
    }

    /** The argument size encoded in the request (0 for {@code _IO}). */
    public int argumentSize() {
        return (int) ((number >>> SIZE_SHIFT) & ((1 << SIZE_BITS) - 1));
    }

    @Override
    public String toString() {
        return name + " (0x" + Long.toHexString(number) + ")";
    }
}
