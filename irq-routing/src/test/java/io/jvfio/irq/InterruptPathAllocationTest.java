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
             InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT
                     .withDeliveryThread(DeliveryThread.DISPATCHER).withWaitStrategy(wait))) {
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

    /**
     * INTx through the emulated IOAPIC allocates nothing either: the poller and dispatcher assert the
     * pin and deliver its entry, and the thread that ends the interrupt (the guest's, here the test's)
     * resamples the line and signals the unmask eventfd; with either thread delivering.
     */
    @ParameterizedTest
    @EnumSource(DeliveryThread.class)
    void theIntxPathThroughTheIoapicAllocatesNothing(DeliveryThread delivery) throws Exception {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        VirtualInterruptController apics = new VirtualInterruptController(1);
        io.jvfio.irq.ioapic.IoApic ioapic = new io.jvfio.irq.ioapic.IoApic(apics);
        ioapic.write(0x00, 4, 0x10 + 2 * 17);
        ioapic.write(0x10, 4, 0x8000 | 0x60); // level-triggered, vector 0x60, APIC 0
        AtomicLong arrived = new AtomicLong();
        LocalApic apic = apics.apic(0);
        apic.addListener((a, vector) -> arrived.incrementAndGet());
        try (EventFd device = new EventFd("alloc intx");
             EventFd unmask = new EventFd("alloc intx unmask");
             InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT.withDeliveryThread(delivery),
                     null, ioapic)) {
            router.addIntx("alloc intx", device, unmask, 17);
            runIntx(device, unmask, apic, arrived, WARM_UP);
            long[] ids = java.util.stream.LongStream.concat(Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().startsWith("jvfio-irq-")).mapToLong(Thread::getId),
                    java.util.stream.LongStream.of(Thread.currentThread().getId())).toArray();
            int interruptThreadCount = delivery == DeliveryThread.DISPATCHER ? 2 : 1;
            assertTrue(ids.length == interruptThreadCount + 1, "poller" + (interruptThreadCount == 2 ? ", dispatcher" : "")
                    + " and this thread: " + Arrays.toString(ids));
            // The smallest of three rounds: the JIT may still recompile a path in the first one (a frame
            // run in the interpreter allocates what compiled code does not), a one-off, not per interrupt.
            long interruptThreads = Long.MAX_VALUE;
            long eoiThread = Long.MAX_VALUE;
            for (int round = 0; round < 3; round++) {
                long[] before = threads.getThreadAllocatedBytes(ids);
                runIntx(device, unmask, apic, arrived, MEASURED);
                long[] after = threads.getThreadAllocatedBytes(ids);
                long byInterruptThreads = 0;
                for (int t = 0; t < interruptThreadCount; t++) {
                    byInterruptThreads += after[t] - before[t];
                }
                interruptThreads = Math.min(interruptThreads, byInterruptThreads);
                eoiThread = Math.min(eoiThread, after[interruptThreadCount] - before[interruptThreadCount]);
            }
            System.out.printf("INTx (" + delivery + "): %d bytes allocated by the interrupt threads and %d by the thread that ends the "
                    + "interrupts, over %d interrupts%n", interruptThreads, eoiThread, MEASURED);
            assertTrue(interruptThreads < 4096, interruptThreads + " bytes over " + MEASURED + " INTx interrupts");
            assertTrue(eoiThread < 4096, eoiThread + " bytes over " + MEASURED + " INTx interrupts, ending them");
        }
    }

    /** Assert, deliver, acknowledge, end: each EOI must resample the line and signal the unmask eventfd. */
    private static void runIntx(EventFd device, EventFd unmask, LocalApic apic, AtomicLong arrived, int n) {
        for (int i = 0; i < n; i++) {
            raiseAndAwait(device, arrived, "INTx", i);
            apic.acknowledge();
            apic.endOfInterrupt();
            if (unmask.read() != 1) {
                throw new AssertionError("INTx " + i + ": the EOI did not signal the unmask eventfd once");
            }
        }
    }

    /** One interrupt at a time, each delivered before the next: the dispatcher idles between them. */
    private static void run(EventFd device, AtomicLong arrived, int n) {
        for (int i = 0; i < n; i++) {
            raiseAndAwait(device, arrived, "interrupt", i);
        }
    }

    /**
     * Signals the device's eventfd and waits, within 5 s, for the interrupt to arrive. The message is
     * built only on failure: the calling thread's allocation is measured too.
     */
    private static void raiseAndAwait(EventFd device, AtomicLong arrived, String what, int i) {
        long before = arrived.get();
        device.signal();
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (arrived.get() == before) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " " + i + " was not delivered");
            }
            Thread.yield();
        }
    }
}
