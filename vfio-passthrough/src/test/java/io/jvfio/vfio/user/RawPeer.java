package io.jvfio.vfio.user;

import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserHeader;
import io.jvfio.vfio.user.transport.VfioUserConnection;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SocketMessage;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.UnixSocket;
import io.jvfio.vmm.linux.jna.LibC;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLOUT;

/**
 * A vfio-user endpoint with no protocol logic of its own, for tests that must send what a correct
 * peer never would (malformed, truncated, mutated messages, wrong fd counts) and see exactly what
 * comes back. It is a real UNIX socket with real SCM_RIGHTS; only the protocol side is the test's.
 */
public final class RawPeer implements AutoCloseable {

    /** One message received: its header fields, payload and fds (the test owns the fds). */
    public record Frame(int id, int command, int size, int flags, int error, byte[] payload, int[] fds) {
        public boolean isReply() {
            return (flags & VfioUserHeader.TYPE_MASK) == VfioUserHeader.TYPE_REPLY;
        }

        public boolean isError() {
            return (flags & VfioUserHeader.ERROR_FLAG) != 0;
        }

        public ByteBuffer payloadBuffer() {
            return ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        }

        public void closeFds() {
            for (int fd : fds) {
                LibC.close(fd);
            }
        }

        /**
         * Checks that this is an error reply as the spec's "Header" section has it: the reply type
         * with the Error bit, the errno, and the header alone ("must only include the reply header").
         * Closes any fds it carried.
         */
        public Frame expectError(io.jvfio.vmm.linux.Errno errno) {
            closeFds();
            if (flags != (VfioUserHeader.TYPE_REPLY | VfioUserHeader.ERROR_FLAG) || error != errno.number()
                    || size != VfioUserHeader.SIZE) {
                throw new AssertionError("expected an error reply (header alone) with " + errno + ", got flags 0x"
                        + Integer.toHexString(flags) + ", errno " + io.jvfio.vmm.linux.Errno.describe(error) + ", "
                        + size + " bytes");
            }
            return this;
        }
    }

