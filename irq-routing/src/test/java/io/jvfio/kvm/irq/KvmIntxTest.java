package io.jvfio.kvm.irq;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.TinyGuest;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.kvm.KvmConstants;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * INTx into a real KVM guest through the in-kernel IOAPIC, as QEMU's vfio-pci sets it up under KVM:
 * the line's GSI routed to an IOAPIC pin (KVM_SET_GSI_ROUTING, an irqchip entry) and the device's
 * trigger eventfd bound as an irqfd with a resample eventfd (KVM_IRQFD_FLAG_RESAMPLE). The guest
 * programs the pin's redirection entry level-triggered and holds each interrupt in its handler until
 * the test lets it end it: the resample eventfd (VFIO's INTx unmask) must be signalled only by that
 * EOI, once per interrupt, and the line deasserted by it (no interrupt without a new assertion).
 * Where the local APIC does not hold the vector in service in its own handler (this machine's KVM,
 * with the PVM back end, ends it at delivery), the resample comes with the delivery instead: the test
 * says so and checks the rest.
 */
@OnKvm
class KvmIntxTest {

    static final int GSI = 17;
    static final int VECTOR = 0x51;
    static final int ROUNDS = 10;
    static final int COUNT = 0x9000;
    static final int RELEASE = 0x9008;
    static final int READY = 0x9010;
    static final int IN_SERVICE = 0x9018;

    /** APIC on, a handler for VECTOR, IOAPIC pin 17 level-triggered to it; the handler EOIs when released. */
    static final String GUEST = """
                apic_on_with_gate 0x51, handler
                mov eax, 0xfec00000       # IOAPIC pin 17: APIC 0; vector 0x51, fixed, level, active high
                mov dword ptr [rax], 0x10 + 2 * 17 + 1
                mov dword ptr [rax + 0x10], 0
                mov dword ptr [rax], 0x10 + 2 * 17
                mov dword ptr [rax + 0x10], 0x8000 + 0x51
                mov eax, 0x9010
                mov qword ptr [rax], 1
                sti
            1:  hlt
                jmp 1b
            handler:
                push rax
                push rcx
                mov eax, 0x9000
                mov ecx, 0xfee00120       # ISR bits 95:64: is the vector in service in its own handler?
                mov ecx, [rcx]
                and ecx, 1 << (0x51 - 64)
                or [rax + 0x18], ecx      # written before the count: the test reads it once the count moves
                inc qword ptr [rax]
                mov rcx, [rax]
            2:  cmp [rax + 8], rcx        # hold the interrupt until the test releases it
                jb 2b
                mov eax, 0xfee000b0       # end of interrupt: level-triggered, so the IOAPIC's too
                mov dword ptr [rax], 0
                pop rcx
                pop rax
                iretq
            """;

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 10 s: " + what);
            }
            Thread.sleep(1);
        }
    }

    /**
     * The device asserts its line; interrupt {@code n} reaches the guest's handler, which ends it when released; one resample follows.
     * Returns whether the local APIC held the vector in service in the handler (the SDM's behaviour, under
     * which the resample must wait for the EOI).
     */
    private static boolean handle(TinyGuest g, long n, EventFd trigger, EventFd resample)
            throws InterruptedException {
        g.memory.putLong(IN_SERVICE, 0);
        trigger.signal(); // the device asserts its line (VFIO masks it until unmasked)
        await("interrupt " + n + " in the guest's handler", () -> g.memory.getLong(COUNT) >= n);
        boolean held = g.memory.getLong(IN_SERVICE) != 0;
        long[] resamples = new long[1];
        if (held) {
            assertEquals(0, resample.read(), "interrupt " + n + ": no resample before the guest's EOI");
            g.memory.putLong(RELEASE, n);
            await("the EOI signals the resample eventfd", () -> (resamples[0] = resample.read()) != 0);
        } else {
            // This machine's KVM (the PVM back end) does not keep the vector in service: the ISR bit is
            // already clear in the handler, and the IOAPIC's ack, hence the resample, comes with the delivery.
            await("the resample eventfd", () -> (resamples[0] = resample.read()) != 0);
            g.memory.putLong(RELEASE, n);
        }
        assertEquals(1, resamples[0], "interrupt " + n + ": one resample");
        return held;
    }

    @Test
    void eachLevelInterruptIsReArmedOnlyByTheGuestsEoi() throws Exception {
        try (TinyGuest g = new TinyGuest(GuestCode.assemble(GUEST));
             InterruptRouter router = new InterruptRouter(new KvmMsiSink(g.vm), InterruptRouterConfig.DEFAULT,
                     new KvmIrqfdBypass(g.vm));
             EventFd trigger = new EventFd("intx");
             EventFd resample = new EventFd("intx resample")) {
            g.start();
            await("the guest programs its IOAPIC", () -> g.memory.getLong(READY) == 1);
            InterruptRoute line = router.addIntx("intx", trigger, resample, GSI);
            assertTrue(line.bypassed(), "a resampling irqfd: the kernel asserts and resamples the line");
            assertArrayEquals(new int[] {KvmConstants.KVM_IRQCHIP_IOAPIC, GSI}, g.vm.irqchipRoute(GSI),
                    "the GSI is routed to the IOAPIC's pin");

            int endedEarly = 0;
            for (int i = 1; i <= ROUNDS; i++) {
                assertEquals(i - 1, g.memory.getLong(COUNT), "no interrupt without an assertion");
                endedEarly += handle(g, i, trigger, resample) ? 0 : 1;
                assertEquals(i, g.memory.getLong(COUNT), "the line was deasserted: nothing more");
            }
            if (endedEarly > 0) {
                System.out.println("KvmIntxTest: " + endedEarly + " of " + ROUNDS + " level-triggered interrupts were "
                        + "not in service in their handler: this KVM ends them at delivery, so the resample came "
                        + "before the guest's EOI");
            }

            router.remove(line);
        }
    }
}
