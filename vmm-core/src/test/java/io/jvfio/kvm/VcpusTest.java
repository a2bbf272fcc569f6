package io.jvfio.kvm;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.bus.BusDevice;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Two real vCPUs of this machine's /dev/kvm (which recommends 2), each on its own thread. */
@OnKvm
class VcpusTest {

    /** Each vCPU reports its local APIC ID on port 0x500, then halts with interrupts off. */
    static final String REPORT_AND_HALT = """
                mov eax, 0xfee00020       # local APIC ID register: the ID in bits 31:24
                mov eax, [rax]
                shr eax, 24
                mov dx, 0x500
                out dx, al
                cli
            1:  hlt
                jmp 1b
            """;

    /** Records, per APIC ID reported, the thread and the vCPU the write came in on. */
    static final class Reports implements BusDevice {
        final Map<Long, String> thread = new ConcurrentHashMap<>();
        final Map<Long, KvmVcpu> vcpu = new ConcurrentHashMap<>();
        final CountDownLatch all;
        final long failOn;

        Reports(int expected, long failOn) {
            this.all = new CountDownLatch(expected);
            this.failOn = failOn;
        }

        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            thread.put(value, Thread.currentThread().getName());
            vcpu.put(value, Vcpus.current());
            all.countDown();
            if (value == failOn) {
                throw new IllegalStateException("device failure on APIC " + value);
            }
        }
    }

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    @Test
    void eachVcpuRunsOnItsOwnThreadAndAllStopTogether() throws Exception {
        Reports reports = new Reports(2, -1);
        try (TinyGuest g = new TinyGuest(GuestCode.assemble(REPORT_AND_HALT), 2)) {
            g.space.pio().add("reports", 0x500, 1, reports);
            g.start();
            assertTrue(reports.all.await(30, TimeUnit.SECONDS), "both vCPUs reported: " + reports.thread);
            assertEquals(Map.of(0L, "vcpu0", 1L, "vcpu1"), reports.thread, "APIC ID i on thread vcpu<i>");
            assertSame(g.vcpus.get(0), reports.vcpu.get(0L));
            assertSame(g.vcpus.get(1), reports.vcpu.get(1L));
            assertNull(Vcpus.current(), "not a vCPU thread");

            TimeoutException t = assertThrows(TimeoutException.class, () -> g.vcpus.awaitAll(Duration.ofMillis(100)));
            assertEquals("vcpu0, vcpu1 still running after 100 ms", t.getMessage());

            g.vcpus.stopAll(); // both are halted in the kernel: each is kicked out
            assertEquals(List.of(KvmVcpu.Stop.REQUESTED, KvmVcpu.Stop.REQUESTED), g.awaitAll(10));
            assertEquals(2, g.vcpus.exits(io.jvfio.vmm.linux.kvm.KvmConstants.KVM_EXIT_IO), g.vcpus.toString());
        }
    }

    @Test
    void theFirstFailureStopsTheOtherVcpusAndIsThrown() throws Exception {
        Reports reports = new Reports(2, 1);
        try (TinyGuest g = new TinyGuest(GuestCode.assemble(REPORT_AND_HALT), 2)) {
            g.space.pio().add("reports", 0x500, 1, reports);
            g.start();
            // vCPU 1's device fails: vCPU 0, halted in the kernel with interrupts off, is stopped for it.
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.awaitAll(30));
            assertEquals("device failure on APIC 1", e.getMessage());
            assertFalse(g.vcpus.running());
        }
    }

    @Test
    void aTripleFaultOnOneVcpuStopsTheOthers() throws Exception {
        byte[] code = GuestCode.assemble("""
                    mov eax, 0xfee00020
                    mov eax, [rax]
                    shr eax, 24
                    cmp eax, 1
                    jne 1f
                    mov rax, 0x123456789000   # vCPU 1, no IDT: the #PF on an unmapped address triple-faults
                    mov eax, [rax]
                1:  cli
                2:  hlt
                    jmp 2b
                """);
        try (TinyGuest g = new TinyGuest(code, 2)) {
            assertEquals(List.of(KvmVcpu.Stop.REQUESTED, KvmVcpu.Stop.SHUTDOWN), g.start().awaitAll(30));
        }
    }
}