    /** The peer closed the connection. */
    public static final class ClosedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ClosedException() {
            super("the peer closed the connection");
        }
    }

    private final OwnedFd socket;
    private final SocketMessage message = new SocketMessage("raw peer", SocketMessage.SCM_MAX_FD);
    private final ByteBuffer out = ByteBuffer.allocateDirect(VfioUserConnection.MAX_MESSAGE * 2)
            .order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer in = ByteBuffer.allocateDirect(VfioUserConnection.MAX_MESSAGE * 2)
            .order(ByteOrder.LITTLE_ENDIAN);
    /** Fds received and not yet handed out, each with the stream position of the last byte read with it. */
    private final java.util.ArrayDeque<long[]> fdPositions = new java.util.ArrayDeque<>();
    private final java.util.ArrayDeque<int[]> fdSets = new java.util.ArrayDeque<>();
    private long received;
    private long consumed;

    public RawPeer(OwnedFd socket) {
        this.socket = socket;
        in.limit(0);
    }

    public static RawPeer connect(Path path) {
        return new RawPeer(UnixSocket.connect(path));
    }

    /** Accepts one client on {@code listener}, waiting up to {@code millis}. */
    static RawPeer accept(OwnedFd listener, int millis) {
        if (Syscalls.poll(listener, POLLIN, millis) == 0) {
            throw new AssertionError("no client connected within " + millis + " ms");
        }
        OwnedFd s = UnixSocket.accept(listener);
        if (s == null) {
            throw new AssertionError("accept found no client");
        }
        return new RawPeer(s);
    }

    public OwnedFd socket() {
        return socket;
    }

    /** A message with a header as given and {@code payload} after it; the size field says {@code declaredSize}. */
    public static ByteBuffer message(int id, int command, int declaredSize, int flags, int error, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(VfioUserHeader.SIZE + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) id).putShort((short) command).putInt(declaredSize).putInt(flags).putInt(error).put(payload);
        return b.flip();
    }

    /** A well-formed command. */
    public static ByteBuffer command(int id, VfioUserCommand command, byte[] payload) {
        return message(id, command.number(), VfioUserHeader.SIZE + payload.length, VfioUserHeader.TYPE_COMMAND, 0,
                payload);
    }

    /**
     * Sends a well-formed command and returns the next message, which must be its reply: the same
     * message ID and command (spec, "Header").
     */
    public Frame call(int id, VfioUserCommand command, byte[] payload, int... fds) {
        send(command(id, command, payload), fds);
        Frame r = reply(5000);
        if (!r.isReply() || r.id() != id || r.command() != command.number()) {
            r.closeFds();
            throw new AssertionError("expected the reply to " + command.specName() + " #" + id + ", got " + r);
        }
        return r;
    }

    /** Writes all of {@code data} (bytes as they are), the fds with its first byte. False if the peer is gone. */
    public boolean send(ByteBuffer data, int... fds) {
        out.clear();
        out.put(data.duplicate());
        out.flip();
        boolean first = true;
        while (out.hasRemaining()) {
            if (Syscalls.poll(socket, POLLOUT, 5000) == 0) {
                throw new AssertionError("the peer took no bytes for 5 s");
            }
            long n;
            try {
                n = message.send(socket.get(), out, first ? fds : new int[0], first ? fds.length : 0);
            } catch (SyscallException e) {
                return false; // EPIPE, ECONNRESET: the peer closed
            }
            if (n > 0) {
                first = false;
            }
        }
        return true;
    }

    /**
     * The next whole message, or null if none comes within {@code millis}. Throws
     * {@link ClosedException} when the peer closes the connection.
     */
    public Frame receive(int millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (true) {
            Frame f = frame();
            if (f != null) {
                return f;
            }
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0 || Syscalls.poll(socket, POLLIN, (int) left) == 0) {
                return null;
            }
            in.compact();
            long n;
            try {
                n = message.receive(socket.get(), in);
            } catch (SyscallException e) {
                in.flip();
                throw new ClosedException();
            }
            in.flip();
            if (n == 0) {
                throw new ClosedException();
            }
            if (message.receivedFdCount() > 0) {
                // The kernel ends a read right after the bytes that carried fds: they belong to the
                // message holding the last byte.
                int[] fds = new int[message.receivedFdCount()];
                for (int i = 0; i < fds.length; i++) {
                    fds[i] = message.receivedFd(i);
                }
                fdPositions.add(new long[] {received + n - 1});
                fdSets.add(fds);
            }
            received += n;
        }
    }

    /** The next reply, skipping nothing: a test that expects one asserts on what it gets. */
    public Frame reply(int millis) {
        Frame f = receive(millis);
        if (f == null) {
            throw new AssertionError("no message within " + millis + " ms");
        }
        return f;
    }

    private Frame frame() {
        if (in.remaining() < VfioUserHeader.SIZE) {
            return null;
        }
        int at = in.position();
        int size = in.getInt(at + VfioUserHeader.MSG_SIZE);
        if (size < VfioUserHeader.SIZE || size > VfioUserConnection.MAX_MESSAGE) {
            throw new AssertionError("the peer sent a message of " + size + " bytes");
        }
        if (in.remaining() < size) {
            return null;
        }
        byte[] payload = new byte[size - VfioUserHeader.SIZE];
        in.get(at + VfioUserHeader.SIZE, payload);
        int[] fds = new int[0];
        while (!fdPositions.isEmpty() && fdPositions.peekFirst()[0] < consumed + size) {
            fdPositions.pollFirst();
            int[] more = fdSets.pollFirst();
            int[] all = Arrays.copyOf(fds, fds.length + more.length);
            System.arraycopy(more, 0, all, fds.length, more.length);
            fds = all;
        }
        Frame f = new Frame(in.getShort(at) & 0xFFFF, in.getShort(at + 2) & 0xFFFF, size, in.getInt(at + 8),
                in.getInt(at + 12), payload, fds);
        consumed += size;
        in.position(at + size);
        return f;
    }

    /** True if the peer closes the connection within {@code millis} (messages before that are dropped). */
    /** True once the server has sent something (not read here): a reply has started to arrive. */
    public boolean readableWithin(int millis) {
        return in.hasRemaining() || Syscalls.poll(socket, POLLIN, millis) != 0;
    }

    public boolean closedWithin(int millis) {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        try {
            while (System.nanoTime() < deadline) {
                Frame f = receive((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000L));
                if (f != null) {
                    f.closeFds();
                }
            }
        } catch (ClosedException e) {
            return true;
        }
        return false;
    }

    @Override
    public void close() {
        for (int[] set : fdSets) {
            for (int fd : set) {
                LibC.close(fd);
            }
        }
        socket.close();
    }
}
