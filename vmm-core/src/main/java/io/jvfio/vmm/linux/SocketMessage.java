package io.jvfio.vmm.linux;

import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;
import io.jvfio.vmm.range.UnsignedRange;

import java.nio.ByteBuffer;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_CMSG_CLOEXEC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_CTRUNC;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MSG_NOSIGNAL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SCM_RIGHTS;
import static io.jvfio.vmm.linux.jna.LinuxConstants.SOL_SOCKET;

/**
 * A reusable {@code sendmsg}/{@code recvmsg} message on a UNIX socket: a byte payload and any number
 * of file descriptors (SCM_RIGHTS) in the same call, as vfio-user sends a DMA_MAP header with its
 * memfd. The {@code struct msghdr}, its {@code iovec} and a control buffer for {@code maxFds} fds
 * are allocated once, so sending and receiving allocate nothing.
 *
 * <p>One instance serves one thread (the connection's event loop). On a non-blocking socket, both
 * calls return -1 for EAGAIN so the caller can wait for readiness; other failures throw.
 */
public final class SocketMessage {

    // struct msghdr (sys/socket.h, x86_64)
    static final int MSG_NAME = 0;
    static final int MSG_NAMELEN = 8;
    static final int MSG_IOV = 16;
    static final int MSG_IOVLEN = 24;
    static final int MSG_CONTROL = 32;
    static final int MSG_CONTROLLEN = 40;
    static final int MSG_FLAGS = 48;
    static final int MSGHDR_SIZEOF = 56;
    static final StructLayout MSGHDR_LAYOUT = StructLayout.of("sys/socket.h", "msghdr", MSGHDR_SIZEOF)
            .field("msg_name", MSG_NAME, 8)
            .field("msg_namelen", MSG_NAMELEN, 4)
            .field("msg_iov", MSG_IOV, 8)
            .field("msg_iovlen", MSG_IOVLEN, 8)
            .field("msg_control", MSG_CONTROL, 8)
            .field("msg_controllen", MSG_CONTROLLEN, 8)
            .field("msg_flags", MSG_FLAGS, 4)
            .build();

    // struct iovec (sys/uio.h)
    static final int IOV_BASE = 0;
    static final int IOV_LEN = 8;
    static final int IOVEC_SIZEOF = 16;
    static final StructLayout IOVEC_LAYOUT = StructLayout.of("sys/uio.h", "iovec", IOVEC_SIZEOF)
            .field("iov_base", IOV_BASE, 8)
            .field("iov_len", IOV_LEN, 8)
            .build();

    // struct cmsghdr (sys/socket.h): the fds follow the header at CMSG_DATA
    static final int CMSG_LEN_FIELD = 0;
    static final int CMSG_LEVEL = 8;
    static final int CMSG_TYPE = 12;
    static final int CMSGHDR_SIZEOF = 16;
    static final StructLayout CMSGHDR_LAYOUT = StructLayout.of("sys/socket.h", "cmsghdr", CMSGHDR_SIZEOF)
            .field("cmsg_len", CMSG_LEN_FIELD, 8)
            .field("cmsg_level", CMSG_LEVEL, 4)
            .field("cmsg_type", CMSG_TYPE, 4)
            .flexibleArray("__cmsg_data", CMSGHDR_SIZEOF, 1)
            .build();

    /** Linux refuses more than SCM_MAX_FD (253) descriptors in one message. */
    public static final int SCM_MAX_FD = 253;

    private static final int IOVEC_AT = MSGHDR_SIZEOF;
    /** Room for two iovecs: a message's header and its data, sent from where each lies. */
    private static final int CONTROL_AT = IOVEC_AT + 2 * IOVEC_SIZEOF;

    private final Block block;
    private final String name;
    private final int maxFds;
    private final int controlSpace;
    private final int[] receivedFds;
    private int receivedFdCount;
    private int receivedFlags;

    /** A message that carries up to {@code maxFds} descriptors; {@code name} names the socket in errors. */
    public SocketMessage(String name, int maxFds) {
        if (maxFds < 0 || maxFds > SCM_MAX_FD) {
            throw new IllegalArgumentException("maxFds must be 0.." + SCM_MAX_FD + ": " + maxFds);
        }
        this.name = name;
        this.maxFds = maxFds;
        this.controlSpace = cmsgSpace(4 * Math.max(maxFds, 1));
        this.block = new Block(CONTROL_AT + controlSpace);
        this.receivedFds = new int[(controlSpace - CMSGHDR_SIZEOF) / 4];
    }

