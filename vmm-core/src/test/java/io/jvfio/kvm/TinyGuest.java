package io.jvfio.kvm;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.linux.MemoryMapping;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * A {@link KvmMachine} with one vCPU (or a few) running a test program in long mode
 * ({@link LongModeProgram}, at {@link GuestCode#LOAD}), 16 MiB of anonymous RAM at 0, its exits going
 * to an address space the test fills with devices. Every vCPU starts at the program's first
 * instruction, vCPU i with its stack at {@code STACK - i * STACK_SIZE}; the guest tells them apart by
 * its local APIC ID (KVM gives vCPU i APIC ID i). Real /dev/kvm; the test is skipped, with the
 * reason, where there is none.
 */
public final class TinyGuest implements AutoCloseable {

    public static final long RAM = 16 << 20;
    public static final long STACK = 0x80000;
    public static final long STACK_SIZE = 0x10000;

    public final KvmMachine machine;
    public final Kvm kvm;
    public final KvmVm vm;
    /** vCPU 0. */
    public final KvmVcpu vcpu;
    public final Vcpus vcpus;
    public final MemoryMapping ram;
    public final ByteBuffer memory;
    public final AddressSpace space = new AddressSpace();

    /** Skips the test, or fails it under -Djvfio.kvm=required, where there is no usable /dev/kvm. */
    public static void requireKvm() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
    }

    public TinyGuest(byte[] code) {
        this(code, 1);
    }

    /**
     * A guest with {@code cpus} vCPUs, all starting at the program's first instruction; more than fit
     * their stacks between the program and {@link #STACK} are refused ({@link LongModeProgram#start}).
     */
    public TinyGuest(byte[] code, int cpus) {
        machine = KvmMachine.create(cpus);
        kvm = machine.kvm();
        vm = machine.vm();
        vcpus = machine.vcpus();
        vcpu = vcpus.get(0);
        MemoryMapping mapping = null;
        try {
            mapping = MemoryMapping.anonymous(RAM, PROT_READ | PROT_WRITE, "tiny guest RAM");
            memory = mapping.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            vm.addMemory(0, RAM, mapping.address(), false);
            space.addListener(vm);
            LongModeProgram.of(code, GuestCode.LOAD, STACK, STACK_SIZE).start(memory, vcpus);
        } catch (RuntimeException e) {
            machine.close();
            if (mapping != null) {
                mapping.close();
            }
            throw e;
        }
        ram = mapping;
    }

    /** Runs each vCPU on its own thread. */
    public TinyGuest start() {
        vcpus.start(space);
        return this;
    }

    /** Waits for every run loop to end; a failure in one is rethrown. Returns why vCPU 0's ended. */
    public KvmVcpu.Stop await(long seconds) throws Exception {
        return awaitAll(seconds).get(0);
    }

    /** Waits for every run loop to end; a failure in one is rethrown. */
    public List<KvmVcpu.Stop> awaitAll(long seconds) throws Exception {
        return vcpus.awaitAll(Duration.ofSeconds(seconds));
    }

    /** Stops the vCPUs if they run (a failure of theirs is thrown), closes the machine, then the RAM. */
    @Override
    public void close() {
        try {
            machine.close();
        } finally {
            ram.close();
        }
    }
}
