package io.jvfio.kvm.irq;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.irq.EmulatedTrigger;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.TinyGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Interrupts into a real KVM guest, counted by the guest's own handler: through the Disruptor path
 * (eventfd, poller, ring, KVM_SIGNAL_MSI) and through the irqfd bypass (the kernel injects), one at
 * a time so that none merges with another (an edge-triggered vector pending in the APIC takes no
 * second), and masked vectors held as pending and delivered once on unmask, also while bypassed.
 */
@OnKvm
class KvmInterruptStormTest {

    static final int INTERRUPTS = 2000;
    static final int VECTOR = 0x40;
    static final int COUNTER = 0x9000;

    /** Where the guest says it is ready: its APIC and IDT set up. */
    static final int READY = 0x9008;

    /**
     * Enables its local APIC, installs a handler for VECTOR that counts, says it is ready, and halts
     * between interrupts.
     */
    static final String GUEST = """
                apic_on_with_gate 0x40, handler
                mov eax, 0x9008           # ready
                mov qword ptr [rax], 1
                sti
            1:  hlt
                jmp 1b
            handler:
                push rax
                mov eax, 0x9000
                inc qword ptr [rax]
                mov eax, 0xfee000b0       # end of interrupt
                mov dword ptr [rax], 0
                pop rax
                iretq
            """;

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    private static long counted(TinyGuest g) {
        return g.memory.getLong(COUNTER);
    }

    private static void awaitCount(TinyGuest g, long n) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (counted(g) < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the guest counted " + counted(g) + " interrupts, expected " + n);
            }
            Thread.onSpinWait();
        }
    }

    @ParameterizedTest(name = "bypass {0}")
    @ValueSource(booleans = {false, true})
    void everyInterruptRaisedIsCountedByTheGuest(boolean bypass) throws Exception {
        try (TinyGuest g = new TinyGuest(GuestCode.assemble(GUEST));
             InterruptRouter router = new InterruptRouter(new KvmMsiSink(g.vm), InterruptRouterConfig.DEFAULT,
                     new KvmIrqfdBypass(g.vm));
             EmulatedTrigger device = new EmulatedTrigger("storm")) {
            g.start();
            long ready = System.nanoTime() + 10_000_000_000L;
            while (g.memory.getLong(READY) != 1) { // the guest sets up its APIC and IDT
                if (System.nanoTime() > ready) {
                    throw new AssertionError("the guest did not set up its APIC and IDT within 10 s");
                }
                Thread.onSpinWait();
            }
            InterruptRoute route = router.addMsi("storm", RouteKind.MSIX, device.trigger(), MsiMessage.fixed(0, VECTOR),
                    false, bypass ? device : null);
            assertEquals(bypass, route.bypassed(), "the kernel delivers while unmasked, if allowed");
            assertEquals(bypass, device.onBypass(), "and the device signals the kernel's eventfd");
            for (int i = 1; i <= INTERRUPTS; i++) {
                device.signal();
                awaitCount(g, i);
            }
            Thread.sleep(100); // a window for an interrupt counted twice to show (nothing to wait for)
            assertEquals(INTERRUPTS, counted(g), "none lost, none twice");
            assertEquals(bypass ? 0 : INTERRUPTS, route.stats().delivered(),
                    bypass ? "the bypass passes no user-space counter" : "each went through the ring");

            // Masked: held as pending (the bypass steps aside so the pending bit is kept), delivered once on unmask.
            route.mask();
            assertFalse(route.bypassed());
            assertFalse(device.onBypass(), "masked: the device signals the route's trigger again");
            device.signal();
            device.signal();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!route.pending() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(route.pending(), "a masked interrupt is pending");
            assertEquals(INTERRUPTS, counted(g), "and not delivered");
            route.unmask();
            awaitCount(g, INTERRUPTS + 1);
            assertFalse(route.pending());
            assertEquals(bypass, route.bypassed(), "back on the kernel's path after unmask");
            device.signal();
            awaitCount(g, INTERRUPTS + 2);
            router.remove(route);
        }
    }
}
