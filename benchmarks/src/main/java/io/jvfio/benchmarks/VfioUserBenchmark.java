package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.CVfioUserClient;
import io.jvfio.benchmarks.support.CVfioUserServer;
import io.jvfio.benchmarks.support.EduServer;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
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

import static io.jvfio.vmm.linux.jna.LinuxConstants.SOCK_STREAM;

/**
 * A 4-byte REGION_READ round trip, Java client to Java server over a UNIX socket (the edu device's
 * identification register: the caller sends the request, the server's session thread reads,
 * decodes, asks the device, replies, and the caller reads the reply itself in one blocking recvmsg), beside
 * its floor measured in the same run: a raw UNIX-socket ping-pong of the same sizes (32 bytes out,
 * 36 back) between two threads with blocking read and write, nothing else; once from Java through
 * JNA, once in C on both ends ({@code src/main/c/vfio_user_client.c}, compiled with {@code cc} at
 * setup). And the same read from a minimal C vfio-user client (the same C file): the server's
 * share with nothing of jvfio's on the client side. The C code is called through JNA direct
 * mapping, one operation per call (tens of nanoseconds of a call, see JnaCallBenchmark), so that JMH
 * samples it exactly as it samples the Java client. libvfio-user, the natural baseline for the
 * server, is not packaged in Debian and cannot be fetched here: a minimal C server stands in for it
 * ({@code src/main/c/vfio_user_server.c}: NOT libvfio-user, written from the spec with libvfio-user's
 * shape of a request, a blocking thread, recvmsg of the header, recv of the payload, one sendmsg),
 * serving the same register; both clients are measured against it too, so that jvfio's server is
 * compared with it for the same (C) client, and jvfio's client with the C client for the same (C)
 * server. Without a C compiler the C rows fail their setup saying so.
 *
 * <p>And a 4-byte BAR write (edu's liveness register) posted (REGION_WRITE with No_reply: one
 * sendmsg, the default for a memory BAR) beside the same write waiting for its reply (as a
 * non-posted write, or any with {@code x-no-posted-writes=on}, does).
 * Posted writes meet back-pressure when the server falls behind: a write that finds output queued
 * waits for its reply, so the posted figure is the rate the server sustains, not only a sendmsg.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class VfioUserBenchmark {

    /** The edu device served over vfio-user, and a client connected to it. */
    @State(Scope.Benchmark)
    public static class VfioUser {
        EduServer served;
        VfioUserClient client;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            served = new EduServer();
            client = VfioUserClient.connect(served.socket(), 5000, null);
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            BenchNotes.write(params,
                    AllocationMeter.measure(() -> client.read(0, EduRegisters.ID, 4)));
            client.close();
            served.close();
        }
    }

    /**
     * The C client ({@code src/main/c/vfio_user_client.c}) connected to a server: the round trip with
     * nothing of jvfio's on the client side, called through JNA once per operation so that JMH
     * samples it as it samples the Java client.
     */
    public abstract static class CClientOf {
        int fd = -1;
        final ByteBuffer value = ByteBuffer.allocateDirect(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        final long address = DirectBuffers.address(value);

        void connect(java.nio.file.Path socket) {
            fd = CVfioUserClient.connect(socket);
            checkId(read());
        }

        long read() {
            CVfioUserClient.check(CVfioUserClient.jvfio_vu_region_read(fd, 0, EduRegisters.ID, 4, address),
                    "REGION_READ");
            return value.getInt(0);
        }

        void disconnect() {
            LibC.close(fd);
        }
    }

    /** The C client connected to jvfio's server. */
    @State(Scope.Benchmark)
    public static class CClient extends CClientOf {
        EduServer served;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            served = new EduServer();
            connect(served.socket());
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            // The C client allocates nothing: what is counted is jvfio's server.
            BenchNotes.write(params, "the server: " + AllocationMeter.measure(this::read));
            disconnect();
            served.close();
        }
    }

    /**
     * The C client connected to the C server ({@code src/main/c/vfio_user_server.c}, a stand-in for
     * libvfio-user, which is not reachable here: it is not libvfio-user): the server baseline.
     */
    @State(Scope.Benchmark)
    public static class CClientCServer extends CClientOf {
        CVfioUserServer server;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            server = new CVfioUserServer();
            connect(server.socket());
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            disconnect();
            server.close();
        }
    }

    /** jvfio's client connected to the C server: the client's share with a server of no Java. */
    @State(Scope.Benchmark)
    public static class JavaClientCServer {
        CVfioUserServer server;
        VfioUserClient client;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            server = new CVfioUserServer();
            client = VfioUserClient.connect(server.socket(), 5000, null);
            checkId(client.read(0, EduRegisters.ID, 4));
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            BenchNotes.write(params, AllocationMeter.measure(() -> client.read(0, EduRegisters.ID, 4)));
            client.close();
            server.close();
        }
    }

    /** Edu's identification register, which both servers serve: a round trip that reads anything else is broken. */
    static void checkId(long id) {
        if (id != EduRegisters.ID_VALUE) {
            throw new IllegalStateException("the identification register read 0x" + Long.toHexString(id) + ", not 0x"
                    + Integer.toHexString(EduRegisters.ID_VALUE));
        }
    }

    /** The raw ping-pong in C: a C thread answers every 32 bytes with 36, and this thread's round is C. */
    @State(Scope.Benchmark)
    public static class RawSocketC {
        CVfioUserClient.Echo echo;

        @Setup(Level.Trial)
        public void setup() {
            echo = new CVfioUserClient.Echo(RawSocket.REQUEST, RawSocket.REPLY);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            echo.close();
        }
    }

    /** Two connected UNIX stream sockets, and a thread that answers every 32 bytes with 36. */
    @State(Scope.Benchmark)
    public static class RawSocket {
        static final int REQUEST = 32;
        static final int REPLY = 36;

        OwnedFd[] pair;
        Thread echo;
        final ByteBuffer request = ByteBuffer.allocateDirect(REQUEST);
        final ByteBuffer reply = ByteBuffer.allocateDirect(REPLY);

        @Setup(Level.Trial)
        public void setup() {
            pair = Syscalls.socketpair(SOCK_STREAM, "ping-pong");
            OwnedFd far = pair[1];
            echo = new Thread(() -> {
                ByteBuffer in = ByteBuffer.allocateDirect(REQUEST);
                ByteBuffer out = ByteBuffer.allocateDirect(REPLY);
                try {
                    while (exchange(far, in, out)) {
                        // answer the next one
                    }
                } catch (SyscallException e) {
                    // closed at tear-down
                }
            }, "ping-pong echo");
            echo.setDaemon(true);
            echo.start();
        }

        /** Reads a whole request, writes a whole reply; false at end of stream. */
        private static boolean exchange(OwnedFd fd, ByteBuffer in, ByteBuffer out) {
            return transfer(fd, in, false) && transfer(fd, out, true);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            LibC.shutdown(pair[0].get(), io.jvfio.vmm.linux.jna.LinuxConstants.SHUT_RDWR);
            echo.join(2000);
            pair[0].close();
            pair[1].close();
        }
    }

    /** All of {@code b} through a blocking socket; false if the peer closed it. */
    static boolean transfer(OwnedFd fd, ByteBuffer b, boolean write) {
        long address = DirectBuffers.address(b);
        int done = 0;
        while (done < b.capacity()) {
            long n = write ? Syscalls.write(fd, address + done, b.capacity() - done)
                    : Syscalls.read(fd, address + done, b.capacity() - done);
            if (n <= 0) {
                return false;
            }
            done += (int) n;
        }
        return true;
    }

    @Benchmark
    public long regionRead4(VfioUser s) {
        return s.client.read(0, EduRegisters.ID, 4);
    }

    /** A posted memory BAR write: REGION_WRITE with No_reply, not waited for. */
    @Benchmark
    public void regionWrite4Posted(VfioUser s) {
        s.client.postedWrite(0, EduRegisters.LIVENESS, 4, 1);
    }

    /** The same write waiting for its reply (a non-posted write, or x-no-posted-writes=on): a round trip. */
    @Benchmark
    public void regionWrite4Waited(VfioUser s) {
        s.client.write(0, EduRegisters.LIVENESS, 4, 1);
    }

    /** The same read from the C client: the server's share of the round trip, with no Java client. */
    @Benchmark
    public long regionRead4C(CClient s) {
        return s.read();
    }

    /** jvfio's client against the C server (a stand-in for libvfio-user): the client with no Java server behind it. */
    @Benchmark
    public long regionRead4JavaToCServer(JavaClientCServer s) {
        return s.client.read(0, EduRegisters.ID, 4);
    }

    /** The C client against the C server (a stand-in for libvfio-user): the server baseline, all C. */
    @Benchmark
    public long regionRead4CToCServer(CClientCServer s) {
        return s.read();
    }

    /** The ping-pong floor with C on both ends (32 bytes out, 36 back, blocking sockets). */
    @Benchmark
    public int rawSocketPingPongC(RawSocketC s) {
        return s.echo.round();
    }

    @Benchmark
    public boolean rawSocketPingPong(RawSocket s) {
        return transfer(s.pair[0], s.request, true) && transfer(s.pair[0], s.reply, false);
    }
}
