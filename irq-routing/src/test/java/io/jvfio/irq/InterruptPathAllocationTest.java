package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The interrupt path allocates nothing: bytes allocated by the poller and dispatcher threads over
 * many interrupts, read from the JVM's per-thread allocation counters. (A count of bytes, not a
 * measure of time.)
 */
class InterruptPathAllocationTest {

    private static final int WARM_UP = 20_000;
    private static final int MEASURED = 50_000;

    @ParameterizedTest
    @EnumSource(WaitStrategyOption.class)
    void pollerAndDispatcherAllocateNothingPerInterrupt(WaitStrategyOption wait) throws Exception {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        VirtualInterruptController apics = new VirtualInterruptController(1);
        AtomicLong arrived = new AtomicLong();
        apics.apic(0).addListener((apic, vector) -> arrived.incrementAndGet());
        try (EventFd device = new EventFd("alloc");
             InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT.withWaitStrategy(wait))) {
            router.addMsi("alloc", RouteKind.MSIX, device, MsiMessage.fixed(0, 0x40), false);
            run(device, arrived, WARM_UP);
            long[] ids = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("jvfio-irq-")).mapToLong(Thread::getId).toArray();
            assertTrue(ids.length == 2, "poller and dispatcher threads: " + Arrays.toString(ids));
            long before = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum();
            run(device, arrived, MEASURED);
            long allocated = Arrays.stream(threads.getThreadAllocatedBytes(ids)).sum() - before;
            System.out.printf("%s: %d bytes allocated by the interrupt threads over %d interrupts%n",
                    wait.option(), allocated, MEASURED);
            // A few hundred bytes of slack for a lazily loaded class; anything per interrupt would be megabytes.
            assertTrue(allocated < 4096, wait.option() + ": " + allocated + " bytes over " + MEASURED + " interrupts");
        }
    }

    /** One interrupt at a time, each delivered before the next: the dispatcher idles between them. */
    private static void run(EventFd device, AtomicLong arrived, int n) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            long before = arrived.get();
            device.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (arrived.get() == before) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("interrupt " + i + " was not delivered");
                }
                Thread.yield();
            }
        }
    }
}
