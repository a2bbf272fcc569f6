package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MFD_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants._SC_PAGESIZE;

/**
 * The system calls of {@link LibC} with Linux error handling: a -1 return becomes a
 * {@link SyscallException} naming the call, its object and the errno; EINTR is retried where the
 * call is restartable. Every descriptor created here is close-on-exec, so none leaks into a child
 * process (a QEMU, a vfio-user server) by accident.
 */
public final class Syscalls {

    private Syscalls() {
    }

    /**
     * Held apart so that loading Syscalls makes no native call: a call in a static initializer that
     * ran between a failed call and the read of its errno would overwrite it.
     */
    private static final class PageSize {
        static final long VALUE = LibC.sysconf(_SC_PAGESIZE);
    }

    /** The system page size, the granule of mmap, memfd sizes and VFIO DMA mappings. */
    public static long pageSize() {
        return PageSize.VALUE;
    }

    /** {@code open(path, flags | O_CLOEXEC)}. */
    public static OwnedFd open(String path, int flags) {
        while (true) {
            int fd = LibC.open(path, flags | O_CLOEXEC, 0);
            if (fd >= 0) {
                return OwnedFd.adopt(fd, path);
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("open", path, errno);
            }
        }
    }

    /** An anonymous memory file, named {@code memfd:name} in {@code /proc/self/fd}, close-on-exec. */
    public static OwnedFd memfdCreate(String name, int flags) {
        int fd = LibC.memfd_create(name, flags | MFD_CLOEXEC);
        if (fd < 0) {
            throw new SyscallException("memfd_create", "memfd:" + name, LibC.errno());
        }
        return OwnedFd.adopt(fd, "memfd:" + name);
    }

