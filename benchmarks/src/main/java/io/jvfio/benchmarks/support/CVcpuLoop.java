package io.jvfio.benchmarks.support;

/**
 * The minimal C vCPU loop the benchmarks compare jvfio's with ({@code src/main/c/kvm_loop.c}, shipped
 * in the jar): compiled with {@code cc} when first used, loaded with JNA direct mapping.
 */
public final class CVcpuLoop {

    private static boolean loaded;

    private CVcpuLoop() {
    }

    /**
     * Runs the vCPU until the guest writes to {@code stopPort}, answering MMIO reads with
     * {@code value}; returns the MMIO exits handled, or a negative code (see the C source).
     */
    public static native long jvfio_c_vcpu_loop(int vcpuFd, long kvmRun, int stopPort, long value);

    /** Compiles and loads the loop, once per JVM. */
    public static synchronized void load() {
        if (loaded) {
            return;
        }
        CBaseline.compileAndRegister(CVcpuLoop.class, "kvm_loop.c");
        loaded = true;
    }
}
