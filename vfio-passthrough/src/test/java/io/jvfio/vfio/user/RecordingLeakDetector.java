package io.jvfio.vfio.user;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;

import java.util.ArrayList;
import java.util.List;

/**
 * Netty's leak detector, which only logs a leak, made to keep what it reports so that a test can
 * fail on it. Netty builds its detectors (the one of every ByteBuf among them) through
 * {@code ResourceLeakDetectorFactory}, whose default factory instantiates the class named by the
 * system property {@code io.netty.customResourceLeakDetector}: this module's surefire configuration
 * names this class, so it is in place before the first buffer class loads. Reports are still logged.
 *
 * <p>A leak is seen only after the collector has enqueued the lost buffer, and reported only when a
 * later buffer is tracked: {@link #collect} does both.
 */
public final class RecordingLeakDetector<T> extends ResourceLeakDetector<T> {

    private static final List<String> REPORTS = new ArrayList<>();
    private static final List<String> TYPES = new ArrayList<>();

    public RecordingLeakDetector(Class<?> resourceType, int samplingInterval) {
        super(resourceType, samplingInterval);
        synchronized (REPORTS) {
            TYPES.add(resourceType.getSimpleName());
        }
    }

    public RecordingLeakDetector(Class<?> resourceType, int samplingInterval, long maxActive) {
        this(resourceType, samplingInterval);
    }

    @Override
    protected void reportTracedLeak(String resourceType, String records) {
        super.reportTracedLeak(resourceType, records);
        record("LEAK: " + resourceType + " released by nobody; last accesses:" + records);
    }

    @Override
    protected void reportUntracedLeak(String resourceType) {
        super.reportUntracedLeak(resourceType);
        record("LEAK: " + resourceType + " released by nobody (no access records)");
    }

    @Override
    protected void reportInstancesLeak(String resourceType) {
        super.reportInstancesLeak(resourceType);
        record("LEAK: too many instances of " + resourceType);
    }

    private static void record(String report) {
        synchronized (REPORTS) {
            REPORTS.add(report);
        }
    }

    /**
     * Fails unless ByteBuf's detector is this class: a run without the surefire property (an IDE run,
     * say) would otherwise count no leak whatever happened.
     */
    public static void requireInstalled() {
        PooledByteBufAllocator.DEFAULT.directBuffer(1).release(); // loads the buffer classes and their detector
        synchronized (REPORTS) {
            if (!TYPES.contains("ByteBuf")) {
                throw new AssertionError("Netty's ByteBuf leak detector is not " + RecordingLeakDetector.class.getName()
                        + ", so leaks would only be logged: run with -Dio.netty.customResourceLeakDetector="
                        + RecordingLeakDetector.class.getName() + " (vfio-passthrough's surefire configuration sets it)");
            }
        }
    }

    /**
     * Makes lost buffers known: collects garbage (which enqueues a lost buffer's tracker), then
     * tracks a few buffers (each look at the queue reports what is there). Returns the number of
     * reports so far, to compare with a later call.
     */
    public static int collect() throws InterruptedException {
        for (int round = 0; round < 3; round++) {
            collectGarbage();
            ByteBufAllocator a = PooledByteBufAllocator.DEFAULT;
            for (int i = 0; i < 8; i++) {
                a.directBuffer(16).release();
                a.heapBuffer(16).release();
            }
        }
        synchronized (REPORTS) {
            return REPORTS.size();
        }
    }

    /**
     * A full collection, returning once the reference handler has enqueued what it found: a sentinel
     * reachable only weakly is enqueued with the lost buffers' trackers of the same collection.
     */
    static void collectGarbage() throws InterruptedException {
        java.lang.ref.ReferenceQueue<Object> queue = new java.lang.ref.ReferenceQueue<>();
        java.lang.ref.WeakReference<Object> sentinel = new java.lang.ref.WeakReference<>(new Object(), queue);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (queue.remove(100) == null) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("a weakly reachable object was not collected within 10 s");
            }
            System.gc();
        }
        java.lang.ref.Reference.reachabilityFence(sentinel);
    }

    /** The reports from number {@code from} on. */
    public static List<String> reportsSince(int from) {
        synchronized (REPORTS) {
            return List.copyOf(REPORTS.subList(Math.min(from, REPORTS.size()), REPORTS.size()));
        }
    }
}
