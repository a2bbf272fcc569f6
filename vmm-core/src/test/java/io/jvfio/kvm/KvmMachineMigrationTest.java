package io.jvfio.kvm;

import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.testing.OnKvm;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest's KVM state moves to a second machine: the guest counts in a register, keeps values in an
 * XMM register, two MSRs, its local APIC (TPR and timer) and the IOAPIC, none of which the VMM sees
 * in RAM; the source stops it right after a port exit, its snapshot and RAM go to a machine of their
 * own, and the guest goes on there exactly where it was. Real /dev/kvm.
 */
@OnKvm
class KvmMachineMigrationTest {

    /** Where the guest writes its counter in RAM. */
    private static final int PROGRESS = 0x90000;

    /**
     * Sets the state, counts r12 from 1 to 6 (each round: the counter OUT to 0x510, an IN from 0x514
     * whose answer it adds to r13, with rcx pointing past the IN), then reads everything back out to
     * 0x518 and says it is done at 0x51c.
     */
    private static final String GUEST = """
                mov     rax, cr4
                or      rax, 0x600                  # OSFXSR, OSXMMEXCPT: SSE on
                mov     cr4, rax
                mov     rax, 0x1122334455667788
                movq    xmm5, rax
                mov     ecx, 0xc0000102             # IA32_KERNEL_GS_BASE
                mov     eax, 0x89abcdef
                mov     edx, 0x00001234             # canonical: bits 63:47 clear
                wrmsr
                mov     ecx, 0x175                  # IA32_SYSENTER_ESP
                mov     eax, 0x00c0ffee
                xor     edx, edx
                wrmsr
                mov     ebx, LAPIC
                mov     dword ptr [rbx + 0x80], 0x50        # TPR
                mov     dword ptr [rbx + 0x3e0], 0xb        # timer divide by 1
                mov     dword ptr [rbx + 0x320], 0x10040    # LVT timer: masked, vector 0x40
                mov     dword ptr [rbx + 0x380], 0x7fffffff # timer initial count
                mov     ebx, 0xfec00000                     # IOAPIC
                mov     dword ptr [rbx], 0x1a               # redirection entry 5, low half
                mov     dword ptr [rbx + 0x10], 0x10035     # masked, vector 0x35
                xor     r12, r12
                xor     r13, r13
            count:
                inc     r12
                mov     qword ptr [0x90000], r12
                mov     dx, 0x510
                mov     eax, r12d
                out     dx, eax
                mov     dx, 0x514
                lea     rcx, [rip + after_in]
                in      eax, dx
            after_in:
                add     r13, rax
                cmp     r12, 6
                jb      count
                mov     dx, 0x518
                movq    rax, xmm5
                out     dx, eax
                shr     rax, 32
                out     dx, eax
                mov     ecx, 0xc0000102
                rdmsr                               # into edx:eax, so the port is set again
                mov     r8d, edx
                mov     dx, 0x518
                out     dx, eax
                mov     eax, r8d
                out     dx, eax
                mov     ecx, 0x175
                rdmsr
                mov     dx, 0x518
                out     dx, eax
                mov     ebx, LAPIC
                mov     eax, [rbx + 0x80]
                out     dx, eax
                mov     eax, [rbx + 0x3e0]
                out     dx, eax
                mov     eax, [rbx + 0x320]
                out     dx, eax
                mov     eax, [rbx + 0x380]
                out     dx, eax
                mov     ebx, 0xfec00000
                mov     dword ptr [rbx], 0x1a
                mov     eax, [rbx + 0x10]
                out     dx, eax
                mov     rax, r13
                out     dx, eax
                mov     dx, 0x51c
                out     dx, al
            1:  hlt
                jmp     1b
            """;

    /** The guest's ports: the counters it reports, what it reads back, and where the vCPU is stopped. */
    static final class Ports implements BusDevice {
        final List<Long> counts = new CopyOnWriteArrayList<>();
        final List<Long> readBack = new CopyOnWriteArrayList<>();
        final KvmVcpu vcpu;
        /** Stop the vCPU during the IN of this round (0: never). */
        final long stopAtRound;

        Ports(KvmVcpu vcpu, long stopAtRound) {
            this.vcpu = vcpu;
            this.stopAtRound = stopAtRound;
        }