    public static void ftruncate(OwnedFd fd, long length) {
        while (LibC.ftruncate(fd.get(), length) < 0) {
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("ftruncate to " + length + " bytes", fd.name(), errno);
            }
        }
    }

    /** Adds seals (F_SEAL_SHRINK...) to a memfd, so no holder of the fd can change what they forbid. */
    public static void addSeals(OwnedFd fd, int seals) {
        if (LibC.fcntl(fd.get(), LinuxConstants.F_ADD_SEALS, seals) < 0) {
            throw new SyscallException("fcntl(F_ADD_SEALS)", fd.name(), LibC.errno());
        }
    }

    /** The seals of a memfd. */
    public static int seals(OwnedFd fd) {
        int r = LibC.fcntl(fd.get(), LinuxConstants.F_GET_SEALS, 0);
        if (r < 0) {
            throw new SyscallException("fcntl(F_GET_SEALS)", fd.name(), LibC.errno());
        }
        return r;
    }

    /** A second descriptor for the same open file, close-on-exec, owned by the caller. */
    public static OwnedFd dup(OwnedFd fd) {
        return dup(fd.get(), fd.name());
    }

    /**
     * Makes a socket's reads and writes block (clears O_NONBLOCK), and bounds a blocking read at
     * {@code receiveTimeoutMillis} (SO_RCVTIMEO: the read then fails with EAGAIN). For a socket
     * whose reader waits for a reply in one recvmsg, with no poll before it; a caller that must
     * not wait passes MSG_DONTWAIT. O_NONBLOCK belongs to the open file description: only for a
     * socket no other process shares.
     */
    public static void blockingWithReceiveTimeout(OwnedFd socket, long receiveTimeoutMillis) {
        int flags = LibC.fcntl(socket.get(), LinuxConstants.F_GETFL, 0);
        if (flags < 0 || LibC.fcntl(socket.get(), LinuxConstants.F_SETFL, flags & ~LinuxConstants.O_NONBLOCK) < 0) {
            throw new SyscallException("fcntl(F_SETFL)", socket.name(), LibC.errno());
        }
        receiveTimeout(socket, receiveTimeoutMillis);
    }

    /**
     * Bounds a blocking socket's reads (SO_RCVTIMEO) at {@code millis}, after which a read that got
     * nothing fails with EAGAIN; 0 lets them wait for ever.
     */
    public static void receiveTimeout(OwnedFd socket, long receiveTimeoutMillis) {
        // struct timeval { time_t tv_sec; suseconds_t tv_usec; }: two longs on x86_64.
        ByteBuffer timeval = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
        timeval.putLong(0, receiveTimeoutMillis / 1000).putLong(8, (receiveTimeoutMillis % 1000) * 1000);
        if (LibC.setsockopt(socket.get(), LinuxConstants.SOL_SOCKET, LinuxConstants.SO_RCVTIMEO,
                DirectBuffers.address(timeval), 16) < 0) {
            throw new SyscallException("setsockopt(SO_RCVTIMEO)", socket.name(), LibC.errno());
        }
    }

    /**
     * Asks for {@code bytes} of send and receive buffer on a socket (SO_SNDBUF, SO_RCVBUF; the kernel
     * doubles the value for its bookkeeping and caps the request at net.core.wmem_max / rmem_max
     * without a word). A UNIX stream socket's default (net.core.wmem_default, 208 KiB) takes a
     * 1 MiB message in five partial sendmsg calls; a larger one takes it in one. Best effort: a
     * refusal leaves the defaults, which work, only slower.
     */
    public static void socketBuffers(OwnedFd socket, int bytes) {
        ByteBuffer value = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).putInt(0, bytes);
        LibC.setsockopt(socket.get(), LinuxConstants.SOL_SOCKET, LinuxConstants.SO_SNDBUF, DirectBuffers.address(value), 4);
        LibC.setsockopt(socket.get(), LinuxConstants.SOL_SOCKET, LinuxConstants.SO_RCVBUF, DirectBuffers.address(value), 4);
    }

    /** A close-on-exec duplicate of a descriptor someone else owns. */
    public static OwnedFd dup(int fd, String name) {
        int r = LibC.fcntl(fd, LinuxConstants.F_DUPFD_CLOEXEC, 0);
        if (r < 0) {
            throw new SyscallException("fcntl(F_DUPFD_CLOEXEC)", name, LibC.errno());
        }
        return OwnedFd.adopt(r, name);
    }

    /**
     * {@code mlock}: faults in and locks the pages of [address, address + length) in RAM (charged to
     * RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK). Locked pages are not swapped out, but the
     * kernel may still migrate them to other physical pages (compaction, unless
     * {@code vm.compact_unevictable_allowed} is 0; NUMA balancing; memory hot-unplug): mlock is no
     * pin of the physical address, which only a kernel driver can take (VFIO's Type1 and iommufd do).
     */
    public static void mlock(long address, long length, String what) {
        if (LibC.mlock(address, length) < 0) {
            throw new SyscallException("mlock", what, LibC.errno());
        }
    }

    /** {@code munlock}: the pages of [address, address + length) may be swapped out again. */
    public static void munlock(long address, long length, String what) {
        if (LibC.munlock(address, length) < 0) {
            throw new SyscallException("munlock", what, LibC.errno());
        }
    }

    /** Reads up to {@code count} bytes into native memory at {@code address}; 0 at end of file. */
    public static long read(OwnedFd fd, long address, long count) {
        while (true) {
            long n = LibC.read(fd.get(), address, count);
            if (n >= 0) {
                return n;
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("read", fd.name(), errno);
            }
        }
    }

    public static long write(OwnedFd fd, long address, long count) {
        while (true) {
            long n = LibC.write(fd.get(), address, count);
            if (n >= 0) {
                return n;
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("write", fd.name(), errno);
            }
        }
    }

    /** Reads at a file offset, as VFIO region accesses are addressed (region offset + offset in region). */
    public static long pread(OwnedFd fd, long address, long count, long offset) {
        while (true) {
            long n = LibC.pread(fd.get(), address, count, offset);
            if (n >= 0) {
                return n;
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("pread of " + count + " bytes at 0x" + Long.toHexString(offset),
                        fd.name(), errno);
            }
        }
    }

    /**
     * Reads {@code size} (1, 2, 4 or 8) bytes at {@code offset} as a little-endian value, zero-extended:
     * a trapped register's read. Through this thread's scratch memory, so nothing is allocated. A short
     * read is an error (EIO). (x86-64 is little-endian, as the value's bytes are.)
     */
    public static long preadValue(OwnedFd fd, int size, long offset) {
        ThreadScratch scratch = ThreadScratch.get();
        scratch.putU64At(0, 0);
        long n = pread(fd, scratch.address(), size, offset);
        if (n != size) {
            throw new SyscallException("pread of " + size + " bytes at 0x" + Long.toHexString(offset) + " (" + n
                    + " came)", fd.name(), Errno.EIO.number());
        }
        return scratch.u64At(0);
    }

    /**
     * Writes the low {@code size} (1, 2, 4 or 8) bytes of {@code value}, little-endian, at {@code offset}:
     * a trapped register's write, allocating nothing. A short write is an error (EIO).
     */
    public static void pwriteValue(OwnedFd fd, long value, int size, long offset) {
        ThreadScratch scratch = ThreadScratch.get();
        scratch.putU64At(0, value);
        long n = pwrite(fd, scratch.address(), size, offset);
        if (n != size) {
            throw new SyscallException("pwrite of " + size + " bytes at 0x" + Long.toHexString(offset) + " (" + n
                    + " went)", fd.name(), Errno.EIO.number());
        }
    }

    public static long pwrite(OwnedFd fd, long address, long count, long offset) {
        while (true) {
            long n = LibC.pwrite(fd.get(), address, count, offset);
            if (n >= 0) {
                return n;
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("pwrite of " + count + " bytes at 0x" + Long.toHexString(offset),
                        fd.name(), errno);
            }
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (-1 for ever) for {@code events} on one fd; returns the
     * {@code revents} seen, 0 on timeout.
     */
    public static int poll(OwnedFd fd, int events, int timeoutMillis) {
        ThreadScratch scratch = ThreadScratch.get();
        scratch.putPollFd(fd.get(), events);
        while (true) {
            int r = LibC.poll(scratch.address(), 1, timeoutMillis);
            if (r >= 0) {
                return r == 0 ? 0 : scratch.pollRevents();
            }
            int errno = LibC.errno();
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("poll", fd.name(), errno);
            }
        }
    }

    /** A connected pair of close-on-exec UNIX sockets of {@code type} (SOCK_STREAM, SOCK_SEQPACKET). */
    public static OwnedFd[] socketpair(int type, String name) {
        int[] sv = new int[2];
        if (LibC.socketpair(LinuxConstants.AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
            throw new SyscallException("socketpair", name, LibC.errno());
        }
        return new OwnedFd[] {OwnedFd.adopt(sv[0], name + "[0]"), OwnedFd.adopt(sv[1], name + "[1]")};
    }
}
