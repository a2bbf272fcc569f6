package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A file descriptor with one owner, closed exactly once, carrying a name (the path it was opened
 * from, or what it is) for error messages.
 *
 * <p>Closing races safely with a second close: the descriptor number is swapped out atomically, so
 * only one caller ever passes it to {@code close(2)}. Using the fd concurrently with close is the
 * caller's bug, as in C; after close, {@link #get()} returns -1 and calls fail with EBADF.
 */
public final class OwnedFd implements AutoCloseable {

    private static final VarHandle FD;

    static {
        try {
            FD = MethodHandles.lookup().findVarHandle(OwnedFd.class, "fd", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private volatile int fd;
    private final String name;

    private OwnedFd(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** Takes ownership of {@code fd}, a descriptor this process just obtained. */
    public static OwnedFd adopt(int fd, String name) {
        if (fd < 0) {
            throw new IllegalArgumentException("not a file descriptor: " + fd + " (" + name + ")");
        }
        return new OwnedFd(fd, name);
    }

    /** The descriptor number, or -1 once closed or released. */
    public int get() {
        return fd;
    }

    /** What this fd is, for messages: a path such as {@code /dev/vfio/26}, or e.g. {@code memfd:guest-ram}. */
    public String name() {
        return name;
    }

    public boolean isOpen() {
        return fd >= 0;
    }

    /**
     * Gives up ownership without closing: the caller (or another process it sent the fd to) is now
     * responsible for it.
     */
    public int release() {
        int old = (int) FD.getAndSet(this, -1);
        if (old < 0) {
            throw new IllegalStateException(name + " is already closed");
        }
        return old;
    }

    /**
     * Closes the descriptor once; later calls do nothing. Linux releases the descriptor even when
     * close reports EINTR, so it is never retried (a retry could close a reused number).
     */
    @Override
    public void close() {
        int old = (int) FD.getAndSet(this, -1);
        if (old < 0) {
            return;
        }
        if (LibC.close(old) < 0) {
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("close", name, errno);
            }
        }
    }

    @Override
    public String toString() {
        int n = fd;
        return n >= 0 ? "fd " + n + " (" + name + ")" : "closed fd (" + name + ")";
    }
}
