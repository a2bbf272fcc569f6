package io.jvfio.benchmarks;

import java.io.IOException;
import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.EduServer;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.Syscalls;
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

import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;

/**
 * A doorbell through an ioeventfd against the trapped write it replaces, on edu served over vfio-user
 * (its doorbell: a write of 0 to MSIX_FIRE, "fire MSI-X vector 0", offered with
 * DEVICE_GET_REGION_IO_FDS). Without KVM here, the ioeventfd's side is what KVM hands on: a write to
 * the doorbell's eventfd (KVM does it in the kernel for the guest's write, which then goes on with no
 * exit). Two pairs:
 * <ul>
 *   <li>the writer's cost: the eventfd write (what the guest's vCPU waits for, KVM's own part aside)
 *       against the REGION_WRITE round trip of a trapped write waiting for its reply;</li>
 *   <li>the device's view, until it acted: the eventfd write, the server's doorbell thread waking
 *       and doing the write on edu, which fires vector 0 on the client's eventfd, read here; against
 *       the REGION_WRITE round trip and the same vector read.</li>
 * </ul>
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class DoorbellBenchmark {

    /** edu served over vfio-user, a client connected, its doorbell's eventfd, MSI-X vector 0 on an eventfd. */
    @State(Scope.Benchmark)
    public static class Served {
        EduServer served;
        VfioUserClient client;
        EventFd doorbell;
        EventFd vector0;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            served = new EduServer();
            client = VfioUserClient.connect(served.socket(), 5000, null);
            if (client.ioEventFds(0).size() != 1) {
                throw new IllegalStateException("edu offered " + client.ioEventFds(0) + ", not its one doorbell");
            }
            doorbell = client.ioEventFds(0).get(0).eventfd();
            vector0 = new EventFd("msix 0");
            client.setIrqTriggers(VFIO_PCI_MSIX_IRQ_INDEX, 0, new EventFd[] {vector0});
        }

        /** Blocks until the device fired vector 0, and takes the count. */
        long awaitVector() {
            Syscalls.poll(vector0.fd(), POLLIN, 5000);
            return vector0.read();
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            BenchNotes.write(params, AllocationMeter.measure(() -> {
                doorbell.signal();
                awaitVector();
            }) + "; " + served.server.doorbellsRung() + " doorbell wake-ups at the server");
            client.disableIrq(VFIO_PCI_MSIX_IRQ_INDEX);
            client.close();
            served.close();
            vector0.close();
        }
    }

    /**
     * The doorbell rung: one eventfd write, as KVM does for the guest's write; the device takes it on
     * its own thread. Both of this pair also drain vector 0 without waiting (one read each).
     */
    @Benchmark
    public long doorbellWrite(Served s) {
        s.doorbell.signal();
        return s.vector0.read();
    }

    /** The trapped write it replaces: REGION_WRITE of 0 to MSIX_FIRE, waiting for the server's reply. */
    @Benchmark
    public long trappedWriteRoundTrip(Served s) {
        s.client.write(0, EduRegisters.MSIX_FIRE, 4, 0);
        return s.vector0.read();
    }

    /** The doorbell until the device acted: eventfd write, the server's doorbell thread, edu fires, vector read. */
    @Benchmark
    public long doorbellToDevice(Served s) {
        s.doorbell.signal();
        return s.awaitVector();
    }

    /** The trapped write until the device acted: the round trip, then the vector edu fired before replying. */
    @Benchmark
    public long trappedWriteToDevice(Served s) {
        s.client.write(0, EduRegisters.MSIX_FIRE, 4, 0);
        return s.awaitVector();
    }
}
