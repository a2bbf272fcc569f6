package io.jvfio.kvm;

import io.jvfio.JvfioException;
import io.jvfio.vmm.bus.AccessSize;
import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.kvm.KvmCpuid2;
import io.jvfio.vmm.linux.kvm.KvmMpState;
import io.jvfio.vmm.linux.kvm.KvmRegs;
import io.jvfio.vmm.linux.kvm.KvmRun;
import io.jvfio.vmm.linux.kvm.KvmSregs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_SHARED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;
import static io.jvfio.vmm.linux.kvm.KvmConstants.*;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_CREATE_VCPU;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_MP_STATE;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_REGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_SREGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_SUPPORTED_CPUID;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_GET_TSC_KHZ;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_RUN;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_CPUID2;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_MP_STATE;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_REGS;
import static io.jvfio.vmm.linux.kvm.KvmIoctls.KVM_SET_SREGS;

/**
 * One virtual CPU: its fd, its shared {@code kvm_run} page, its registers, and the run loop, which
 * enters the guest and dispatches each exit to the address space: port I/O to the port bus, MMIO to
 * the MMIO bus (directly mapped memory never exits). Exits are counted per reason. The loop
 * allocates nothing; {@link #stop} gets it out even from a halt inside the kernel.
 */
public final class KvmVcpu implements AutoCloseable {

    /** Why the run loop ended. */
    public enum Stop {
        /** {@link #stop} was called (or a device asked for it). */
        REQUESTED,
        /** The guest triple-faulted (KVM_EXIT_SHUTDOWN). */
        SHUTDOWN,
        /** The guest halted with no in-kernel interrupt controller to wake it. */
        HALTED,
        /** A system event: the guest asked for reset or power-off. */
        SYSTEM_EVENT
    }

    /** A failure KVM reported: entry failed, an internal error, an exception it could not handle. */
    public static final class VcpuException extends JvfioException {
        private static final long serialVersionUID = 1L;

        VcpuException(String message) {
            super(message);
        }
    }

    private static final int EXIT_REASONS = 64;

    private final KvmVm vm;
    private final int id;
    private final OwnedFd fd;
    private final MemoryMapping runMapping;
    private final KvmRun run;
    private final ByteBuffer runBytes;
    private final VcpuExits exits = new VcpuExits(EXIT_REASONS);
    private volatile boolean stopRequested;
    /**
     * The last KVM_RUN ended in an I/O or MMIO exit whose instruction KVM finishes only on the next
     * KVM_RUN (complete_userspace_io: RIP advanced, an IN's or MMIO read's data written to RAX); only
     * the run loop's thread touches it.
     */
    private boolean exitPending;
    private volatile int tid = -1;
    private volatile Thread runner;

