package io.jvfio.vmm.linux.ioctl;

import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.jna.IoctlRequest;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.NativeStruct;

import java.lang.ref.Reference;

/**
 * {@code ioctl} on an {@link OwnedFd} with the error handling of {@link io.jvfio.vmm.linux.Syscalls}: a
 * -1 return becomes a {@link SyscallException} naming the request, the fd and the errno, and EINTR is
 * retried. The requests and their arguments are the kernel's ABI mirrors ({@code linux.kvm},
 * {@code linux.vfio}), which are not jvfio's API, so these calls are not either: jvfio's KVM and
 * kernel VFIO code make them, and offer the API above them.
 */
public final class Ioctl {

    private Ioctl() {
    }

    /** An ioctl with an integer argument (or none); returns the kernel's non-negative result. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, long arg) {
        return retried(fd, request, arg, null);
    }

    /**
     * An ioctl whose argument is a pointer to an int, such as VFIO_GROUP_SET_CONTAINER, which takes
     * the address of the container's fd.
     */
    public static int ioctlIntRef(OwnedFd fd, IoctlRequest request, int value) {
        // Made once per group attach: 4 bytes per call, rather than scratch memory kept per thread.
        IntArgument arg = new IntArgument(value);
        try {
            return ioctl(fd, request, arg.address());
        } finally {
            // Nothing reads arg after the call: without the fence its memory could be freed during it.
            Reference.reachabilityFence(arg);
        }
    }

    /** An ioctl whose argument is a struct mirror. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, NativeStruct arg) {
        return ioctl(fd, request, arg.address());
    }

    /** An ioctl whose argument is a string, such as a device name for VFIO_GROUP_GET_DEVICE_FD. */
    public static int ioctl(OwnedFd fd, IoctlRequest request, String arg) {
        return retried(fd, request, 0, arg);
    }

    /** The ioctl with {@code text} as its argument if there is one, else {@code arg}; EINTR retried. */
    private static int retried(OwnedFd fd, IoctlRequest request, long arg, String text) {
        while (true) {
            int r = text == null ? LibC.ioctl(fd.get(), request.number(), arg)
                    : LibC.ioctl(fd.get(), request.number(), text);
            if (r >= 0) {
                return r;
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException(text == null ? request.name() : request.name() + "(\"" + text + "\")",
                        fd.name(), errno);
            }
        }
    }

    /**
     * An ioctl for hot paths whose failures are part of normal operation (KVM_RUN interrupted by a
     * signal): the result, or {@code -errno}, never an exception and never a retry.
     */
    public static int ioctlOrErrno(OwnedFd fd, IoctlRequest request, long arg) {
        int r = LibC.ioctl(fd.get(), request.number(), arg);
        return r < 0 ? -LibC.errno() : r;
    }

    /** The {@code int} an {@link #ioctlIntRef} passes by address. */
    private static final class IntArgument extends NativeStruct {
        IntArgument(int value) {
            super(4);
            putU32(0, value);
        }
    }
}
