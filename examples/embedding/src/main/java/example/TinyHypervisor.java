package example;

import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.kvm.Vcpus;
import io.jvfio.kvm.X86LongMode;
import io.jvfio.machine.VirtualMachine;
import io.jvfio.memory.X86RamLayout;
import io.jvfio.vfio.devices.EduDevice;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.device.AttachedDevices;
import io.jvfio.vmm.pci.PciDevFn;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A hypervisor in one class, on jvfio's public API: a VM with 16 MiB of RAM and one KVM vCPU, and
 * QEMU's edu device written in Java, hosted in this process. The guest, a few instructions in 64-bit
 * mode, does what firmware and a driver would: it places edu's BAR 0 through the PCI config space
 * (ECAM), turns memory decoding on, reads the device's identification register (BAR 0 offset 0) and
 * writes it to I/O port {@link #REPORT_PORT}, where the host catches it and stops the vCPU.
 *
 * <p>Exits 0 when the guest read 0x010000ed (edu version 1.0), 1 otherwise. A read that reaches no
 * device returns all-ones (0xffffffff); where the host bridge decodes BAR 0 after the guest's writes
 * ({@link Result#bar0()}) tells a BAR that never decoded (the config writes went elsewhere, decoding
 * stayed off, an address the bridge does not decode) from a device that answered wrongly.
 */
public final class TinyHypervisor {

    /**
     * Where the guest places BAR 0: at the bottom of the PCI hole below 4 GiB, above RAM, as the
     * {@code jvfio} command's built-in driver places BARs (page tables map that GiB uncached).
     */
    static final long BAR0 = X86RamLayout.BELOW_4G_END;
    static final int REPORT_PORT = 0x0510;
    static final long CODE = X86LongMode.TABLES_END;
    static final long STACK = 0x10000; // above the code; the guest pushes nothing
    static final long STACK_SIZE = 0x1000;
    static final int EDU_ID = 0x010000ed;

    private TinyHypervisor() {
    }

    /** What the guest wrote to the report port (-1: nothing), and where BAR 0 decoded then (-1: nowhere). */
    public record Result(long reported, long bar0) {
    }

    /** Builds the VM, runs the guest and returns what it reported. */
    public static Result run() throws Exception {
        try (EduDevice edu = new EduDevice();
             VirtualMachine vm = VirtualMachine.builder()
                     .memory("16M")
                     .accelerator(VirtualMachine.Accelerator.KVM)
                     .vcpus(1)
                     // A device written in Java, hosted in this process: the guest sees it through the
                     // same passthrough device model as a vfio-user or kernel VFIO device.
                     .device("edu", edu)
                     .build()) {
            AttachedDevices.Attached attached = vm.devices().attached().get(0);
            System.out.println("edu attached at 00:" + attached.at() + ", vendor:device "
                    + String.format("%04x:%04x", vm.bridge().configRead(attached.at().devfn(), 0x00, 2),
                    vm.bridge().configRead(attached.at().devfn(), 0x02, 2)));

            Vcpus vcpus = vm.vcpus();
            AtomicLong reported = new AtomicLong(-1);
            vm.space().pio().add("report", REPORT_PORT, 4, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return 0;
                }

                @Override
                public void write(long offset, int size, long value) {
                    reported.set(value);
                    vcpus.stopAll(); // the guest is done: with an in-kernel APIC a HLT would not exit
                }
            });

            // The guest in 64-bit mode with no firmware: page tables, the code at CODE, the vCPU's registers.
            LongModeProgram program = LongModeProgram.of(guestCode(vm.bridge().ecamBase() + ecamOffset(attached.at())),
                    CODE, STACK, STACK_SIZE);
            program.start(vm.memory().ram().slice(0, program.extent()), vcpus);

            List<KvmVcpu.Stop> stops = vcpus.start(vm.space()).awaitAll(Duration.ofSeconds(30));
            Result result = new Result(reported.get(), vm.bridge().mappedAddress(attached.at(), 0));
            System.out.println("vCPU stopped: " + stops + "; the guest reported 0x" + Long.toHexString(result.reported())
                    + "; BAR 0 decodes at 0x" + Long.toHexString(result.bar0()));
            return result;
        }
    }

    /** Where {@code at}'s config space is in the ECAM window (PCIe 6.0 §7.2.2: bus << 20 | dev << 15 | fn << 12). */
    static long ecamOffset(PciDevFn at) {
        return (long) at.devfn() << 12;
    }

    /** The guest, hand-assembled x86-64 (the comments are the assembly). */
    static byte[] guestCode(long ecam) {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x48).put((byte) 0xBB).putLong(ecam);                  // mov rbx, ecam
        b.put((byte) 0xC7).put((byte) 0x43).put((byte) 0x10).putInt((int) BAR0); // mov dword [rbx+0x10], BAR0
        b.put((byte) 0x66).put((byte) 0xC7).put((byte) 0x43).put((byte) 0x04)
                .putShort((short) 0x0002);                                  // mov word [rbx+4], MEMORY
        b.put((byte) 0x48).put((byte) 0xB8).putLong(BAR0);                  // mov rax, BAR0
        b.put((byte) 0x8B).put((byte) 0x00);                                // mov eax, [rax]  (edu: ID)
        b.put((byte) 0x66).put((byte) 0xBA).putShort((short) REPORT_PORT);  // mov dx, REPORT_PORT
        b.put((byte) 0xEF);                                                 // out dx, eax
        b.put((byte) 0xF4);                                                 // hlt
        b.put((byte) 0xEB).put((byte) 0xFD);                                // jmp hlt
        byte[] code = new byte[b.position()];
        b.flip().get(code);
        return code;
    }

    public static void main(String[] args) throws Exception {
        Result r = run();
        if (r.reported() != EDU_ID) {
            System.err.println("TinyHypervisor: the guest read 0x" + Long.toHexString(r.reported())
                    + " from edu's BAR 0, not 0x" + Integer.toHexString(EDU_ID) + (r.bar0() == BAR0 ? ""
                    : "; BAR 0 does not decode at 0x" + Long.toHexString(BAR0) + " (the guest's config writes missed)"));
            System.exit(1);
        }
        System.out.println("TinyHypervisor: edu's identification register reads 0x" + Integer.toHexString(EDU_ID)
                + " from the guest: OK");
    }
}