    /** {@code CMSG_ALIGN}: control messages are aligned to {@code sizeof(size_t)}. */
    static int cmsgAlign(int length) {
        return (length + 7) & ~7;
    }

    /** {@code CMSG_SPACE(length)}: the buffer space a control message with {@code length} data bytes needs. */
    public static int cmsgSpace(int length) {
        return cmsgAlign(length) + cmsgAlign(CMSGHDR_SIZEOF);
    }

    /** {@code CMSG_LEN(length)}: the value of {@code cmsg_len} for {@code length} data bytes. */
    public static int cmsgLen(int length) {
        return cmsgAlign(CMSGHDR_SIZEOF) + length;
    }

    public int maxFds() {
        return maxFds;
    }

    /**
     * Sends {@code length} bytes at native address {@code data} with {@code fds[0..fdCount)} attached
     * to the first byte. Returns the bytes sent (a stream socket may take fewer; the fds went with
     * what was sent, so the rest goes without them), or -1 if the socket is non-blocking and full.
     */
    public long send(int socket, long data, long length, int[] fds, int fdCount, int flags) {
        return send(socket, data, length, 0, 0, fds, fdCount, flags);
    }

    /**
     * As {@link #send(int, long, long, int[], int, int)}, gathering two pieces in one sendmsg: {@code
     * headLength} bytes at {@code head}, then {@code length} bytes at {@code data} (a message's header
     * from one buffer, its data straight from the memory it lies in, copied nowhere first). Returns
     * the bytes of both sent.
     */
    public long send(int socket, long head, long headLength, long data, long length, int[] fds, int fdCount,
                     int flags) {
        if (fdCount < 0 || fdCount > maxFds) {
            throw new IllegalArgumentException(fdCount + " fds do not fit a message of at most " + maxFds
                    + " on " + name);
        }
        if (fdCount > 0 && headLength + length == 0) {
            // On a stream socket a message of zero bytes delivers nothing, fds included.
            throw new IllegalArgumentException("file descriptors need at least one byte of payload on " + name);
        }
        ByteBuffer m = block.memory();
        prepare(m, head, headLength);
        if (length > 0) {
            m.putLong(MSG_IOVLEN, 2L);
            m.putLong(IOVEC_AT + IOVEC_SIZEOF + IOV_BASE, data);
            m.putLong(IOVEC_AT + IOVEC_SIZEOF + IOV_LEN, length);
        }
        if (fdCount > 0) {
            m.putLong(CONTROL_AT + CMSG_LEN_FIELD, cmsgLen(4 * fdCount));
            m.putInt(CONTROL_AT + CMSG_LEVEL, SOL_SOCKET);
            m.putInt(CONTROL_AT + CMSG_TYPE, SCM_RIGHTS);
            for (int i = 0; i < fdCount; i++) {
                m.putInt(CONTROL_AT + CMSGHDR_SIZEOF + 4 * i, fds[i]);
            }
            m.putLong(MSG_CONTROL, block.address() + CONTROL_AT);
            m.putLong(MSG_CONTROLLEN, cmsgSpace(4 * fdCount));
        }
        while (true) {
            long n = LibC.sendmsg(socket, block.address(), flags | MSG_NOSIGNAL);
            if (n >= 0) {
                return n;
            }
            int errno = LibC.errno();
            if (errno == Errno.EAGAIN.number()) {
                return -1;
            }
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("sendmsg of " + (headLength + length) + " bytes and " + fdCount + " fds", name, errno);
            }
        }
    }

    /** {@link #send(int, long, long, int[], int, int)} from a direct buffer's position to its limit. */
    public long send(int socket, ByteBuffer data, int[] fds, int fdCount) {
        long n = send(socket, DirectBuffers.address(data) + data.position(), data.remaining(), fds, fdCount, 0);
        if (n > 0) {
            data.position(data.position() + (int) n);
        }
        return n;
    }

    /**
     * Receives up to {@code capacity} bytes into native address {@code data}, and any fds sent with
     * them, which the caller then owns (see {@link #receivedFd}). Returns the bytes received, 0 when
     * the peer closed the socket, or -1 if the socket is non-blocking and empty.
     */
    public long receive(int socket, long data, long capacity, int flags) {
        ByteBuffer m = block.memory();
        receivedFdCount = 0;
        receivedFlags = 0;
        long n;
        while (true) {
            prepare(m, data, capacity);
            m.putLong(MSG_CONTROL, block.address() + CONTROL_AT);
            m.putLong(MSG_CONTROLLEN, controlSpace);
            n = LibC.recvmsg(socket, block.address(), flags | MSG_CMSG_CLOEXEC);
            if (n >= 0) {
                break;
            }
            int errno = LibC.errno();
            if (errno == Errno.EAGAIN.number()) {
                return -1;
            }
            if (errno != Errno.EINTR.number()) {
                throw new SyscallException("recvmsg", name, errno);
            }
        }
        receivedFlags = m.getInt(MSG_FLAGS);
        long controlLength = m.getLong(MSG_CONTROLLEN);
        int at = 0;
        while (UnsignedRange.fits(at, CMSGHDR_SIZEOF, controlLength)) {
            int len = (int) m.getLong(CONTROL_AT + at + CMSG_LEN_FIELD);
            if (len < CMSGHDR_SIZEOF || !UnsignedRange.fits(at, len, controlLength)) {
                break;
            }
            if (m.getInt(CONTROL_AT + at + CMSG_LEVEL) == SOL_SOCKET
                    && m.getInt(CONTROL_AT + at + CMSG_TYPE) == SCM_RIGHTS) {
                int count = (len - CMSGHDR_SIZEOF) / 4;
                for (int i = 0; i < count && receivedFdCount < receivedFds.length; i++) {
                    receivedFds[receivedFdCount++] = m.getInt(CONTROL_AT + at + CMSGHDR_SIZEOF + 4 * i);
                }
            }
            at += cmsgAlign(len);
        }
        return n;
    }

    /** {@link #receive(int, long, long, int)} into a direct buffer from its position to its limit. */
    public long receive(int socket, ByteBuffer data) {
        long n = receive(socket, DirectBuffers.address(data) + data.position(), data.remaining(), 0);
        if (n > 0) {
            data.position(data.position() + (int) n);
        }
        return n;
    }

    /** How many fds the last receive delivered. */
    public int receivedFdCount() {
        return receivedFdCount;
    }

    /** The {@code i}-th fd of the last receive; the caller owns it and must adopt or close it. */
    public int receivedFd(int i) {
        if (i < 0 || i >= receivedFdCount) {
            throw new IndexOutOfBoundsException("fd " + i + " of " + receivedFdCount + " received");
        }
        return receivedFds[i];
    }

    /**
     * True when the peer sent more fds than this message has room for: the kernel closed the extra
     * ones (MSG_CTRUNC), and the message must be refused.
     */
    public boolean controlTruncated() {
        return (receivedFlags & MSG_CTRUNC) != 0;
    }

    /** Closes every fd of the last receive, for a message that is being refused. */
    public void closeReceivedFds() {
        for (int i = 0; i < receivedFdCount; i++) {
            LibC.close(receivedFds[i]);
        }
        receivedFdCount = 0;
    }

    private void prepare(ByteBuffer m, long data, long length) {
        m.putLong(MSG_NAME, 0L);
        m.putInt(MSG_NAMELEN, 0);
        m.putLong(MSG_IOV, block.address() + IOVEC_AT);
        m.putLong(MSG_IOVLEN, 1L);
        m.putLong(MSG_CONTROL, 0L);
        m.putLong(MSG_CONTROLLEN, 0L);
        m.putInt(MSG_FLAGS, 0);
        m.putLong(IOVEC_AT + IOV_BASE, data);
        m.putLong(IOVEC_AT + IOV_LEN, length);
    }

    /** The native memory of the message: msghdr, then the iovec, then the control buffer. */
    private static final class Block extends NativeStruct {
        Block(int size) {
            super(size);
        }
    }
}
