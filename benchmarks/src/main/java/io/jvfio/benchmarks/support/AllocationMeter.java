package io.jvfio.benchmarks.support;

import java.lang.management.ManagementFactory;

/**
 * What a hot path allocates, measured apart from JMH: after a benchmark's measurement (its code
 * compiled and warm), the state runs more operations with every thread's allocation counter read
 * before and after them, so JMH's own per-iteration sample buffers and statistics (which
 * {@code -prof gc} counts, spread over the operations) are left out. The threads the operation wakes
 * (poller, dispatcher, event loops, the vCPU) are counted with it.
 */
public final class AllocationMeter {

    public static final int OPERATIONS = 2000;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private AllocationMeter() {
    }

    /** Runs {@code operation} {@value #OPERATIONS} times and says what every thread allocated meanwhile. */
    public static String measure(Runnable operation) {
        long[] ids = THREADS.getAllThreadIds();
        long[] before = new long[ids.length];
        long[] after = new long[ids.length];
        read(ids, before); // once to settle, once to measure
        read(ids, before);
        for (int i = 0; i < OPERATIONS; i++) {
            operation.run();
        }
        read(ids, after);
        long bytes = 0;
        for (int i = 0; i < ids.length; i++) {
            if (before[i] >= 0 && after[i] >= 0) {
                bytes += after[i] - before[i];
            }
        }
        return String.format("%,d more operations after the measurement allocated %,d bytes in all threads "
                + "(%.2f B/op)", OPERATIONS, bytes, (double) bytes / OPERATIONS);
    }

    private static void read(long[] ids, long[] into) {
        for (int i = 0; i < ids.length; i++) {
            into[i] = THREADS.getThreadAllocatedBytes(ids[i]);
        }
    }
}
