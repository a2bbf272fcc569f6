package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several threads hammer 64 eventfds; every increment written must be accounted for, for every wait
 * strategy of the ring and with the poller delivering, and stopping in the middle must neither hang nor
 * lose anything.
 */
class InterruptStormTest {

    private static final int SOURCES = 64;
    private static final int WRITERS = 4;
    private static final int TOTAL = 1_000_000;

    @ParameterizedTest
    @EnumSource(WaitStrategyOption.class)
    void everyIncrementIsDeliveredThroughTheRing(WaitStrategyOption wait) throws Exception {
        everyIncrementIsDelivered(InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.DISPATCHER)
                .withWaitStrategy(wait).withRingSize(1024), wait.option());
    }

    @Test
    void everyIncrementIsDeliveredByThePoller() throws Exception {
        everyIncrementIsDelivered(InterruptRouterConfig.DEFAULT.withDeliveryThread(DeliveryThread.POLLER), "poller");
    }

    private void everyIncrementIsDelivered(InterruptRouterConfig config, String what) throws Exception {
        VirtualInterruptController apics = new VirtualInterruptController(2);
        List<EventFd> fds = new ArrayList<>();
        List<InterruptRoute> routes = new ArrayList<>();
        try (InterruptRouter router = new InterruptRouter(apics, config)) {
            for (int i = 0; i < SOURCES; i++) {
                EventFd fd = new EventFd("storm" + i);
                fds.add(fd);
                routes.add(router.addMsi("storm " + i, RouteKind.MSIX, fd, MsiMessage.fixed(i & 1, 0x20 + i), false));
            }
            AtomicLongArray written = new AtomicLongArray(SOURCES);
            List<Thread> writers = new ArrayList<>();
            for (int w = 0; w < WRITERS; w++) {
                int self = w;
                Thread t = new Thread(() -> {
                    for (int i = 0; i < TOTAL / WRITERS; i++) {
                        int source = (i * WRITERS + self) % SOURCES;
                        fds.get(source).signal();
                        written.incrementAndGet(source);
                    }
                }, "storm-writer-" + w);
                writers.add(t);
                t.start();
            }
            for (Thread t : writers) {
                t.join();
            }
            Await.until("all " + TOTAL + " increments delivered with " + what, 120_000,
                    () -> router.totals().delivered() == TOTAL);
            long sum = 0;
            long messages = 0;
            for (int i = 0; i < SOURCES; i++) {
                RouteStats s = routes.get(i).stats();
                assertEquals(written.get(i), s.delivered(), "source " + i);
                assertEquals(0, s.undeliverable());
                sum += s.delivered();
                messages += s.messages();
            }
            assertEquals(TOTAL, sum);
            System.out.printf("%s: %d increments delivered in %d messages (%d coalesced in the eventfds)%n",
                    what, sum, messages, sum - messages);
        } finally {
            fds.forEach(EventFd::close);
        }
    }

    /** With the ring (a small one, so that it fills) and with the poller delivering. */
    @ParameterizedTest
    @EnumSource(DeliveryThread.class)
    void stoppingDuringAStormHangsNothingAndLosesNothing(DeliveryThread delivery) throws Exception {
        VirtualInterruptController apics = new VirtualInterruptController(1);
        List<EventFd> fds = new ArrayList<>();
        InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT.withDeliveryThread(delivery)
                .withRingSize(64));
        for (int i = 0; i < SOURCES; i++) {
            EventFd fd = new EventFd("storm" + i);
            fds.add(fd);
            router.addMsi("storm " + i, RouteKind.MSI, fd, MsiMessage.fixed(0, 0x30), false);
        }
        AtomicBoolean go = new AtomicBoolean(true);
        AtomicLongArray written = new AtomicLongArray(1);
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < WRITERS; w++) {
            int self = w;
            Thread t = new Thread(() -> {
                for (int i = 0; go.get(); i++) {
                    fds.get((i + self) % SOURCES).signal();
                    written.incrementAndGet(0);
                }
            });
            writers.add(t);
            t.start();
        }
        Thread.sleep(300);

        long before = System.nanoTime();
        InterruptRouter.Totals totals = router.shutdown();
        long stopMillis = (System.nanoTime() - before) / 1_000_000;

        go.set(false);
        for (Thread t : writers) {
            t.join();
        }
        long leftInEventfds = 0;
        for (EventFd fd : fds) {
            leftInEventfds += fd.read();
            fd.close();
        }
        System.out.printf(delivery + ": stopped during a storm in %d ms: %s, %d left in the eventfds, %d written%n", stopMillis,
                totals, leftInEventfds, written.get(0));
        assertTrue(stopMillis < 10_000, "shutdown took " + stopMillis + " ms");
        assertTrue(totals.delivered() > 0, "the storm was running: " + totals);
        // Every increment is in exactly one place: delivered, refused, pending, or still in its eventfd.
        assertEquals(written.get(0), totals.delivered() + totals.undeliverable() + totals.pending()
                + totals.removedRouteInterrupts() + totals.strandedAtShutdown() + leftInEventfds, totals.toString());
    }
}
