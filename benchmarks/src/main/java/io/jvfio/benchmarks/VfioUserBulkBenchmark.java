package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.CVfioUserClient;
import io.jvfio.benchmarks.support.CVfioUserServer;
import io.jvfio.benchmarks.support.EduServer;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.jna.LibC;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * 1 MiB REGION_READ and REGION_WRITE of the edu device's BAR2 (1 MiB of memory on a memfd), one
 * message each way, through jvfio's server: from jvfio's Java client, and from a minimal C client
 * ({@code src/main/c/vfio_user_client.c}, compiled with {@code cc} at setup and called through JNA,
 * one transfer per call, so that JMH samples both clients the same way); beside the floor: 1 MiB
 * through a raw UNIX socket to a C thread that answers with 32 bytes. Time per MiB; 1 MiB / time
 * is the rate (1,048.6 µs per MiB is 1 GB/s).
 *
 * <p>libvfio-user's server, the natural baseline for the server side, is not packaged in Debian and
 * cannot be fetched here (only Maven Central and Debian packages are reachable): a minimal C server
 * stands in for it ({@code src/main/c/vfio_user_server.c}, NOT libvfio-user: written from the spec
 * with libvfio-user's shape of a request, the payload received into a buffer and copied to the
 * region), with the same 1 MiB BAR2, and the C client's transfers to it are the server's baseline;
 * the raw socket is the floor. Without a C compiler the C rows fail
 * their setup saying so (install gcc), and the suite leaves them out.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class VfioUserBulkBenchmark {

    static final int MIB = 1 << 20;
    static final int BAR2 = 2;
    static final int REPLY = 32;

    /** The edu device served over vfio-user at a socket of its own, and 1 MiB of native memory. */
    public abstract static class Served {
        EduServer served;
        final ByteBuffer buffer = ByteBuffer.allocateDirect(MIB);
        long address;

        void serve() throws IOException {
            served = new EduServer();
            fill();
        }

        /** The buffer's pattern, and its address. */
        void fill() {
            address = DirectBuffers.address(buffer);
            for (int i = 0; i < MIB; i += 8) {
                buffer.putLong(i, i * 0x9E3779B97F4A7C15L);
            }
        }
    }

    /** jvfio's client. */
    @State(Scope.Benchmark)
    public static class JavaClient extends Served {
        VfioUserClient client;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            serve();
            client = VfioUserClient.connect(served.socket(), 5000, null);
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            boolean read = params.getBenchmark().endsWith("Read1MiBJava");
            BenchNotes.write(params, AllocationMeter.measure(read ? () -> client.read(BAR2, 0, address, MIB)
                    : () -> client.write(BAR2, 0, address, MIB)));
            client.close();
            served.close();
        }
    }

    /** The C client's transfers, over its socket to a server. */
    public abstract static class CClientOf extends Served {
        int fd = -1;

        long read() {
            return CVfioUserClient.check(CVfioUserClient.jvfio_vu_region_read(fd, BAR2, 0, MIB, address), "REGION_READ");
        }

        long write() {
            return CVfioUserClient.check(CVfioUserClient.jvfio_vu_region_write(fd, BAR2, 0, MIB, address),
                    "REGION_WRITE");
        }
    }

    /** The C client, connected to jvfio's server. */
    @State(Scope.Benchmark)
    public static class CClient extends CClientOf {

        @Setup(Level.Trial)
        public void setup() throws IOException {
            serve();
            fd = CVfioUserClient.connect(served.socket());
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            boolean read = params.getBenchmark().endsWith("Read1MiBC");
            // The C client allocates nothing: what is counted is jvfio's server.
            BenchNotes.write(params, "the server: " + AllocationMeter.measure(read ? this::read : this::write));
            LibC.close(fd);
            served.close();
        }
    }

    /**
     * The C client, connected to the C server ({@code src/main/c/vfio_user_server.c}, which stands in
     * for libvfio-user's: it is not libvfio-user), whose BAR2 is 1 MiB of memory too.
     */
    @State(Scope.Benchmark)
    public static class CClientCServer extends CClientOf {
        CVfioUserServer server;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            fill();
            server = new CVfioUserServer();
            fd = CVfioUserClient.connect(server.socket());
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            LibC.close(fd);
            server.close();
        }
    }

    /** Two connected UNIX stream sockets and a C thread that answers every 1 MiB with 32 bytes. */
    @State(Scope.Benchmark)
    public static class RawSocket {
        CVfioUserClient.Echo echo;

        @Setup(Level.Trial)
        public void setup() {
            echo = new CVfioUserClient.Echo(MIB, REPLY);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            echo.close();
        }
    }

    @Benchmark
    public long regionRead1MiBJava(JavaClient s) {
        return s.client.read(BAR2, 0, s.address, MIB);
    }

    @Benchmark
    public long regionWrite1MiBJava(JavaClient s) {
        return s.client.write(BAR2, 0, s.address, MIB);
    }

    @Benchmark
    public long regionRead1MiBC(CClient s) {
        return s.read();
    }

    @Benchmark
    public long regionWrite1MiBC(CClient s) {
        return s.write();
    }

    /** The C client to the C server (a stand-in for libvfio-user): the server baseline, all C. */
    @Benchmark
    public long regionRead1MiBCToCServer(CClientCServer s) {
        return s.read();
    }

    @Benchmark
    public long regionWrite1MiBCToCServer(CClientCServer s) {
        return s.write();
    }

    /** 1 MiB one way, 32 bytes back: the copy floor of a 1 MiB transfer through a UNIX socket. */
    @Benchmark
    public long rawSocket1MiB(RawSocket s) {
        return s.echo.round();
    }

    static {
        if (EduRegisters.BAR2_SIZE < MIB) {
            throw new IllegalStateException("edu's BAR2 is smaller than the 1 MiB the benchmark transfers");
        }
    }
}
