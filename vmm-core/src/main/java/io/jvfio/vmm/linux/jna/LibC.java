package io.jvfio.vmm.linux.jna;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;

/**
 * The C library entry points jvfio needs, bound with JNA <em>direct mapping</em>: each native method
 * is linked straight to its symbol, with no proxy and no per-call reflection, and every pointer is
 * passed as a raw {@code long} address so that a call allocates nothing on the Java heap.
 *
 * <p>These are the raw calls: they return -1 and leave errno for {@link #errno()}.
 * Code outside the syscall layer goes through {@link io.jvfio.vmm.linux.Syscalls} and the fd-owning
 * types, which turn a failure into a {@link io.jvfio.vmm.linux.SyscallException} naming the
 * operation, the object and the errno.
 *
 * <p>{@code ioctl} and {@code open} are variadic in C. Declaring fixed prototypes is sound on
 * x86_64 Linux: glibc's wrappers forward the registers to the system call and never read
 * floating-point varargs, so the vector-register count the SysV ABI passes in {@code %al} is
 * irrelevant.
 */
public final class LibC {

    static {
        Native.register(LibC.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    private LibC() {
    }

    /**
     * The errno of this thread's last call through this class. Read it at once, before anything else
     * that might make a native call on this thread: even a class's static initializer can, and it
     * would replace the value JNA recorded.
     */
    public static int errno() {
        return Native.getLastError();
    }

    public static native int open(String path, int flags, int mode);

    public static native int close(int fd);

    public static native long read(int fd, long buf, long count);

    public static native long write(int fd, long buf, long count);

    public static native long pread(int fd, long buf, long count, long offset);

    public static native long pwrite(int fd, long buf, long count, long offset);

    /** {@code offset} -1: at the file position, as read(2) (the only choice for an eventfd or a pipe). */
    public static native long preadv2(int fd, long iov, int iovcnt, long offset, int flags);

    /** {@code ioctl} whose argument is an integer or the address of a struct. */
    public static native int ioctl(int fd, long request, long arg);

    /** {@code ioctl} whose argument is a NUL-terminated string (VFIO_GROUP_GET_DEVICE_FD). */
    public static native int ioctl(int fd, long request, String arg);

    public static native long mmap(long addr, long length, int prot, int flags, int fd, long offset);

    public static native int munmap(long addr, long length);

    public static native int mlock(long addr, long len);

    public static native int munlock(long addr, long len);

    public static native int memfd_create(String name, int flags);

    public static native int ftruncate(int fd, long length);

    public static native int fstat(int fd, long statbuf);

    /** {@code fcntl} with an integer argument (F_ADD_SEALS, F_GET_SEALS, F_DUPFD_CLOEXEC). */
    public static native int fcntl(int fd, int cmd, int arg);

    public static native int eventfd(int initval, int flags);

    /** Adds {@code value} to the eventfd counter; by value, so concurrent writers share no buffer. */
    public static native int eventfd_write(int fd, long value);

    public static native int poll(long fds, long nfds, int timeout);

    public static native int epoll_create1(int flags);

    public static native int epoll_ctl(int epfd, int op, int fd, long event);

    public static native int epoll_wait(int epfd, long events, int maxevents, int timeout);

    public static native long sendmsg(int sockfd, long msg, int flags);

    public static native long recvmsg(int sockfd, long msg, int flags);

    public static native int socketpair(int domain, int type, int protocol, int[] sv);

    public static native int socket(int domain, int type, int protocol);

    public static native int bind(int sockfd, long addr, int addrlen);

    public static native int listen(int sockfd, int backlog);

    public static native int accept4(int sockfd, long addr, long addrlen, int flags);

    public static native int connect(int sockfd, long addr, int addrlen);

    public static native int shutdown(int sockfd, int how);

    /** {@code memcpy}: native memory to native memory (a bulk transfer's data between buffers, no Java view). */
    public static native long memcpy(long dest, long src, long n);

    /** {@code setsockopt} with the option's value in native memory at {@code optval}. */
    public static native int setsockopt(int sockfd, int level, int optname, long optval, int optlen);

    public static native int getrlimit(int resource, long rlim);

    public static native int getpid();

    /** The calling thread's kernel thread ID (glibc 2.30+). */
    public static native int gettid();

    /** Sends {@code sig} to one thread of a process (glibc 2.30+). */
    public static native int tgkill(int tgid, int tid, int sig);

    public static native int sigaction(int signum, long act, long oldact);

    /** The first real-time signal applications may use (glibc keeps the first few for itself). */
    public static native int __libc_current_sigrtmin();

    public static native long sysconf(int name);
}
