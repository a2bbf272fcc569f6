package io.jvfio.vmm.linux;

import com.sun.jna.Native;

import static io.jvfio.vmm.linux.LinuxConstants.MFD_CLOEXEC;
import static io.jvfio.vmm.linux.LinuxConstants.O_CLOEXEC;
import static io.jvfio.vmm.linux.LinuxConstants.SOCK_CLOEXEC;
import static io.jvfio.vmm.linux.LinuxConstants._SC_PAGESIZE;

/**
 * The system calls of {@link LibC} with Linux error handling: a -1 return becomes a
 * {@link SyscallException} naming the call, its object and the errno; EINTR is retried where the
 * call is restartable. Every descriptor created here is close-on-exec, so none leaks into a child
 * process (a QEMU, a vfio-user server) by accident.
 */
public final class Syscalls {

    private static final long PAGE_SIZE = LibC.sysconf(_SC_PAGESIZE);

    private Syscalls() {
    }

    /** The errno of the last failed call on this thread. */
    public static int lastErrno() {
        return Native.getLastError();
    }

    /** The system page size, the granule of mmap, memfd sizes and VFIO DMA mappings. */
    public static long pageSize() {
        return PAGE_SIZE;
    }

    /** {@code open(path, flags | O_CLOEXEC)}. */
    public static OwnedFd open(String path, int flags) {
        int fd;
        do {
            fd = LibC.open(path, flags | O_CLOEXEC, 0);
        } while (fd < 0 && lastErrno() == Errno.EINTR.number());
        if (fd < 0) {
            throw new SyscallException("open", path, lastErrno());
        }
        return OwnedFd.adopt(fd, path);
    }

    /** An anonymous memory file, named {@code memfd:name} in {@code /proc/self/fd}, close-on-exec. */
    public static OwnedFd memfdCreate(String name, int flags) {
        int fd = LibC.memfd_create(name, flags | MFD_CLOEXEC);
        if (fd < 0) {
            throw new SyscallException("memfd_create", "memfd:" + name, lastErrno());
        }
        return OwnedFd.adopt(fd, "memfd:" + name);
    }

    public static void ftruncate(OwnedFd fd, long length) {
        int r;
        do {
            r = LibC.ftruncate(fd.get(), length);
        } while (r < 0 && lastErrno() == Errno.EINTR.number());
        if (r < 0) {
            throw new SyscallException("ftruncate to " + length + " bytes", fd.name(), lastErrno());
        }
    }

    /** Adds seals (F_SEAL_SHRINK...) to a memfd, so no holder of the fd can change what they forbid. */
    public static void addSeals(OwnedFd fd, int seals) {
        if (LibC.fcntl(fd.get(), LinuxConstants.F_ADD_SEALS, seals) < 0) {
            throw new SyscallException("fcntl(F_ADD_SEALS)", fd.name(), lastErrno());
        }
    }

    /** The seals of a memfd. */
    public static int seals(OwnedFd fd) {
        int r = LibC.fcntl(fd.get(), LinuxConstants.F_GET_SEALS, 0);
        if (r < 0) {
            throw new SyscallException("fcntl(F_GET_SEALS)", fd.name(), lastErrno());
        }
        return r;
    }

    /** A second descriptor for the same open file, close-on-exec, owned by the caller. */
    public static OwnedFd dup(OwnedFd fd) {
        int r = LibC.fcntl(fd.get(), LinuxConstants.F_DUPFD_CLOEXEC, 0);
        if (r < 0) {
            throw new SyscallException("fcntl(F_DUPFD_CLOEXEC)", fd.name(), lastErrno());
        }
        return OwnedFd.adopt(r, fd.name());
    }

    /** Reads up to {@code count} bytes into native memory at {@code address}; 0 at end of file. */
    public static long read(OwnedFd fd, long address, long count) {
        long n;
        do {
            n = LibC.read(fd.get(), address, count);
        } while (n < 0 && lastErrno() == Errno.EINTR.number());
        if (n < 0) {
            throw new SyscallException("read", fd.name(), lastErrno());
        }
        return n;
    }

