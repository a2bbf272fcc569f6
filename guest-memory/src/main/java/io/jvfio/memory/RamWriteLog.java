package io.jvfio.memory;

import io.jvfio.vmm.migration.DirtyLog;
import io.jvfio.vmm.migration.DirtyPages;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The log of the guest pages the VMM itself wrote through {@link GuestRam}'s write methods (a device
 * emulated in Java, a DMA copy, the launcher loading code): the third writer of guest RAM beside the
 * vCPUs (KVM's dirty log) and devices' own DMA (VFIO's). Views ({@link GuestRam#slice}) and host
 * addresses ({@link GuestRam#hostAddress}) are outside it: whoever writes through those has its own log.
 *
 * <p>Off, a write pays one volatile read. On, each written 4 KiB page sets a bit in a bitmap per 1 GiB of
 * guest-physical space, after the store: a {@link #collect} that races a write reports the page then or
 * at the next collect, never not at all.
 */
final class RamWriteLog implements DirtyLog {

    /** The page the log counts in: x86's 4 KiB, the unit of KVM's dirty bitmap and of the migration stream. */
    static final int PAGE_SHIFT = 12;
    private static final int CHUNK_SHIFT = 30;
    private static final int PAGES_PER_CHUNK = 1 << (CHUNK_SHIFT - PAGE_SHIFT);

    private volatile boolean on;
    private final Map<Long, AtomicLongArray> chunks = new ConcurrentHashMap<>();

    /** {@code [gpa, gpa + length)} was just written. */
    void written(long gpa, long length) {
        if (!on || length <= 0) {
            return;
        }
        long first = gpa >>> PAGE_SHIFT;
        long last = (gpa + length - 1) >>> PAGE_SHIFT;
        for (long page = first; page <= last; page++) {
            AtomicLongArray bits = chunks.computeIfAbsent(page >>> (CHUNK_SHIFT - PAGE_SHIFT),
                    k -> new AtomicLongArray(PAGES_PER_CHUNK / 64));
            int index = (int) (page & (PAGES_PER_CHUNK - 1));
            long mask = 1L << (index & 63);
            if ((bits.get(index >>> 6) & mask) == 0) {
                bits.getAndUpdate(index >>> 6, w -> w | mask);
            }
        }
    }

    @Override
    public void start() {
        chunks.clear();
        on = true;
    }

    @Override
    public void collect(DirtyPages into) {
        for (Map.Entry<Long, AtomicLongArray> c : chunks.entrySet()) {
            long base = c.getKey() << CHUNK_SHIFT;
            AtomicLongArray bits = c.getValue();
            for (int w = 0; w < bits.length(); w++) {
                if (bits.get(w) == 0) {
                    continue;
                }
                long word = bits.getAndSet(w, 0);
                while (word != 0) {
                    int bit = Long.numberOfTrailingZeros(word);
                    // A run of set bits is reported as one range.
                    int run = Long.numberOfTrailingZeros(~(word >>> bit));
                    long page = (long) w * 64 + bit;
                    into.dirty(base + (page << PAGE_SHIFT), (long) run << PAGE_SHIFT);
                    word &= run == 64 ? 0 : ~(((1L << run) - 1) << bit);
                }
            }
        }
    }

    @Override
    public void stop() {
        on = false;
        chunks.clear();
    }

    boolean logging() {
        return on;
    }
}
