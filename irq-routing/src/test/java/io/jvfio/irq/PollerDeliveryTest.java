package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link DeliveryThread#POLLER}: the poller delivers what it reads, with the same rules as the ring's dispatcher. */
class PollerDeliveryTest {

    private static final InterruptRouterConfig POLLER =
            InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.POLLER);

    @Test
    void thePollerDeliversOnItsOwnThreadAndMaskingStillHoldsInterruptsPending() throws Exception {
        VirtualInterruptController apics = new VirtualInterruptController(1);
        AtomicLong arrivals = new AtomicLong();
        String[] deliveredOn = new String[1];
        apics.apic(0).addListener((a, v) -> {
            deliveredOn[0] = Thread.currentThread().getName();
            arrivals.incrementAndGet();
        });
        try (EventFd device = new EventFd("poller device"); InterruptRouter router = new InterruptRouter(apics, POLLER)) {
            InterruptRoute r = router.addMsi("dev", RouteKind.MSIX, device, MsiMessage.fixed(0, 0x44), false);
            device.signal();
            Await.until("delivery", 5000, () -> arrivals.get() == 1);
            assertEquals("jvfio-irq-poll", deliveredOn[0], "delivered by the poller, not through the ring");

            r.mask();
            device.signal(3);
            Await.until("the masked route reads its eventfd", 5000, () -> r.stats().maskedPending() == 3);
            assertTrue(r.pending());
            assertEquals(1, arrivals.get());
            r.unmask();
            assertEquals(2, arrivals.get(), "what was pending, once");
            assertFalse(r.pending());
            assertEquals(4, r.stats().delivered());
            assertEquals(1, r.stats().latencyCount(), "the poller's delivery is timed from its read, as the ring's is");
        }
    }

    @Test
    void noDispatcherThreadIsStartedWhenThePollerDelivers() {
        // Threads of routers closed by earlier tests may still be ending: count only the new ones.
        Set<Thread> before = dispatcherThreads();
        try (InterruptRouter router = new InterruptRouter(new VirtualInterruptController(1), POLLER)) {
            assertEquals(Set.of(), newThreads(before), "a router whose poller delivers starts no dispatcher");
        }
        try (InterruptRouter router = new InterruptRouter(new VirtualInterruptController(1),
                InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.DISPATCHER))) {
            assertEquals(1, newThreads(before).size(), "the ring's dispatcher runs when it delivers");
        }
    }

    private static Set<Thread> dispatcherThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("jvfio-irq-dispatch"))
                .collect(Collectors.toSet());
    }

    private static Set<Thread> newThreads(Set<Thread> before) {
        Set<Thread> now = dispatcherThreads();
        now.removeAll(before);
        return now;
    }

    @Test
    void thePollersDeliveryAllocatesNothing() throws Exception {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        VirtualInterruptController apics = new VirtualInterruptController(1);
        AtomicLong arrivals = new AtomicLong();
        apics.apic(0).addListener((a, v) -> arrivals.incrementAndGet());
        try (EventFd device = new EventFd("poller alloc"); InterruptRouter router = new InterruptRouter(apics, POLLER)) {
            router.addMsi("alloc", RouteKind.MSIX, device, MsiMessage.fixed(0, 0x45), false);
            LocalApic apic = apics.apic(0);
            long poller = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("jvfio-irq-poll"))
                    .mapToLong(Thread::getId).findFirst().orElseThrow();
            run(device, apic, arrivals, 20_000);
            long before = threads.getThreadAllocatedBytes(poller);
            run(device, apic, arrivals, 50_000);
            long allocated = threads.getThreadAllocatedBytes(poller) - before;
            assertTrue(allocated < 4096, allocated + " bytes allocated by the poller over 50000 interrupts");
        }
    }

    /** One interrupt at a time: signal, wait until the APIC has it, acknowledge and end it. */
    private static void run(EventFd device, LocalApic apic, AtomicLong arrivals, int n) throws InterruptedException {
        for (int i = 0; i < n; i++) {
            long target = arrivals.get() + 1;
            device.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (arrivals.get() < target) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("interrupt " + i + " did not arrive");
                }
                Thread.onSpinWait();
            }
            apic.acknowledge();
            apic.endOfInterrupt();
        }
    }
}