    public static long write(OwnedFd fd, long address, long count) {
        long n;
        do {
            n = LibC.write(fd.get(), address, count);
        } while (n < 0 && lastErrno() == Errno.EINTR.number());
        if (n < 0) {
            throw new SyscallException("write", fd.name(), lastErrno());
        }
        return n;
    }

    /** Reads at a file offset, as VFIO region accesses are addressed (region offset + offset in region). */
    public static long pread(OwnedFd fd, long address, long count, long offset) {
        long n;
        do {
            n = LibC.pread(fd.get(), address, count, offset);
        } while (n < 0 && lastErrno() == Errno.EINTR.number());
        if (n < 0) {
            throw new SyscallException("pread of " + count + " bytes at 0x" + Long.toHexString(offset), fd.name(),
                    lastErrno());
        }
        return n;
    }

    public static long pwrite(OwnedFd fd, long address, long count, long offset) {
        long n;
        do {
            n = LibC.pwrite(fd.get(), address, count, offset);
        } while (n < 0 && lastErrno() == Errno.EINTR.number());
        if (n < 0) {
            throw new SyscallException("pwrite of " + count + " bytes at 0x" + Long.toHexString(offset), fd.name(),
                    lastErrno());
        }
        return n;
    }

    /** An ioctl with an integer argument (or none); returns the kernel's non-negative result. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, long arg) {
        int r;
        do {
            r = LibC.ioctl(fd.get(), request.number(), arg);
        } while (r < 0 && lastErrno() == Errno.EINTR.number());
        if (r < 0) {
            throw new SyscallException(request.name(), fd.name(), lastErrno());
        }
        return r;
    }

    /** An ioctl whose argument is a struct mirror. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, NativeStruct arg) {
        return ioctl(fd, request, arg.address());
    }

    /** An ioctl whose argument is a string, such as a device name for VFIO_GROUP_GET_DEVICE_FD. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, String arg) {
        int r;
        do {
            r = LibC.ioctl(fd.get(), request.number(), arg);
        } while (r < 0 && lastErrno() == Errno.EINTR.number());
        if (r < 0) {
            throw new SyscallException(request.name() + "(\"" + arg + "\")", fd.name(), lastErrno());
        }
        return r;
    }

    /**
     * An ioctl for hot paths whose failures are part of normal operation (KVM_RUN interrupted by a
     * signal): the result, or {@code -errno}, never an exception and never a retry.
     */
    public static int ioctlOrErrno(OwnedFd fd, IoctlRequest request, long arg) {
        int r = LibC.ioctl(fd.get(), request.number(), arg);
        return r < 0 ? -lastErrno() : r;
    }

    /**
     * Waits up to {@code timeoutMillis} (-1 for ever) for {@code events} on one fd; returns the
     * {@code revents} seen, 0 on timeout.
     */
    public static int poll(OwnedFd fd, int events, int timeoutMillis) {
        ThreadScratch scratch = ThreadScratch.get();
        scratch.putPollFd(fd.get(), events);
        int r;
        do {
            r = LibC.poll(scratch.address(), 1, timeoutMillis);
        } while (r < 0 && lastErrno() == Errno.EINTR.number());
        if (r < 0) {
            throw new SyscallException("poll", fd.name(), lastErrno());
        }
        return r == 0 ? 0 : scratch.pollRevents();
    }

    /** A connected pair of close-on-exec UNIX sockets of {@code type} (SOCK_STREAM, SOCK_SEQPACKET). */
    public static OwnedFd[] socketpair(int type, String name) {
        int[] sv = new int[2];
        if (LibC.socketpair(LinuxConstants.AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
            throw new SyscallException("socketpair", name, lastErrno());
        }
        return new OwnedFd[] {OwnedFd.adopt(sv[0], name + "[0]"), OwnedFd.adopt(sv[1], name + "[1]")};
    }
}
