package io.jvfio.kvm.irq;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.irq.EmulatedTrigger;
import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.InterruptRouterConfig;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.kvm.GuestCode;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.TinyGuest;
import io.jvfio.vmm.bus.BusDevice;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * MSI-X vectors aimed at each of two vCPUs of a real KVM guest, by the destination ID in the message
 * address (0xFEE00000 | APIC ID << 12, physical mode), through both paths: the user-space one
 * (eventfd, poller, ring, KVM_SIGNAL_MSI by {@link KvmMsiSink}) and the kernel's (an MSI GSI route and
 * an irqfd, by {@link KvmIrqfdBypass}). Each vCPU's handler counts in a row of its own, picked by the
 * APIC ID it reads from its local APIC, and a column per vector, so a vector delivered to the wrong
 * vCPU shows up in the other row.
 */
@OnKvm
class KvmTwoVcpuMsiTest {

    static final int N = 500;
    /** The vector aimed at APIC 0, and the one aimed at APIC 1. */
    static final int[] VECTOR = {0x40, 0x41};
    /** Counters: a row of two u64 per APIC ID (one per vector), at COUNTS + 16 * id + 8 * column. */
    static final int COUNTS = 0x9000;
    static final int PORT = 0x500;

    /**
     * Every vCPU runs it: enables its local APIC, installs a gate per vector, reports its APIC ID on
     * PORT, and halts between interrupts. The handler counts (locked: both vCPUs write the page), ends
     * the interrupt, and writes PORT + 1 so that the host's wait wakes.
     */
    static final String GUEST = """
                apic_on_with_gate 0x40, to_apic0
                apic_on_with_gate 0x41, to_apic1
                mov eax, 0xfee00020       # local APIC ID register: the ID in bits 31:24
                mov eax, [rax]
                shr eax, 24
                mov dx, 0x500             # ready
                out dx, al
                sti
            1:  hlt
                jmp 1b
            to_apic0:
                push rbx
                xor ebx, ebx              # column 0
                jmp count
            to_apic1:
                push rbx
                mov ebx, 8                # column 1
            count:
                push rax
                push rdx
                mov eax, 0xfee00020
                mov eax, [rax]
                shr eax, 24               # the row: this vCPU's APIC ID
                shl eax, 4
                add ebx, eax
                lock inc qword ptr [rbx + 0x9000]
                mov eax, 0xfee000b0       # end of interrupt
                mov dword ptr [rax], 0
                mov dx, 0x501             # counted
                out dx, al
                pop rdx
                pop rax
                pop rbx
                iretq
            """;

    /** The guest's writes to PORT and PORT + 1, which wake the host's waits (no polling, no sleeps). */
    static final class Signals implements BusDevice {
        private final String[] readyOn = new String[2];

        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public synchronized void write(long offset, int size, long value) {
            if (offset == 0) {
                readyOn[(int) value] = Thread.currentThread().getName();
            }
            notifyAll();
        }

        synchronized String readyOn(int apic) {
            return readyOn[apic];
        }

        /** Waits, at most 30 s, until {@code condition}, checked after each guest write. */
        synchronized void await(BooleanSupplier condition, Supplier<String> what)
                throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!condition.getAsBoolean()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("timed out waiting: " + what.get());
                }
                TimeUnit.NANOSECONDS.timedWait(this, left);
            }
        }
    }

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    private static long count(TinyGuest g, int apic, int column) {
        return g.memory.getLong(COUNTS + 16 * apic + 8 * column);
    }

    private static long[][] counts(TinyGuest g) {
        return new long[][] {{count(g, 0, 0), count(g, 0, 1)}, {count(g, 1, 0), count(g, 1, 1)}};
    }

    @ParameterizedTest(name = "bypass {0}")
    @ValueSource(booleans = {false, true})
    void eachVcpuCountsExactlyTheVectorsAimedAtItsApic(boolean bypass) throws Exception {
        Signals signals = new Signals();
        try (TinyGuest g = new TinyGuest(GuestCode.assemble(GUEST), 2);
             InterruptRouter router = new InterruptRouter(new KvmMsiSink(g.vm), InterruptRouterConfig.DEFAULT,
                     new KvmIrqfdBypass(g.vm));
             EmulatedTrigger toApic0 = new EmulatedTrigger("to APIC 0");
             EmulatedTrigger toApic1 = new EmulatedTrigger("to APIC 1")) {
            g.space.pio().add("signals", PORT, 2, signals);
            g.start();
            signals.await(() -> signals.readyOn(0) != null && signals.readyOn(1) != null,
                    () -> "both vCPUs set up their APIC and IDT: " + g.vcpus);
            assertEquals("vcpu0", signals.readyOn(0), "KVM gives vCPU i APIC ID i");
            assertEquals("vcpu1", signals.readyOn(1));

            InterruptRoute[] routes = {
                router.addMsi("to APIC 0", RouteKind.MSIX, toApic0.trigger(), MsiMessage.fixed(0, VECTOR[0]), false,
                        bypass ? toApic0 : null),
                router.addMsi("to APIC 1", RouteKind.MSIX, toApic1.trigger(), MsiMessage.fixed(1, VECTOR[1]), false,
                        bypass ? toApic1 : null)};
            assertEquals(0xFEE0_1000L, routes[1].message().address(), "APIC ID 1 in the destination field, bits 19:12");
            for (InterruptRoute r : routes) {
                assertEquals(bypass, r.bypassed(), "the kernel delivers while unmasked, if allowed");
            }

            // One at a time per APIC: an edge-triggered vector already pending in an APIC takes no second.
            for (int i = 1; i <= N; i++) {
                toApic0.signal();
                toApic1.signal();
                int round = i;
                signals.await(() -> count(g, 0, 0) >= round && count(g, 1, 1) >= round,
                        () -> "round " + round + ", counts " + Arrays.deepToString(counts(g)));
            }
            long[][] counted = counts(g);
            System.out.printf("bypass %s: vCPU 0 counted %d of vector 0x%x and %d of 0x%x; vCPU 1 %d and %d%n", bypass,
                    counted[0][0], VECTOR[0], counted[0][1], VECTOR[1], counted[1][0], counted[1][1]);
            assertArrayEquals(new long[] {N, 0}, counted[0], "vCPU 0 counted its own and none aimed at APIC 1");
            assertArrayEquals(new long[] {0, N}, counted[1], "vCPU 1 counted its own and none aimed at APIC 0");
            for (InterruptRoute r : routes) {
                assertEquals(bypass ? 0 : N, r.stats().delivered(),
                        bypass ? "the bypass passes no user-space counter" : "each went through the ring");
                router.remove(r);
            }

            g.vcpus.stopAll();
            assertEquals(List.of(KvmVcpu.Stop.REQUESTED, KvmVcpu.Stop.REQUESTED), g.awaitAll(10));
        }
    }
}
