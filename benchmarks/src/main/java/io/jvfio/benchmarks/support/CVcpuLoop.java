package io.jvfio.benchmarks.support;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

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
        try {
            Path dir = Files.createTempDirectory("jvfio-c-loop");
            Path source = dir.resolve("kvm_loop.c");
            try (InputStream in = CVcpuLoop.class.getResourceAsStream("/io/jvfio/benchmarks/c/kvm_loop.c")) {
                if (in == null) {
                    throw new IllegalStateException("kvm_loop.c is missing from the benchmarks jar");
                }
                Files.copy(in, source);
            }
            Path library = dir.resolve("libjvfio_kvm_loop.so");
            Process cc = new ProcessBuilder("cc", "-O2", "-shared", "-fPIC", "-o", library.toString(),
                    source.toString()).redirectErrorStream(true).start();
            String out = new String(cc.getInputStream().readAllBytes());
            if (!cc.waitFor(60, TimeUnit.SECONDS) || cc.exitValue() != 0) {
                throw new IllegalStateException("cc could not compile the C vCPU loop (install gcc): " + out);
            }
            Native.register(CVcpuLoop.class, NativeLibrary.getInstance(library.toString()));
            loaded = true;
            library.toFile().deleteOnExit();
            source.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
