package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct vfio_irq_set}, the argument of VFIO_DEVICE_SET_IRQS, with room for up to
 * {@code maxCount} entries of data (eventfds as {@code __s32}, or booleans as {@code __u8}).
 */
public final class VfioIrqSet extends NativeStruct {

    public static final int ARGSZ = 0;
    public static final int FLAGS = 4;
    public static final int INDEX = 8;
    public static final int START = 12;
    public static final int COUNT = 16;
    public static final int DATA = 20;
    public static final int SIZEOF = 20;
    public static final StructLayout LAYOUT = StructLayout.of("linux/vfio.h", "vfio_irq_set", SIZEOF)
            .field("argsz", ARGSZ, 4)
            .field("flags", FLAGS, 4)
            .field("index", INDEX, 4)
            .field("start", START, 4)
            .field("count", COUNT, 4)
            .flexibleArray("data", DATA, 1)
            .build();

    private final int maxCount;

    public VfioIrqSet(int maxCount) {
        super(SIZEOF + 4 * Math.max(maxCount, 1));
        this.maxCount = maxCount;
    }

    /** DATA_NONE: the action applies at once to {@code count} interrupts from {@code start}, with no data. */
    public VfioIrqSet set(int flags, int index, int start, int count) {
        return header(flags, index, start, count, SIZEOF);
    }

    /**
     * DATA_EVENTFD: binds interrupts {@code start..start+count} to {@code fds} (-1 unbinds one).
     * {@code flags} must include VFIO_IRQ_SET_DATA_EVENTFD.
     */
    public VfioIrqSet setEventFds(int flags, int index, int start, int[] fds, int count) {
        checkCount(count);
        header(flags, index, start, count, SIZEOF + 4 * count);
        for (int i = 0; i < count; i++) {
            putU32(DATA + 4 * i, fds[i]);
        }
        return this;
    }

    /** DATA_BOOL: applies the action to the interrupts whose flag is true. */
    public VfioIrqSet setBools(int flags, int index, int start, boolean[] values, int count) {
        checkCount(count);
        header(flags, index, start, count, SIZEOF + count);
        for (int i = 0; i < count; i++) {
            putU8(DATA + i, values[i] ? 1 : 0);
        }
        return this;
    }

    private VfioIrqSet header(int flags, int index, int start, int count, int argsz) {
        putU32(ARGSZ, argsz);
        putU32(FLAGS, flags);
        putU32(INDEX, index);
        putU32(START, start);
        putU32(COUNT, count);
        return this;
    }

    private void checkCount(int count) {
        if (count < 0 || count > maxCount) {
            throw new IllegalArgumentException(count + " entries do not fit a vfio_irq_set of " + maxCount);
        }
    }

    public int argsz() {
        return u32(ARGSZ);
    }

    public int flags() {
        return u32(FLAGS);
    }

    public int index() {
        return u32(INDEX);
    }

    public int start() {
        return u32(START);
    }

    public int count() {
        return u32(COUNT);
    }

    /** The {@code i}-th eventfd of the data. */
    public int eventFd(int i) {
        return u32(DATA + 4 * i);
    }
}
