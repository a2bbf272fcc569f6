package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a route hands an MSI-X vector to the kernel's bypass and takes it back: the bypass eventfd
 * bound once, before the device is switched to it, never while the device may be signalling it; the
 * device switched back on mask, and the route's trigger read the whole time.
 *
 * <p>The bypass here is a test double that records what it is asked: the real one is KVM's irqfd
 * ({@code KvmIrqfdBypass}), which needs /dev/kvm; KvmInterruptStormTest, KvmTwoVcpuMsiTest and
 * PassthroughTwoVcpuTest run it on KVM. The eventfds, the poller, the ring and the APICs are real.
 */
class InterruptRouteBypassTest {

    /** What was asked, in order: of the bypass and of the device. */
    private final List<String> log = new ArrayList<>();
    private final VirtualInterruptController apics = new VirtualInterruptController(1);
    private final AtomicInteger arrivals = new AtomicInteger();
    private final RecordingBypass bypass = new RecordingBypass();
    private final InterruptRouter router = new InterruptRouter(apics, InterruptRouterConfig.DEFAULT, bypass);
    private final EmulatedTrigger device = new EmulatedTrigger("dev");
    private final DeviceTrigger logged = new DeviceTrigger() {
        @Override
        public EventFd bypassEventFd() {
            return device.bypassEventFd();
        }

        @Override
        public void signalOn(EventFd eventfd) {
            synchronized (log) {
                log.add(eventfd == device.bypassEventFd() ? "device on bypass" : "device on trigger");
            }
            device.signalOn(eventfd);
        }
    };

    {
        apics.apic(0).addListener((a, v) -> arrivals.incrementAndGet());
    }

    @AfterEach
    void tearDown() {
        router.close();
        device.close();
    }

    final class RecordingBypass implements InterruptBypass {
        boolean refuse;

        @Override
        public Binding bind(EventFd trigger, MsiMessage message) {
            if (refuse) {
                throw new IllegalStateException("no GSI left");
            }
            synchronized (log) {
                log.add("bind " + (trigger == device.bypassEventFd() ? "bypass eventfd" : trigger.fd().name()) + " to "
                        + message);
            }
            return new Binding() {
                @Override
                public void update(MsiMessage m) {
                    synchronized (log) {
                        log.add("update to " + m);
                    }
                }

                @Override
                public void unbind() {
                    synchronized (log) {
                        log.add("unbind");
                    }
                }
            };
        }

        @Override
        public Binding bindLine(EventFd trigger, EventFd resample, int gsi) {
            throw new UnsupportedOperationException("no lines in this test");
        }
    }

    private List<String> log() {
        synchronized (log) {
            return List.copyOf(log);
        }
    }

    @Test
    void theBypassEventFdIsBoundBeforeTheDeviceSignalsItAndStaysBoundAcrossMasks() throws Exception {
        MsiMessage m = MsiMessage.fixed(0, 0x50);
        InterruptRoute r = router.addMsi("dev msix 0", RouteKind.MSIX, device.trigger(), m, false, logged);
        assertEquals(List.of("bind bypass eventfd to " + m, "device on bypass"), log());
        assertTrue(r.bypassed());
        device.signal();
        assertEquals(1, device.bypassEventFd().read(), "the signal went to the kernel's eventfd");
        assertEquals(0, device.trigger().read());

        r.mask();
        r.unmask();
        r.mask();
        assertEquals(List.of("bind bypass eventfd to " + m, "device on bypass", "device on trigger",
                "device on bypass", "device on trigger"), log(), "bound once; masking switches the device only");
        assertFalse(r.bypassed());

        device.signal();
        device.signal();
        Await.until("the masked route reads its trigger", 5000, () -> r.stats().maskedPending() == 2);
        assertTrue(r.pending());
        assertEquals(0, arrivals.get());
        r.unmask();
        assertEquals(1, arrivals.get(), "what was pending is delivered once, from user space");
        assertTrue(r.bypassed());
        assertEquals(0, device.bypassEventFd().read(), "and not also by the kernel");

        MsiMessage moved = MsiMessage.fixed(0, 0x51);
        r.program(moved);
        assertEquals("update to " + moved, log().get(log().size() - 1), "a new message updates the bound route");
        router.remove(r);
        assertEquals("unbind", log().get(log().size() - 1));
        assertEquals(1, log().stream().filter(e -> e.startsWith("bind")).count());
    }

    @Test
    void aSignalThatWasOnItsWayToTheTriggerIsStillDeliveredAfterTheSwitch() throws Exception {
        InterruptRoute r = router.addMsi("dev msix 1", RouteKind.MSIX, device.trigger(), MsiMessage.fixed(0, 0x52),
                true, logged);
        assertFalse(r.bypassed(), "masked: the device signals the trigger");
        r.unmask();
        assertTrue(r.bypassed());
        device.trigger().signal(); // raised before the switch, read after it
        Await.until("the late signal is delivered", 5000, () -> arrivals.get() == 1);
        assertEquals(1, r.stats().delivered());
    }

    @Test
    void anUnprogrammedVectorStaysWithTheDeviceOnItsTrigger() {
        InterruptRoute r = router.addMsi("dev msix 2", RouteKind.MSIX, device.trigger(), null, false, logged);
        assertFalse(r.bypassed());
        assertEquals(List.of(), log());
        r.program(MsiMessage.fixed(0, 0x53));
        assertTrue(r.bypassed());
        assertTrue(device.onBypass());
    }

    @Test
    void aRefusedBindLeavesTheRouteOnTheUserSpacePath() throws Exception {
        bypass.refuse = true;
        InterruptRoute r = router.addMsi("dev msix 3", RouteKind.MSIX, device.trigger(), MsiMessage.fixed(0, 0x54),
                false, logged);
        assertFalse(r.bypassed());
        assertFalse(device.onBypass(), "the device is not switched to an eventfd nobody reads");
        device.signal();
        Await.until("delivery from user space", 5000, () -> arrivals.get() == 1);
    }

    @Test
    void theBypassEventFdMustNotBeTheTrigger() {
        DeviceTrigger same = new DeviceTrigger() {
            @Override
            public EventFd bypassEventFd() {
                return device.trigger();
            }

            @Override
            public void signalOn(EventFd eventfd) {
            }
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> router.addMsi("dev", RouteKind.MSIX, device.trigger(), MsiMessage.fixed(0, 0x55), false, same));
        assertTrue(e.getMessage().contains("must not be the route's trigger"), e.getMessage());
    }
}
