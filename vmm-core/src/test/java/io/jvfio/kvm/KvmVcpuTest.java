package io.jvfio.kvm;

import io.jvfio.vmm.testing.OnKvm;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.linux.MemoryMapping;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real vCPU on this machine's /dev/kvm running small 64-bit guests. */
@OnKvm
class KvmVcpuTest {

    /** Records what the guest does to it; reads answer 0x1000 + offset. */
    static final class Recorder implements BusDevice {
        final List<String> log = new CopyOnWriteArrayList<>();
        final KvmVcpu[] stopOn = new KvmVcpu[1];
        final long stopPort;

        Recorder(long stopPort) {
            this.stopPort = stopPort;
        }

        @Override
        public long read(long offset, int size) {
            log.add("read " + offset + "/" + size);
            return 0x1000 + offset;
        }

        @Override
        public void write(long offset, int size, long value) {
            log.add("write " + offset + "/" + size + "=0x" + Long.toHexString(value));
            if (offset == stopPort && stopOn[0] != null) {
                stopOn[0].stop();
            }
        }
    }

    @BeforeEach
    void kvm() {
        TinyGuest.requireKvm();
    }

    @Test
    void portAndMmioExitsReachTheBusesAndDirectMemoryExitsNever() throws Exception {
        byte[] code = GuestCode.assemble("""
                mov dx, 0x500
                mov eax, 0x12345678
                out dx, eax
                mov ebx, 0xc0000000
                mov eax, [rbx + 8]        # MMIO read: an exit
                add eax, 1
                mov [rbx + 16], eax       # MMIO write: an exit
                mov esi, 0xd0000000
                mov ecx, [rsi]            # directly mapped: no exit
                add ecx, 2
                mov [rsi + 4], ecx        # no exit
                mov dx, 0x502
                out dx, al                # stop
            1:  hlt
                jmp 1b
                """);
        Recorder ports = new Recorder(2);
        Recorder mmio = new Recorder(-1);
        try (TinyGuest g = new TinyGuest(code);
             MemoryMapping bar = MemoryMapping.anonymous(0x1000, PROT_READ | PROT_WRITE, "direct BAR")) {
            ports.stopOn[0] = g.vcpu;
            g.space.pio().add("ports", 0x500, 8, ports);
            g.space.mmio().add("trapped BAR", 0xc000_0000L, 0x1000, mmio);
            bar.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).putInt(0, 40);
            g.space.mapDirect("direct BAR", 0xd000_0000L, 0x1000, bar.address(), true);
            assertEquals(2, g.vm.memorySlots(), "RAM and the direct BAR are memory slots");
            assertEquals(KvmVcpu.Stop.REQUESTED, g.start().await(30));
            assertEquals(List.of("write 0/4=0x12345678", "write 2/1=0x9"), ports.log);
            assertEquals(List.of("read 8/4", "write 16/4=0x1009"), mmio.log);
            assertEquals(42, bar.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).getInt(4), "the guest's store landed");
            assertEquals(2, g.vcpu.exits().mmio(), "one exit per trapped access, none for the mapped ones");
            assertEquals(2, g.vcpu.exits().io());
        }
    }

    /** Registers set before the run are the guest's inputs, and its result is read back after it. */
    @Test
    void registersSetBeforeTheRunReachTheGuestAndItsResultComesBack() throws Exception {
        byte[] code = GuestCode.assemble("""
                mov rax, rbx
                add rax, r12              # a 64-bit sum of the two inputs
                mov dx, 0x502
                out dx, al                # stop
            1:  hlt
                jmp 1b
                """);
        Recorder ports = new Recorder(2);
        try (TinyGuest g = new TinyGuest(code)) {
            ports.stopOn[0] = g.vcpu;
            g.space.pio().add("ports", 0x500, 8, ports);
            g.vcpu.setRegister(X86Register.RBX, 0x1234_5678_0000_0001L);
            g.vcpu.setRegister(X86Register.R12, 0x0000_0001_ffff_ffffL);
            assertEquals(GuestCode.LOAD, g.vcpu.register(X86Register.RIP), "setting one register kept the others");
            assertEquals(KvmVcpu.Stop.REQUESTED, g.start().await(30));
            assertEquals(0x1234_567a_0000_0000L, g.vcpu.register(X86Register.RAX));
            assertEquals(0x1234_5678_0000_0001L, g.vcpu.register(X86Register.RBX));
        }
    }

    /**
     * The guest moves a mapped BAR (here the host does what the PCI bridge does when the guest writes
     * the BAR register, on the vCPU thread, during the exit): the memory slot follows it, the old
     * address traps again, and the new one is memory without exits.
     */
    @Test
    void aMovedBarTakesItsMemorySlotAlong() throws Exception {
        byte[] code = GuestCode.assemble("""
                mov esi, 0xd0000000
                mov eax, [rsi]            # at the first address: no exit
                mov dx, 0x500
                out dx, eax               # report it; the host moves the BAR
                mov edi, 0xe0000000
                mov eax, [rdi]            # at the new address: no exit
                out dx, eax
                mov eax, [rsi]            # the old address: an MMIO exit now
                out dx, eax
                mov dx, 0x502
                out dx, al
            1:  hlt
                jmp 1b
                """);
        Recorder mmio = new Recorder(-1);
        try (TinyGuest g = new TinyGuest(code);
             MemoryMapping bar = MemoryMapping.anonymous(0x1000, PROT_READ | PROT_WRITE, "direct BAR")) {
            bar.byteBuffer().order(ByteOrder.LITTLE_ENDIAN).putInt(0, 0x5a5a);
            io.jvfio.vmm.bus.DirectRegion[] at = {g.space.mapDirect("BAR", 0xd000_0000L, 0x1000, bar.address(), true)};
            g.space.mmio().add("old place", 0xd000_0000L, 0x1000, mmio);
            List<Long> reported = new CopyOnWriteArrayList<>();
            long[] mmioExitsAtReport = new long[3];
            g.space.pio().add("ports", 0x500, 4, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return 0;
                }

                @Override
                public void write(long offset, int size, long value) {
                    if (offset == 2) {
                        g.vcpu.stop();
                        return;
                    }
                    mmioExitsAtReport[reported.size()] = g.vcpu.exits().mmio();
                    reported.add(value);
                    if (reported.size() == 1) {
                        g.space.unmapDirect(at[0]);
                        at[0] = g.space.mapDirect("BAR", 0xe000_0000L, 0x1000, bar.address(), true);
                    }
                }
            });
            assertEquals(2, g.vm.memorySlots());
            assertEquals(KvmVcpu.Stop.REQUESTED, g.start().await(30));
            assertEquals(List.of(0x5a5aL, 0x5a5aL, 0x1000L), reported, "the old address reached the trapping device");
            assertEquals(0, mmioExitsAtReport[0]);
            assertEquals(0, mmioExitsAtReport[1], "the slot moved with the BAR");
            assertEquals(1, mmioExitsAtReport[2]);
            assertEquals(List.of("read 0/4"), mmio.log);
            assertEquals(2, g.vm.memorySlots(), "one slot for the BAR, wherever it is");
        }
    }

    @Test
    void aStoppedGuestResumesWhereItStopped() throws Exception {
        byte[] code = GuestCode.assemble("""
                mov dx, 0x502
                mov al, 1
                out dx, al                # stop
                mov dx, 0x500
                mov eax, 7
                out dx, eax               # only on the second run
                mov dx, 0x502
                out dx, al                # stop again
            1:  hlt
                jmp 1b
                """);
        Recorder ports = new Recorder(2);
        try (TinyGuest g = new TinyGuest(code)) {
            ports.stopOn[0] = g.vcpu;
            g.space.pio().add("ports", 0x500, 4, ports);
            assertEquals(KvmVcpu.Stop.REQUESTED, g.start().await(30));
            assertEquals(List.of("write 2/1=0x1"), ports.log);
            assertEquals(KvmVcpu.Stop.REQUESTED, g.start().await(30));
            assertEquals(List.of("write 2/1=0x1", "write 0/4=0x7", "write 2/1=0x7"), ports.log);
        }
    }

    @Test
    void aHaltedVcpuIsKickedOutOfTheKernel() throws Exception {
        byte[] code = GuestCode.assemble("""
                sti
            1:  hlt                       # no interrupt will come: KVM_RUN sleeps in the kernel
                jmp 1b
                """);
        try (TinyGuest g = new TinyGuest(code)) {
            g.start();
            TimeUnit.MILLISECONDS.sleep(300);
            long before = System.nanoTime();
            g.vcpu.stop();
            assertEquals(KvmVcpu.Stop.REQUESTED, g.await(10));
            assertTrue(System.nanoTime() - before < 5_000_000_000L);
            assertTrue(g.vcpu.exits().get(io.jvfio.vmm.linux.kvm.KvmConstants.KVM_EXIT_INTR) >= 1, g.vcpu.toString());
        }
    }

    @Test
    void aTripleFaultEndsTheRunLoop() throws Exception {
        byte[] code = GuestCode.assemble("""
                mov eax, 0xfffff000      # no IDT yet: the #PF on an unmapped address triple-faults
                mov rax, 0x123456789000
                mov eax, [rax]
                """);
        try (TinyGuest g = new TinyGuest(code)) {
            assertEquals(KvmVcpu.Stop.SHUTDOWN, g.start().await(30));
        }
    }
}
