package io.jvfio.benchmarks.support;

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

    /** Compiles and loads the C code, once per JVM. */
    public static synchronized void load() {
        if (!loaded) {
            CBaseline.compileAndRegister(CVfioUserClient.class, "vfio_user_client.c", "-lpthread");
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
