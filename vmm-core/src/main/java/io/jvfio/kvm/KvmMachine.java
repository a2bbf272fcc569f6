package io.jvfio.kvm;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * A KVM VM as jvfio runs one: {@code /dev/kvm} opened, a VM with its in-kernel interrupt controller
 * (local APICs, IOAPIC, PIC), and its vCPUs, created in order after the irqchip (KVM wants the
 * irqchip first, or the vCPUs get no local APIC), each given the CPUID KVM supports and made
 * runnable ({@link KvmVcpu#makeRunnable}: the application processors start at the registers the
 * VMM gives them, not at an INIT/SIPI nothing sends), run by {@link Vcpus}. The one place a VM and
 * its vCPUs are set up: the launcher's {@code VirtualMachine}, the benchmarks' guest and the tests'
 * guests build on it.
 *
 * <p>What the guest runs is the caller's: guest RAM as memory slots ({@link KvmVm#addMemory}, or
 * guest-memory's {@code KvmRamSlots}), BARs the device model maps (add the {@link #vm()} as an
 * {@code AddressSpace} listener), and the vCPUs' registers ({@link LongModeProgram} puts a program into
 * long mode on every vCPU).
 *
 * <p>{@link #create} closes what it built if a step fails. {@link #close} stops vCPUs still running
 * (their threads use the vCPUs' mappings), then takes the rest apart in the reverse order of
 * building: vCPUs, VM, {@code /dev/kvm}. Guest RAM stays the caller's to unmap: before this (its
 * memory slots removed first) or after (the VM and its slots are gone then), not while vCPUs run.
 */
public final class KvmMachine implements AutoCloseable {

    /** How long {@link #close} waits for vCPUs it stopped: each is kicked out of KVM_RUN at once. */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);

    private final Kvm kvm;
    private final KvmVm vm;
    private final Vcpus vcpus;

    private KvmMachine(Kvm kvm, KvmVm vm, Vcpus vcpus) {
        this.kvm = kvm;
        this.vm = vm;
        this.vcpus = vcpus;
    }

    /**
     * Opens {@code /dev/kvm} and builds a VM with its irqchip and {@code vcpus} vCPUs (IDs 0 to
     * {@code vcpus - 1}; KVM gives vCPU i local APIC ID i). Too many vCPUs for this KVM are refused
     * before any is created ({@link Kvm#checkVcpus}). If a step fails, what was built is closed.
     */
    public static KvmMachine create(int vcpus) {
        Kvm kvm = Kvm.open();
        KvmVm vm = null;
        List<KvmVcpu> created = new ArrayList<>();
        try {
            kvm.checkVcpus(vcpus);
            vm = KvmVm.create(kvm);
            vm.createIrqchip();
            for (int id = 0; id < vcpus; id++) {
                KvmVcpu vcpu = KvmVcpu.create(vm, id);
                created.add(vcpu);
                vcpu.setSupportedCpuid();
                vcpu.makeRunnable();
            }
            return new KvmMachine(kvm, vm, new Vcpus(created));
        } catch (RuntimeException | Error e) {
            closeAll(created, vm, kvm);
            throw e;
        }
    }

    /** {@code /dev/kvm}, for its capabilities. */
    public Kvm kvm() {
        return kvm;
    }

    /** The VM: memory slots, the irqchip's routes, irqfds, MSIs. */
    public KvmVm vm() {
        return vm;
    }

    /** The vCPUs (created, runnable, registers unset until the caller sets them). */
    public Vcpus vcpus() {
        return vcpus;
    }

    /**
     * The machine's state (every vCPU's, the in-kernel irqchip's, the clock's), taken while its vCPUs are
     * stopped, for live migration.
     */
    public byte[] snapshot() {
        // PLACEHOLDER: the kvmstate branch replaces this
        throw new UnsupportedOperationException("KvmMachine.snapshot() comes with the kvmstate branch");
    }

    /** Loads a {@link #snapshot} into this machine, before its vCPUs run. */
    public void restore(byte[] state) {
        // PLACEHOLDER: the kvmstate branch replaces this
        throw new UnsupportedOperationException("KvmMachine.restore(byte[]) comes with the kvmstate branch");
    }

    /**
     * Stops the vCPUs if they still run and waits for their threads (at most 10 s); the machine stays
     * open. A machine that owns devices calls this before it closes them, so that no vCPU is inside a
     * device as it goes. A failure of that run nobody awaited is thrown here.
     *
     * @throws IllegalStateException when a vCPU did not leave KVM_RUN within 10 s of being kicked
     */
    public void stopVcpus() {
        try {
            if (vcpus.running()) {
                vcpus.stopAll();
                vcpus.awaitAll(STOP_TIMEOUT);
            }
        } catch (TimeoutException e) {
            throw new IllegalStateException("the vCPUs did not stop within " + STOP_TIMEOUT.toSeconds()
                    + " s of being kicked; closed under them", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops the vCPUs if they still run and waits for their threads ({@link #stopVcpus}), then closes
     * the vCPUs, the VM and {@code /dev/kvm}. A failure of that run nobody awaited is thrown here, after
     * everything is closed.
     */
    @Override
    public void close() {
        try {
            stopVcpus();
        } finally {
            closeAll(vcpus.vcpus(), vm, kvm);
        }
    }

    private static void closeAll(List<KvmVcpu> vcpus, KvmVm vm, Kvm kvm) {
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        if (vm != null) {
            vm.close();
        }
        kvm.close();
    }

    @Override
    public String toString() {
        return vm + " with " + vcpus.size() + (vcpus.size() == 1 ? " vCPU" : " vCPUs");
    }
}