        @Override
        public long read(long offset, int size) {
            long round = counts.get(counts.size() - 1);
            if (round == stopAtRound) {
                vcpu.stop(); // during the IN's exit: its data goes to RAX on the completing KVM_RUN
            }
            return round * 0x100;
        }

        @Override
        public void write(long offset, int size, long value) {
            if (offset == 0) {
                counts.add(value);
            } else if (offset == 8) {
                readBack.add(value);
            } else if (offset == 12) {
                vcpu.stop();
            }
        }
    }

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    @Test
    void aGuestStoppedAfterAPortExitGoesOnExactlyOnASecondMachine() throws Exception {
        byte[] code = GuestCode.assemble(GUEST);
        byte[] state;
        ByteBuffer ram = ByteBuffer.allocate((int) TinyGuest.RAM);
        try (TinyGuest source = new TinyGuest(code)) {
            Ports ports = new Ports(source.vcpu, 3);
            source.space.pio().add("ports", 0x510, 16, ports);
            assertEquals(KvmVcpu.Stop.REQUESTED, source.start().await(60));
            assertEquals(List.of(1L, 2L, 3L), ports.counts);
            assertEquals(3, source.memory.getLong(PROGRESS));
            // The IN of round 3 is complete: RIP past it, its data in RAX.
            assertEquals(source.vcpu.register(X86Register.RCX), source.vcpu.register(X86Register.RIP),
                    "RIP is past the IN the vCPU stopped in");
            assertEquals(0x300, source.vcpu.register(X86Register.RAX), "the IN's data reached RAX");
            state = source.machine.snapshot();
            ram.put(source.memory.duplicate().clear());
        }

        try (TinyGuest destination = new TinyGuest(code)) {
            destination.memory.duplicate().clear().put(ram.flip());
            destination.machine.restore(state);
            Ports ports = new Ports(destination.vcpu, 0);
            destination.space.pio().add("ports", 0x510, 16, ports);
            assertEquals(KvmVcpu.Stop.REQUESTED, destination.start().await(60));
            assertEquals(List.of(4L, 5L, 6L), ports.counts, "the counter goes on from where it stopped");
            assertEquals(6, destination.memory.getLong(PROGRESS));
            long sum = 0x100L * (1 + 2 + 3 + 4 + 5 + 6);
            assertEquals(List.of(0x55667788L, 0x11223344L, // XMM5
                    0x89abcdefL, 0x1234L,                    // IA32_KERNEL_GS_BASE
                    0x00c0ffeeL,                            // IA32_SYSENTER_ESP
                    0x50L, 0xbL, 0x10040L, 0x7fffffffL,     // LAPIC: TPR, divide, LVT timer, initial count
                    0x10035L,                               // IOAPIC redirection entry 5
                    sum),                                   // r13: the sum across both machines
                    ports.readBack);
        }
    }

    @Test
    void aStateOfAnotherVcpuCountOrFormatVersionIsRefused() {
        byte[] twoVcpus;
        try (KvmMachine source = KvmMachine.create(2)) {
            twoVcpus = source.snapshot();
        }
        try (KvmMachine one = KvmMachine.create(1)) {
            MigrationException e = assertThrows(MigrationException.class, () -> one.restore(twoVcpus));
            assertTrue(e.getMessage().startsWith("the state has 2 vCPUs, this machine 1"), e.getMessage());

            byte[] own = one.snapshot();
            one.restore(own); // its own state fits
            ByteBuffer.wrap(own).order(ByteOrder.LITTLE_ENDIAN).putInt(KvmMachineState.VERSION_OFFSET, 2);
            e = assertThrows(MigrationException.class, () -> one.restore(own));
            assertTrue(e.getMessage().contains("format version 2, this jvfio reads version 1"), e.getMessage());
        }
    }

    @Test
    void aRunningMachineIsNotSnapshotted() throws Exception {
        try (TinyGuest g = new TinyGuest(GuestCode.assemble("1: pause\n jmp 1b"))) {
            g.start();
            IllegalStateException e = assertThrows(IllegalStateException.class, g.machine::snapshot);
            assertTrue(e.getMessage().contains("vCPUs run"), e.getMessage());
            g.machine.stopVcpus();
            g.machine.snapshot();
        }
    }
}
