package io.jvfio.kvm;

import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.SigAction;

/**
 * Getting a vCPU thread out of {@code KVM_RUN} (it may be halted in the kernel, waiting for an
 * interrupt that never comes): the VMM sets {@code immediate_exit} and sends the thread a signal,
 * which makes {@code KVM_RUN} return EINTR, as crosvm and cloud-hypervisor do. The signal is a
 * real-time one no JVM or library uses, and its handler must do nothing: it is the C library's
 * {@code getpid}, an async-signal-safe function whose argument is ignored. No Java runs in the
 * signal handler.
 */
final class VcpuKick {

    private static int signal = -1;

    private VcpuKick() {
    }

    /** The signal, its do-nothing handler installed once (without SA_RESTART, so KVM_RUN is interrupted). */
    static synchronized int signal() {
        if (signal < 0) {
            int sig = LibC.__libc_current_sigrtmin() + 3;
            long handler = Pointer.nativeValue(NativeLibrary.getInstance(Platform.C_LIBRARY_NAME).getFunction("getpid"));
            SigAction act = new SigAction().set(handler, 0);
            if (LibC.sigaction(sig, act.address(), 0L) < 0) {
                throw new SyscallException("sigaction", "signal " + sig, LibC.errno());
            }
            signal = sig;
        }
        return signal;
    }

    /** Interrupts thread {@code tid} of this process, if it is in a system call. */
    static void kick(int tid) {
        if (LibC.tgkill(LibC.getpid(), tid, signal()) < 0) {
            int errno = LibC.errno();
            if (errno != io.jvfio.vmm.linux.Errno.ESRCH.number()) { // the thread has ended: nothing to kick
                throw new SyscallException("tgkill", "thread " + tid, errno);
            }
        }
    }
}
