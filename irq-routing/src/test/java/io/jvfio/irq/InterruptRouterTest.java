package io.jvfio.irq;

import io.jvfio.irq.ioapic.IoApic;
import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Routes over real eventfds, through the poller, the ring and the dispatcher. */
class InterruptRouterTest {

    private final VirtualInterruptController apics = new VirtualInterruptController(2);
    private final InterruptRouter router = new InterruptRouter(apics);
    private final EventFd fd = new EventFd("device");

    @AfterEach
    void tearDown() {
        router.close();
        fd.close();
    }

    @Test
    void anInterruptReachesTheApicAndIsCounted() throws Exception {
        InterruptRoute r = router.addMsi("dev msi 0", RouteKind.MSI, fd, MsiMessage.fixed(1, 0x41), false);
        fd.signal();
        Await.until("delivery", 5000, () -> apics.apic(1).isPending(0x41));
        RouteStats s = r.stats();
        assertEquals(1, s.delivered());
        assertEquals(1, s.messages());
        assertEquals(0, s.coalesced());
        assertEquals(1, s.latencyCount(), "the time from read to delivery is recorded");
        assertTrue(s.latencyP50Nanos() > 0);
    }

    @Test
    void coalescedSignalsAreCarriedAsACount() throws Exception {
        InterruptRoute r = router.addMsi("dev", RouteKind.MSI, fd, MsiMessage.fixed(0, 0x42), false);
        fd.signal(5); // five interrupts the kernel merged before anyone read them
        Await.until("delivery", 5000, () -> r.stats().messages() == 1);
        RouteStats s = r.stats();
        assertEquals(5, s.delivered());
        assertEquals(4, s.coalesced());
    }

    @Test
    void whileMaskedAnInterruptIsPendingAndUnmaskDeliversItOnce() throws Exception {
        AtomicInteger arrivals = new AtomicInteger();
        apics.apic(0).addListener((a, v) -> arrivals.incrementAndGet());
        InterruptRoute r = router.addMsi("dev msix 3", RouteKind.MSIX, fd, MsiMessage.fixed(0, 0x50), true);
        fd.signal();
        fd.signal(2);
        Await.until("the poller reads the masked route", 5000, () -> r.stats().maskedPending() == 3);
        assertTrue(r.pending(), "the PBA bit");
        assertEquals(0, arrivals.get(), "nothing delivered while masked");
        assertEquals(3, r.stats().pendingCount());

        r.unmask();
        assertEquals(1, arrivals.get(), "delivered once");
        assertFalse(r.pending());
        RouteStats s = r.stats();
        assertEquals(3, s.delivered());
        assertEquals(1, s.messages());
        r.unmask();
        assertEquals(1, arrivals.get(), "and only once");

        fd.signal();
        Await.until("an unmasked interrupt", 5000, () -> arrivals.get() == 2);
    }

    @Test
    void undeliverableInterruptsAreCountedNotThrown() throws Exception {
        InterruptRoute unprogrammed = router.addMsi("early", RouteKind.MSI, fd, null, false);
        fd.signal();
        Await.until("counted", 5000, () -> unprogrammed.stats().undeliverable() == 1);
        unprogrammed.program(new MsiMessage(0xFEE00000L, 3)); // reserved vector
        fd.signal();
        Await.until("counted", 5000, () -> unprogrammed.stats().undeliverable() == 2);
        unprogrammed.program(MsiMessage.fixed(0, 0x60));
        fd.signal();
        Await.until("delivered once programmed", 5000, () -> unprogrammed.stats().delivered() == 1);
        assertEquals(3, unprogrammed.stats().messages());
    }

    @Test
    void intxAssertsItsIoapicPinAndIsResampledOnEndOfInterrupt() throws Exception {
        IoApic ioapic = new IoApic(apics);
        ioapic.write(0x00, 4, 0x10 + 2 * 17);
        ioapic.write(0x10, 4, 0x8000 | 0x70); // pin 17: vector 0x70, level, unmasked, APIC 0
        try (InterruptRouter lines = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, null, ioapic);
             EventFd unmask = new EventFd("intx-unmask")) {
            InterruptRoute line = lines.addIntx("dev intx", fd, unmask, 17);
            fd.signal();
            Await.until("the line asserts", 5000, () -> apics.apic(0).isPending(0x70));
            assertTrue(ioapic.asserted(17));
            fd.signal(); // the device fires again before the guest is done: merged into the asserted line
            Await.until("merged", 5000, () -> line.stats().delivered() == 2);
            assertEquals(1, line.stats().messages());
            assertEquals(1, ioapic.delivered(), "one message while the line is up");
            assertEquals(0, unmask.read(), "no unmask before EOI");

            assertEquals(0x70, apics.apic(0).acknowledge());
            apics.apic(0).endOfInterrupt();
            assertEquals(1, unmask.read(), "EOI signals the unmask eventfd, so VFIO re-arms the line");
            assertFalse(ioapic.asserted(17), "and the line went down");

            fd.signal();
            Await.until("asserted again", 5000, () -> line.stats().messages() == 2);
            Await.until("delivered again", 5000, () -> apics.apic(0).isPending(0x70));
            lines.remove(line);
            assertFalse(ioapic.asserted(17), "a removed line is down");
        }
    }

    @Test
    void intxWiredNowhereIsCountedNotDelivered() throws Exception {
        try (EventFd unmask = new EventFd("intx-unmask")) {
            InterruptRoute line = router.addIntx("dev intx", fd, unmask, -1);
            fd.signal();
            Await.until("counted", 5000, () -> line.stats().undeliverable() == 1);
            assertEquals(-1, apics.apic(0).highestPending());
        }
    }

    @Test
    void reprogrammingWhileInterruptsFlowIsSafe() throws Exception {
        InterruptRoute r = router.addMsi("moving", RouteKind.MSIX, fd, MsiMessage.fixed(0, 0x80), false);
        Thread storm = new Thread(() -> {
            for (int i = 0; i < 20_000; i++) {
                fd.signal();
            }
        });
        storm.start();
        for (int i = 0; storm.isAlive(); i++) {
            r.program(MsiMessage.fixed(i & 1, 0x80 + (i & 0xF)));
            if ((i & 7) == 0) {
                r.mask();
                r.unmask();
            }
        }
        storm.join();
        Await.until("everything read", 10_000, () -> {
            RouteStats s = r.stats();
            return s.delivered() + s.undeliverable() + s.pendingCount() == 20_000;
        });
        assertEquals(0, r.stats().undeliverable());
    }

    @Test
    void removingARouteKeepsItsCounts() throws Exception {
        InterruptRoute r = router.addMsi("gone", RouteKind.MSI, fd, MsiMessage.fixed(0, 0x90), false);
        fd.signal(4);
        Await.until("delivered", 5000, () -> r.stats().delivered() == 4);
        router.remove(r);
        assertTrue(router.routes().isEmpty());
        fd.signal(); // no longer watched: it stays in the eventfd for its owner
        InterruptRouter.Totals t = router.shutdown();
        assertEquals(4, t.delivered());
        assertEquals(1, fd.read());
    }
}
