package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EFD_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.EFD_NONBLOCK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.RWF_NOWAIT;

/**
 * A Linux eventfd: a 64-bit counter that writers add to and a reader drains. Devices signal
 * interrupts through them (VFIO_DEVICE_SET_IRQS, vfio-user SET_IRQS, KVM irqfd), so a count greater
 * than one means several interrupts coalesced.
 *
 * <p>Non-blocking and close-on-exec. {@link #signal} may be called from any number of threads at
 * once; {@link #read} allocates nothing after a thread's first call.
 */
public final class EventFd implements AutoCloseable {

    private final OwnedFd fd;

    /** A new eventfd with counter 0, non-blocking, named for messages ("msix vector 3 of edu"). */
    public EventFd(String name) {
        int raw = LibC.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (raw < 0) {
            throw new SyscallException("eventfd", name, LibC.errno());
        }
        this.fd = OwnedFd.adopt(raw, "eventfd:" + name);
    }

    /** Adopts an eventfd received from elsewhere (a vfio-user peer). */
    public EventFd(OwnedFd fd) {
        this.fd = fd;
    }

    public OwnedFd fd() {
        return fd;
    }

    /** Adds {@code count} (at least 1) to the counter, waking a reader. */
    public void signal(long count) {
        if (LibC.eventfd_write(fd.get(), count) < 0) {
            throw new SyscallException("eventfd_write", fd.name(), LibC.errno());
        }
    }

    /** Adds one: a single interrupt. */
    public void signal() {
        signal(1);
    }

    /**
     * Takes the counter and resets it to zero; returns 0 when nothing was pending (the counter is
     * never 0 after a successful read, so 0 is unambiguous).
     *
     * <p>Never blocks, whatever the file's flags: preadv2 with RWF_NOWAIT, which eventfd honours
     * (Linux 5.12 on) as it does O_NONBLOCK. The flag alone would not do for an eventfd a vfio-user
     * client passed: O_NONBLOCK belongs to the open file description, which the client shares and
     * may clear, and a plain read(2) of a zero counter would then block the reading thread.
     */
    public long read() {
        ThreadScratch scratch = ThreadScratch.get();
        while (LibC.preadv2(fd.get(), scratch.iovecOf8(), 1, -1, RWF_NOWAIT) < 0) {
            int errno = LibC.errno();
            if (errno == Errno.EAGAIN.number()) {
                return 0;
            }
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("preadv2", fd.name(), errno);
            }
        }
        return scratch.u64At(0);
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return fd.toString();
    }
}
