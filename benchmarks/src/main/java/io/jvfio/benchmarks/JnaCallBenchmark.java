package io.jvfio.benchmarks;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.linux.jna.LinuxConstants;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Why the syscall layer uses JNA direct mapping: the same C functions called through a direct-mapped
 * static native method (as {@link LibC} does) and through a JNA interface proxy (JNA's default,
 * which reflects on each call). {@code sysconf(_SC_PAGESIZE)} returns a cached value without entering
 * the kernel, so it shows the binding's own cost; {@code getpid} adds one real system call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class JnaCallBenchmark {

    /** A direct-mapped binding of getpid, the one call LibC has no use for. */
    public static final class DirectGetpid {
        static {
            Native.register(DirectGetpid.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
        }

        public static native int getpid();
    }

    /** The same two functions through JNA's interface mapping. */
    public interface InterfaceLibC extends Library {
        int getpid();

        long sysconf(int name);
    }

    private InterfaceLibC proxied;

    @Setup
    public void setup() {
        proxied = Native.load(Platform.C_LIBRARY_NAME, InterfaceLibC.class);
    }

    @Benchmark
    public long sysconfDirect() {
        return LibC.sysconf(LinuxConstants._SC_PAGESIZE);
    }

    @Benchmark
    public long sysconfInterface() {
        return proxied.sysconf(LinuxConstants._SC_PAGESIZE);
    }

    @Benchmark
    public int getpidDirect() {
        return DirectGetpid.getpid();
    }

    @Benchmark
    public int getpidInterface() {
        return proxied.getpid();
    }
}
