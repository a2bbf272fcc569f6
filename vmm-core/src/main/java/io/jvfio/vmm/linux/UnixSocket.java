package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

import static io.jvfio.vmm.linux.jna.LinuxConstants.AF_UNIX;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_NONBLOCK;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;

/**
 * UNIX stream sockets at a path: listening, accepting and connecting, non-blocking and close-on-exec,
 * for vfio-user. Everything past the connection (bytes and fds together) is {@link SocketMessage}.
 */
public final class UnixSocket {

    /** {@code struct sockaddr_un}: the family, then the path, NUL-terminated, in 108 bytes. */
    static final int SUN_FAMILY = 0;
    static final int SUN_PATH = 2;
    static final int SUN_PATH_LENGTH = 108;
    static final int SOCKADDR_UN_SIZEOF = 110;
    static final StructLayout SOCKADDR_UN_LAYOUT = StructLayout.of("sys/un.h", "sockaddr_un", SOCKADDR_UN_SIZEOF)
            .field("sun_family", SUN_FAMILY, 2)
            .field("sun_path", SUN_PATH, SUN_PATH_LENGTH)
            .build();

    private UnixSocket() {
    }

    /**
     * Listens at {@code path}. A socket file left by a server that died is replaced; anything else
     * at the path (a live server, a FIFO, a device node, a file) is an error that says what it is.
     */
    public static OwnedFd listen(Path path, int backlog) {
        Address address = Address.of(path, "bind");
        String kind = fileKind(path);
        if (kind != null) {
            if (!kind.equals(SOCKET)) {
                throw new SyscallException("bind", path + " (it exists and is " + kind
                        + ", not a socket: remove it or choose another path)", Errno.EEXIST.number());
            }
            requireStale(path, address);
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                throw new SyscallException("unlink", path.toString(), Errno.EACCES.number());
            }
        }
        OwnedFd fd = newSocket(path.toString());
        try {
            if (LibC.bind(fd.get(), address.address(), SOCKADDR_UN_SIZEOF) < 0) {
                throw new SyscallException("bind", path.toString(), LibC.errno());
            }
            if (LibC.listen(fd.get(), backlog) < 0) {
                throw new SyscallException("listen", path.toString(), LibC.errno());
            }
            return fd;
        } catch (RuntimeException e) {
            fd.close();
            throw e;
        }
    }

    /**
     * Only ECONNREFUSED proves that nobody listens (unix(7): the kernel refuses a connection to a
     * socket file with no listener behind it). EAGAIN is a live server whose backlog is full; any
     * other answer is not proof either, so the path is left alone.
     */
    private static void requireStale(Path path, Address address) {
        OwnedFd probe = newSocket(path.toString());
        try {
            while (LibC.connect(probe.get(), address.address(), SOCKADDR_UN_SIZEOF) < 0) {
                int errno = LibC.errno();
                if (errno == Errno.EINTR.number()) {
                    continue;
                }
                if (errno == Errno.ECONNREFUSED.number() || errno == Errno.ENOENT.number()) {
                    return; // stale, or already gone
                }
                String why = errno == Errno.EAGAIN.number()
                        ? " (a server is listening on it and its backlog is full)"
                        : " (cannot prove that nobody listens on it: connect says " + Errno.describe(errno) + ")";
                throw new SyscallException("bind", path + why, Errno.EADDRINUSE.number());
            }
            throw new SyscallException("bind", path + " (another server is listening on it)", Errno.EADDRINUSE.number());
        } finally {
            probe.close();
        }
    }

    private static final String SOCKET = "a socket";

    /** What is at {@code path}, not following a symbolic link, in words; null if nothing is. */
    private static String fileKind(Path path) {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new SyscallException("stat", path + " (" + e.getMessage() + ")", Errno.EACCES.number());
        }
        return switch (mode & S_IFMT) {
            case S_IFSOCK -> SOCKET;
            case S_IFIFO -> "a FIFO";
            case S_IFCHR -> "a character device";
            case S_IFBLK -> "a block device";
            case S_IFDIR -> "a directory";
            case S_IFLNK -> "a symbolic link";
            case S_IFREG -> "a regular file";
            default -> "a file of type 0" + Integer.toOctalString(mode & S_IFMT);
        };
    }

    /** inode(7) file types in {@code st_mode}. */
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFIFO = 0010000;

    /** Accepts a waiting connection, or returns null if none is waiting. */
    public static OwnedFd accept(OwnedFd listener) {
        while (true) {
            int fd = LibC.accept4(listener.get(), 0L, 0L, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                return OwnedFd.adopt(fd, "connection on " + listener.name());
            }
            int errno = LibC.errno();
            if (errno == Errno.EAGAIN.number()) {
                return null;
            }
            if (errno != Errno.EINTR.number() && errno != Errno.ECONNABORTED.number()) {
                throw new SyscallException("accept4", listener.name(), errno);
            }
        }
    }

    /** Connects to the server listening at {@code path}; the socket is non-blocking once connected. */
    public static OwnedFd connect(Path path) {
        Address address = Address.of(path, "connect");
        OwnedFd fd = connectOrNull(path, address);
        if (fd == null) {
            throw new SyscallException("connect", path.toString(), address.lastErrno);
        }
        return fd;
    }

    private static OwnedFd connectOrNull(Path path, Address address) {
        OwnedFd fd = newSocket(path.toString());
        while (LibC.connect(fd.get(), address.address(), SOCKADDR_UN_SIZEOF) < 0) {
            int errno = LibC.errno();
            if (errno == Errno.EINTR.number()) {
                continue;
            }
            fd.close();
            address.lastErrno = errno;
            if (errno == Errno.ECONNREFUSED.number() || errno == Errno.ENOENT.number()) {
                return null;
            }
            if (errno == Errno.EAGAIN.number()) {
                return null; // backlog full: the server is not accepting now; connect() reports EAGAIN
            }
            throw new SyscallException("connect", path.toString(), errno);
        }
        return fd;
    }

    private static OwnedFd newSocket(String name) {
        int fd = LibC.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw new SyscallException("socket", name, LibC.errno());
        }
        return OwnedFd.adopt(fd, name);
    }

    /** A filled-in {@code struct sockaddr_un}. */
    private static final class Address extends NativeStruct {
        int lastErrno;

        private Address() {
            super(SOCKADDR_UN_SIZEOF);
        }

        /** ENAMETOOLONG is what bind and connect answer for a path that does not fit, as unix(7) says. */
        static Address of(Path path, String operation) {
            byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
            if (bytes.length >= SUN_PATH_LENGTH) {
                throw new SyscallException(operation, "(a UNIX socket path holds at most " + (SUN_PATH_LENGTH - 1)
                        + " bytes; " + path + " has " + bytes.length + ": use a shorter path, e.g. under /run or /tmp)",
                        Errno.ENAMETOOLONG.number());
            }
            Address a = new Address();
            a.putU16(SUN_FAMILY, AF_UNIX);
            for (int i = 0; i < bytes.length; i++) {
                a.putU8(SUN_PATH + i, bytes[i]);
            }
            return a;
        }
    }
}
