package io.jvfio.benchmarks.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The C server baseline of the vfio-user benchmarks ({@code src/main/c/vfio_user_server.c}): a
 * minimal vfio-user server written from the spec with libvfio-user's shape of a request (a blocking
 * socket on a thread of its own; recvmsg of the header, recv of the payload, one sendmsg reply),
 * serving edu's first two registers in BAR0 and 1 MiB of memory in BAR2. It stands in for
 * libvfio-user, which is not packaged in Debian and cannot be fetched here: it is not libvfio-user.
 * Compiled with {@code cc} when first used and bound with JNA direct mapping.
 */
public final class CVfioUserServer implements AutoCloseable {

    private static boolean loaded;

    private final Path dir;
    private final long handle;

    /** Serves on a socket in a fresh temporary directory, on a C thread. */
    public CVfioUserServer() throws IOException {
        load();
        dir = Files.createTempDirectory("jvfio-bench-c");
        handle = CVfioUserClient.check(jvfio_vus_start(socket().toString()), "server start");
    }

    /** Starts the C server at {@code path}; its handle. */
    static native long jvfio_vus_start(String path);

    /** Stops the server (its client gone) and removes its socket. */
    static native int jvfio_vus_stop(long handle);

    public Path socket() {
        return dir.resolve("c-server.sock");
    }

    /** Stops the server: close its client first (the server's thread serves a client to its end). */
    @Override
    public void close() throws IOException {
        jvfio_vus_stop(handle);
        Files.deleteIfExists(socket());
        Files.deleteIfExists(dir);
    }

    private static synchronized void load() {
        if (!loaded) {
            CBaseline.compileAndRegister(CVfioUserServer.class, "vfio_user_server.c",
                    java.util.List.of("vfio_user_socket.h"), "-lpthread");
            loaded = true;
        }
    }
}
