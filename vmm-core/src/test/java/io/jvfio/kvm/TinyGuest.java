package io.jvfio.kvm;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.linux.MemoryMapping;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.LinuxConstants.PROT_WRITE;

/**
 * A KVM VM with one vCPU in long mode, 16 MiB of RAM at 0 and a test program at 0x10000, its exits
 * going to an address space the test fills with devices. Real /dev/kvm; the test is skipped, with
 * the reason, where there is none.
 */
public final class TinyGuest implements AutoCloseable {

    public static final long RAM = 16 << 20;
    public static final long STACK = 0x80000;

    public final Kvm kvm;
    public final KvmVm vm;
    public final KvmVcpu vcpu;
    public final MemoryMapping ram;
    public final ByteBuffer memory;
    public final AddressSpace space = new AddressSpace();
    private CompletableFuture<KvmVcpu.Stop> running;

    /** Skips the test, or fails it under -Djvfio.kvm=required, where there is no usable /dev/kvm. */
    public static void requireKvm() {
        io.jvfio.vmm.testing.Prerequisites.requireKvm();
    }

    public TinyGuest(byte[] code) {
        kvm = Kvm.open();
        vm = KvmVm.create(kvm);
        vm.createIrqchip();
        ram = MemoryMapping.anonymous(RAM, PROT_READ | PROT_WRITE, "tiny guest RAM");
        memory = ram.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        vm.addMemory(0, RAM, ram.address(), false);
        space.addListener(vm);
        X86LongMode.writeTables((gpa, v) -> memory.putLong((int) gpa, v));
        memory.put((int) GuestCode.LOAD, code);
        vcpu = KvmVcpu.create(vm, 0);
        vcpu.setSupportedCpuid();
        X86LongMode.enter(vcpu, GuestCode.LOAD, STACK);
    }

    /** Runs the vCPU on its own thread. */
    public TinyGuest start() {
        running = CompletableFuture.supplyAsync(() -> vcpu.run(space), r -> {
            Thread t = new Thread(r, "test-vcpu");
            t.setDaemon(true);
            t.start();
        });
        return this;
    }

    /** Waits for the run loop to end; a failure in it is rethrown. */
    public KvmVcpu.Stop await(long seconds) throws Exception {
        try {
            return running.get(seconds, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    @Override
    public void close() throws Exception {
        if (running != null && !running.isDone()) {
            vcpu.stop();
            await(10);
        }
        vcpu.close();
        vm.close();
        ram.close();
        kvm.close();
    }
}
