package io.jvfio.benchmarks.support;

import io.jvfio.kvm.Kvm;
import io.jvfio.kvm.KvmMachine;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.KvmVm;
import io.jvfio.kvm.LongModeProgram;
import io.jvfio.kvm.X86Register;
import io.jvfio.kvm.memory.KvmRamSlots;
import io.jvfio.memory.GuestMemory;
import io.jvfio.memory.MemoryBackend;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.BusDevice;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * A benchmark's KVM guest, built from jvfio's own parts: a {@link KvmMachine} with one vCPU, 16 MiB
 * of guest RAM on a memfd installed as a memory slot, and a guest program assembled by the build
 * ({@code src/main/guest/*.s}) put into long mode at 0x10000 ({@link LongModeProgram}).
 */
public final class KvmGuest implements AutoCloseable {

    public static final long LOAD = 0x10000;
    public static final long STACK = 0x80000;
    public static final long STACK_SIZE = 0x10000;
    public static final long RAM_SIZE = 16 << 20;

    public final KvmMachine machine;
    public final KvmVm vm;
    public final GuestMemory memory = new GuestMemory();
    public final AddressSpace space = new AddressSpace();
    public final KvmVcpu vcpu;

    /** Builds the guest and loads {@code program} (a resource name under io/jvfio/benchmarks/guest/). */
    public KvmGuest(String program) {
        String problem = Kvm.problem();
        if (problem != null) {
            throw new IllegalStateException(Kvm.DEVICE + " is not usable here (" + problem
                    + "): the KVM benchmarks cannot run");
        }
        LongModeProgram code = LongModeProgram.of(load(program), LOAD, STACK, STACK_SIZE);
        machine = KvmMachine.create(1);
        vm = machine.vm();
        vcpu = machine.vcpus().get(0);
        try {
            memory.addListener(new KvmRamSlots(vm));
            space.addListener(vm);
            memory.addRegion("bench-ram", 0, MemoryBackend.memfd("bench-ram", RAM_SIZE, false));
            code.start(memory.ram().slice(0, code.extent()), machine.vcpus());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * A port that ends the current run when the guest writes to it (on the vCPU thread: the run
     * returns after this exit): how the benchmarks' programs say a round is over.
     */
    public void stopAtPortWrite(int port) {
        space.pio().add("done", port, 1, new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return 0;
            }

            @Override
            public void write(long offset, int size, long value) {
                vcpu.stop();
            }
        });
    }

    /** Sets general registers before the first run (the program's inputs). */
    public void setRegister(X86Register register, long value) {
        vcpu.setRegister(register, value);
    }

    static byte[] load(String program) {
        String resource = "/io/jvfio/benchmarks/guest/" + program;
        try (InputStream in = KvmGuest.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is missing: the build assembles it from "
                        + "benchmarks/src/main/guest (binutils' as and ld)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Guest RAM (its memory slots first), then the machine. */
    @Override
    public void close() {
        try {
            memory.close();
        } finally {
            machine.close();
        }
    }
}
