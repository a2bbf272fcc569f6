package io.jvfio.vmm.linux;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

import static io.jvfio.vmm.linux.LinuxConstants.AF_UNIX;
import static io.jvfio.vmm.linux.LinuxConstants.SOCK_CLOEXEC;
import static io.jvfio.vmm.linux.LinuxConstants.SOCK_NONBLOCK;
import static io.jvfio.vmm.linux.LinuxConstants.SOCK_STREAM;

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
    public static final StructLayout SOCKADDR_UN_LAYOUT = StructLayout.of("sys/un.h", "sockaddr_un", SOCKADDR_UN_SIZEOF)
            .field("sun_family", SUN_FAMILY, 2)
            .field("sun_path", SUN_PATH, SUN_PATH_LENGTH)
            .build();

    private UnixSocket() {
    }

    /**
     * Listens at {@code path}. A socket file left by a server that died is replaced; one a live
     * server is listening on is an error that says so.
     */
    public static OwnedFd listen(Path path, int backlog) {
        Address address = Address.of(path);
        if (Files.exists(path)) {
            if (!isSocket(path)) {
                throw new SyscallException("bind", path + " (it exists and is not a socket)", Errno.EEXIST.number());
            }
            try (OwnedFd probe = connectOrNull(path, address)) {
                if (probe != null) {
                    throw new SyscallException("bind", path + " (another server is listening on it)",
                            Errno.EADDRINUSE.number());
                }
            }
            try {
                Files.deleteIfExists(path); // stale: nobody listens
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

    private static boolean isSocket(Path path) {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther();
        } catch (IOException e) {
            return false;
        }
    }

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
        Address address = Address.of(path);
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
                address.lastErrno = errno; // backlog full: the server is not accepting
                return null;
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

        static Address of(Path path) {
            byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
            if (bytes.length >= SUN_PATH_LENGTH) {
                throw new IllegalArgumentException("a UNIX socket path holds at most " + (SUN_PATH_LENGTH - 1)
                        + " bytes; " + path + " has " + bytes.length + " (use a shorter path, e.g. under /run or /tmp)");
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
