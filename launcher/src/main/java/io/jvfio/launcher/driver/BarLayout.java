package io.jvfio.launcher.driver;

/**
 * A function's six BARs as the driver sized them, and where it places them: {@code size[i]} 0 for a BAR
 * not implemented (or the upper half of a 64-bit one), {@code ioMask} bit i for an I/O BAR, {@code wideMask}
 * bit i for a 64-bit memory BAR. Sizing comes first and placement after, so that the hotplug service
 * can open a root port's windows over exactly what a device behind it needs before it enables decode.
 */
record BarLayout(long[] size, long[] address, int ioMask, int wideMask) {

    /**
     * Placed in index order, each BAR aligned to its size, memory BARs from {@code memoryBase} and I/O
     * BARs from {@code ioBase} (the order the driver has always placed them in: BAR0 first).
     */
    BarLayout placedFrom(long memoryBase, long ioBase) {
        long[] at = new long[6];
        long memory = memoryBase;
        long io = ioBase;
        for (int i = 0; i < 6; i++) {
            long s = size[i];
            if (s == 0) {
                continue;
            }
            if (isIo(i)) {
                at[i] = (io + s - 1) & -s;
                io = at[i] + s;
            } else {
                at[i] = (memory + s - 1) & -s;
                memory = at[i] + s;
            }
        }
        return new BarLayout(size, at, ioMask, wideMask);
    }

    boolean isIo(int bar) {
        return (ioMask >>> bar & 1) != 0;
    }

    boolean isWide(int bar) {
        return (wideMask >>> bar & 1) != 0;
    }

    int memoryBars() {
        int n = 0;
        for (int i = 0; i < 6; i++) {
            n += size[i] != 0 && !isIo(i) ? 1 : 0;
        }
        return n;
    }

    int ioBars() {
        return Integer.bitCount(ioMask);
    }

    /** One past the highest memory address placed, or {@code from} with no memory BAR. */
    long memoryEnd(long from) {
        long end = from;
        for (int i = 0; i < 6; i++) {
            if (size[i] != 0 && !isIo(i)) {
                end = Math.max(end, address[i] + size[i]);
            }
        }
        return end;
    }

    /** One past the highest port placed, or {@code from} with no I/O BAR. */
    long ioEnd(long from) {
        long end = from;
        for (int i = 0; i < 6; i++) {
            if (size[i] != 0 && isIo(i)) {
                end = Math.max(end, address[i] + size[i]);
            }
        }
        return end;
    }

    /** As {@link DriverTarget#loopTargets(BarLayout)} takes them: where each BAR was placed, -1 for none. */
    long mappedAddress(int bar) {
        return size[bar] == 0 ? -1 : address[bar];
    }
}
