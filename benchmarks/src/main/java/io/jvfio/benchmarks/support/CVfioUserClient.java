package io.jvfio.benchmarks.support;

import io.jvfio.vmm.linux.OwnedFd;

/**
 * The C baselines of the vfio-user benchmarks ({@code src/main/c/vfio_user_client.c}): a minimal
 * vfio-user client written from the spec, and a raw UNIX-socket ping-pong, compiled with {@code cc}
 * when first used and bound with JNA direct mapping. Addresses are native memory (direct buffers);
 * every function returns a negative errno on failure.
 */
public final class CVfioUserClient {

    private static boolean loaded;

    private CVfioUserClient() {
    }

    /** Connects to a vfio-user server's socket and negotiates VERSION; the socket fd. */
    public static native int jvfio_vu_connect(String path, int maxDataXfer);

    /** One REGION_READ round trip into {@code buf}; the bytes read. */
    public static native long jvfio_vu_region_read(int fd, int region, long offset, int count, long buf);

    /** One REGION_WRITE round trip from {@code buf}; the bytes written. */
    public static native long jvfio_vu_region_write(int fd, int region, long offset, int count, long buf);

    /** Starts a C thread answering every {@code request} bytes on {@code fd} with {@code reply} bytes. */
    public static native int jvfio_raw_echo_start(int fd, int request, int reply);

    /** Sends {@code request} bytes from {@code buf} and receives {@code reply} bytes into it. */
    public static native int jvfio_raw_round(int fd, long buf, int request, int reply);

    /**
     * Two connected UNIX stream sockets and a C thread answering every {@code request} bytes on the
     * far one with {@code reply} bytes: the raw ping-pong floor, a round at a time from this end.
     */
    public static final class Echo implements AutoCloseable {
        private final OwnedFd[] pair;
        private final int request;
        private final int reply;
        private final java.nio.ByteBuffer buffer;
        private final long address;

        public Echo(int request, int reply) {
            load();
            this.request = request;
            this.reply = reply;
            buffer = java.nio.ByteBuffer.allocateDirect(Math.max(request, reply));
            address = io.jvfio.vmm.linux.jna.DirectBuffers.address(buffer);
            pair = io.jvfio.vmm.linux.Syscalls.socketpair(io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM, "ping-pong");
            check(jvfio_raw_echo_start(pair[1].get(), request, reply), "echo thread");
        }

        /** One round: the request out, the reply back, both in C. */
        public int round() {
            return (int) check(jvfio_raw_round(pair[0].get(), address, request, reply), "ping-pong round");
        }

        @Override
        public void close() {
            // The echo thread sees the end of the stream and stops.
            io.jvfio.vmm.linux.jna.LibC.shutdown(pair[0].get(), io.jvfio.vmm.linux.jna.LinuxConstants.SHUT_RDWR);
            pair[0].close();
            pair[1].close();
        }
    }

    /**
     * Compiles and loads the C code if not yet, connects the C client to the server at {@code socket}
     * and negotiates VERSION with jvfio's largest data transfer; the socket fd, the caller's to close.
     */
    public static int connect(java.nio.file.Path socket) {
        load();
        return (int) check(jvfio_vu_connect(socket.toString(),
                io.jvfio.vfio.user.protocol.VfioUserVersion.MAX_DATA_XFER), "connect");
    }

    /** Compiles and loads the C code, once per JVM. */
    public static synchronized void load() {
        if (!loaded) {
            CBaseline.compileAndRegister(CVfioUserClient.class, "vfio_user_client.c",
                    java.util.List.of("vfio_user_socket.h"), "-lpthread");
            loaded = true;
        }
    }

    /** {@code result} if it is not negative, else an exception naming the errno and what failed. */
    public static long check(long result, String what) {
        if (result < 0) {
            throw new IllegalStateException("the C baseline's " + what + " failed: "
                    + io.jvfio.vmm.linux.Errno.describe((int) -result));
        }
        return result;
    }
}