    private KvmVcpu(KvmVm vm, int id, OwnedFd fd, MemoryMapping runMapping) {
        this.vm = vm;
        this.id = id;
        this.fd = fd;
        this.runMapping = runMapping;
        this.run = new KvmRun(runMapping);
        this.runBytes = runMapping.byteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Creates vCPU {@code id} (after the VM's interrupt controller, if it has one). */
    public static KvmVcpu create(KvmVm vm, int id) {
        OwnedFd fd = OwnedFd.adopt(Ioctl.ioctl(vm.fd(), KVM_CREATE_VCPU, id), "kvm-vcpu" + id);
        try {
            MemoryMapping m = MemoryMapping.map(fd, 0, vm.kvm().vcpuMmapSize(), PROT_READ | PROT_WRITE, MAP_SHARED);
            return new KvmVcpu(vm, id, fd, m);
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    public int id() {
        return id;
    }

    /** The VM this vCPU belongs to. */
    KvmVm vm() {
        return vm;
    }

    /** Gives the guest the CPUID KVM supports (KVM_GET_SUPPORTED_CPUID, then KVM_SET_CPUID2). */
    public void setSupportedCpuid() {
        int max = 128;
        while (true) {
            KvmCpuid2 cpuid = new KvmCpuid2(max);
            try {
                Ioctl.ioctl(vm.kvm().fd(), KVM_GET_SUPPORTED_CPUID, cpuid.nent(max));
                Ioctl.ioctl(fd, KVM_SET_CPUID2, cpuid);
                return;
            } catch (SyscallException e) {
                if (!e.is(Errno.E2BIG) || max > 4096) {
                    throw e;
                }
                max *= 2;
            }
        }
    }

    /**
     * One register (KVM_GET_REGS): between runs, or on the vCPU's thread during an exit (from another
     * thread the ioctl waits for a running KVM_RUN to return).
     */
    public long register(X86Register register) {
        return regs().get(register.field);
    }

    /** Sets one register and keeps the others (KVM_GET_REGS, then KVM_SET_REGS), when {@link #register} may read. */
    public void setRegister(X86Register register, long value) {
        setRegs(regs().set(register.field, value));
    }

    // The whole register sets are ABI mirrors, not jvfio's API: X86LongMode sets them up.
    KvmRegs regs() {
        KvmRegs r = new KvmRegs();
        Ioctl.ioctl(fd, KVM_GET_REGS, r);
        return r;
    }

    void setRegs(KvmRegs r) {
        Ioctl.ioctl(fd, KVM_SET_REGS, r);
    }

    KvmSregs sregs() {
        KvmSregs s = new KvmSregs();
        Ioctl.ioctl(fd, KVM_GET_SREGS, s);
        return s;
    }

    void setSregs(KvmSregs s) {
        Ioctl.ioctl(fd, KVM_SET_SREGS, s);
    }

    /** The vCPU's multiprocessing state, a {@code KVM_MP_STATE_*} (KVM_GET_MP_STATE). */
    public int mpState() {
        KvmMpState m = new KvmMpState();
        Ioctl.ioctl(fd, KVM_GET_MP_STATE, m);
        return m.mpState();
    }

    /**
     * Lets an application processor run from the registers the VMM gave it. With an in-kernel
     * irqchip KVM creates every vCPU except vCPU 0 in KVM_MP_STATE_UNINITIALIZED, the state of an AP
     * after reset that only INIT and a start-up IPI leave (kvm_arch_vcpu_create); KVM_RUN on it
     * blocks. A VMM that starts its APs itself, at registers it set (no real-mode trampoline for a
     * SIPI to point at), sets RUNNABLE (KVM_SET_MP_STATE). Harmless on vCPU 0, which is RUNNABLE
     * already, and without an irqchip, where every vCPU is. Call it before the vCPU's thread enters
     * KVM_RUN: vCPU ioctls wait for a running KVM_RUN to return.
     */
    public void makeRunnable() {
        Ioctl.ioctl(fd, KVM_SET_MP_STATE, new KvmMpState().set(KVM_MP_STATE_RUNNABLE));
    }

    /** The guest's TSC frequency in kHz, to turn its RDTSC readings into time. */
    public long tscKhz() {
        return Ioctl.ioctl(fd, KVM_GET_TSC_KHZ, 0L);
    }

    /** The vCPU's fd, for KVM ioctls of its own (a C run loop in the benchmarks, for one). */
    public OwnedFd fd() {
        return fd;
    }

    /** Where this process mapped the vCPU's {@code struct kvm_run}. */
    public long kvmRunAddress() {
        return runMapping.address();
    }

    public VcpuExits exits() {
        return exits;
    }

    /**
     * Runs the guest on the calling thread until {@link #stop}, a triple fault, a halt without an
     * in-kernel interrupt controller, or a system event. Port I/O and MMIO exits go to {@code space}.
     */
    public Stop run(AddressSpace space) {
        tid = LibC.gettid();
        runner = Thread.currentThread();
        try {
            while (true) {
                if (stopRequested) {
                    if (exitPending) {
                        // The guest's IN, OUT or MMIO access is half done: its registers are not yet
                        // the ones after the instruction, and a snapshot taken now would be wrong (or a
                        // VMM that reads them see the instruction still ahead). KVM_RUN with
                        // immediate_exit completes it (complete_userspace_io runs before immediate_exit
                        // is looked at) and returns EINTR without entering the guest, as QEMU does
                        // before it reads a stopped vCPU's state.
                        run.immediateExit(true);
                    } else {
                        // The request is consumed by the run it ends: a later run() resumes the guest.
                        stopRequested = false;
                        run.immediateExit(false);
                        return Stop.REQUESTED;
                    }
                }
                boolean completing = exitPending && stopRequested;
                exitPending = false;
                int r = LibC.ioctl(fd.get(), KVM_RUN.number(), 0L);
                if (r < 0) {
                    int errno = LibC.errno();
                    if (errno == Errno.EINTR.number() || errno == Errno.EAGAIN.number()) {
                        if (!completing) {
                            exits.count(KVM_EXIT_INTR); // the completing run never entered the guest
                        }
                        run.immediateExit(false);
                        continue;
                    }
                    throw new SyscallException("KVM_RUN", "vCPU " + id, errno);
                }
                int reason = run.exitReason();
                exits.count(reason);
                switch (reason) {
                    case KVM_EXIT_IO -> {
                        portIo(space);
                        exitPending = true;
                    }
                    case KVM_EXIT_MMIO -> {
                        mmio(space);
                        exitPending = true;
                    }
                    case KVM_EXIT_INTR -> {
                        // a signal: look at stopRequested
                    }
                    case KVM_EXIT_HLT -> {
                        return Stop.HALTED;
                    }
                    case KVM_EXIT_SHUTDOWN -> {
                        return Stop.SHUTDOWN;
                    }
                    case KVM_EXIT_SYSTEM_EVENT -> {
                        return Stop.SYSTEM_EVENT;
                    }
                    case KVM_EXIT_FAIL_ENTRY -> throw new VcpuException("vCPU " + id + ": KVM could not enter the guest "
                            + "(hardware entry failure reason 0x" + Long.toHexString(run.failEntryHardwareEntryFailureReason())
                            + ")");
                    case KVM_EXIT_INTERNAL_ERROR -> throw new VcpuException("vCPU " + id + ": KVM internal error, "
                            + "suberror " + run.internalSuberror() + " at rip 0x" + Long.toHexString(regs().rip())
                            + " (1: an instruction KVM cannot emulate)");
                    default -> throw new VcpuException("vCPU " + id + ": unexpected exit reason " + reason + " at rip 0x"
                            + Long.toHexString(regs().rip()));
                }
            }
        } finally {
            tid = -1;
            runner = null;
        }
    }

    private void portIo(AddressSpace space) {
        int size = run.ioSize();
        int port = run.ioPort();
        int at = (int) run.ioDataOffset();
        boolean out = run.ioDirection() == KVM_EXIT_IO_OUT;
        for (int i = 0, n = run.ioCount(); i < n; i++, at += size) {
            if (out) {
                space.out(port, size, AccessSize.get(runBytes, at, size));
            } else {
                AccessSize.put(runBytes, at, size, space.in(port, size));
            }
        }
    }

    private void mmio(AddressSpace space) {
        long address = run.mmioPhysAddr();
        int len = run.mmioLen();
        if (run.mmioIsWrite()) {
            space.write(address, len, run.mmioData());
        } else {
            run.mmioData(space.read(address, len));
        }
    }

    /**
     * Asks the run loop to end, from any thread (or from a device on the vCPU thread, during an exit):
     * the next KVM_RUN returns at once, and a thread inside KVM_RUN (even halted in the kernel) is
     * kicked out with a signal. The run it ends returns {@link Stop#REQUESTED}; calling
     * {@link #run} again continues the guest where it stopped.
     */
    public void stop() {
        stopRequested = true;
        run.immediateExit(true);
        int t = tid;
        // From a device during an exit the vCPU thread is not in KVM_RUN: the flag is enough.
        if (t > 0 && Thread.currentThread() != runner) {
            VcpuKick.kick(t);
        }
    }

    @Override
    public void close() {
        runMapping.close();
        fd.close();
    }

    @Override
    public String toString() {
        return "vCPU " + id + " (" + exits + ")";
    }
}
