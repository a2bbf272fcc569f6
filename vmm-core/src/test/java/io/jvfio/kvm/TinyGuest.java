package io.jvfio.kvm;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.linux.MemoryMapping;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * A KVM VM with one vCPU (or a few) in long mode, 16 MiB of RAM at 0 and a test program at 0x10000,
 * its exits going to an address space the test fills with devices. Every vCPU starts at the
 * program's first instruction, vCPU i with its stack at {@code STACK - i * STACK_SIZE}; the guest
 * tells them apart by its local APIC ID (KVM gives vCPU i APIC ID i). Real /dev/kvm; the test is
 * skipped, with the reason, where there is none.
 */
public final class TinyGuest implements AutoCloseable {

    public static final long RAM = 16 << 20;
    public static final long STACK = 0x80000;
    public static final long STACK_SIZE = 0x10000;
    /** As many vCPUs as fit their stacks between the program and {@link #STACK}. */
    public static final int MAX_VCPUS = 6;

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

    /** A guest with {@code cpus} vCPUs, all starting at the program's first instruction. */
    public TinyGuest(byte[] code, int cpus) {
        if (cpus > MAX_VCPUS) {
            throw new IllegalArgumentException(cpus + " vCPUs: a tiny guest has stacks for " + MAX_VCPUS);
        }
        kvm = Kvm.open();
        try {
            kvm.checkVcpus(cpus);
        } catch (IllegalArgumentException e) {
            kvm.close();
            throw e;
        }
        vm = KvmVm.create(kvm);
        vm.createIrqchip();
        ram = MemoryMapping.anonymous(RAM, PROT_READ | PROT_WRITE, "tiny guest RAM");
        memory = ram.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        vm.addMemory(0, RAM, ram.address(), false);
        space.addListener(vm);
        X86LongMode.writeTables((gpa, v) -> memory.putLong((int) gpa, v));
        memory.put((int) GuestCode.LOAD, code);
        List<KvmVcpu> created = new ArrayList<>();
        for (int i = 0; i < cpus; i++) {
            KvmVcpu v = KvmVcpu.create(vm, i);
            created.add(v);
            v.setSupportedCpuid();
            X86LongMode.enter(v, GuestCode.LOAD, STACK - i * STACK_SIZE);
            v.makeRunnable();
        }
        vcpu = created.get(0);
        vcpus = new Vcpus(created);
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

    @Override
    public void close() throws Exception {
        try {
            if (vcpus.running()) {
                vcpus.stopAll();
                awaitAll(10);
            }
        } finally {
            for (KvmVcpu v : vcpus.vcpus()) {
                v.close();
            }
            vm.close();
            ram.close();
            kvm.close();
        }
    }
}
