package io.jvfio.benchmarks;

import java.io.IOException;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.EduServer;
import io.jvfio.benchmarks.support.KvmGuest;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.kvm.X86Register;
import io.jvfio.vfio.VfioIoEventFd;
import io.jvfio.vfio.devices.EduRegisters;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.bus.IoEventFd;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

import java.util.concurrent.TimeUnit;

/**
 * A KVM guest's doorbell write (the MMIO loop in write mode, {@code src/main/guest/mmio_loop.s}) to
 * edu's doorbell (a write of 0 to MSIX_FIRE), edu served over vfio-user: through the KVM ioeventfd the
 * server offered (KVM_IOEVENTFD with datamatch: the kernel signals the server's eventfd and the vCPU
 * goes on, no exit to user space), against the same write trapped (an MMIO exit through jvfio's vCPU
 * loop and a REGION_WRITE round trip, as with {@code x-no-kvm-ioeventfd=on} and
 * {@code x-no-posted-writes=on}). Times are per write, the guest's side; the exits each run saw are
 * written as notes. Needs /dev/kvm: the suite leaves it out where there is none.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class KvmDoorbellBenchmark {

    static final long BAR0 = 0xd000_0000L;
    static final int PORT_DONE = 0x502;
    static final int WRITES = 16;

    /** The guest, edu over vfio-user, and BAR0's doorbell either as a KVM ioeventfd or trapped. */
    abstract static class Guest {
        EduServer served;
        VfioUserClient client;
        KvmGuest guest;
        long rounds;

        void start() throws IOException {
            served = new EduServer();
            client = VfioUserClient.connect(served.socket(), 5000, null);
            guest = new KvmGuest("mmio_loop.bin");
            guest.stopAtPortWrite(PORT_DONE);
            guest.setRegister(X86Register.RBX, BAR0 + EduRegisters.MSIX_FIRE);
            guest.setRegister(X86Register.R12, WRITES);
            guest.setRegister(X86Register.R13, 1);
            guest.setRegister(X86Register.R14, 0);
        }

        void run() {
            if (guest.vcpu.run(guest.space) != KvmVcpu.Stop.REQUESTED) {
                throw new IllegalStateException("the guest stopped unexpectedly");
            }
            rounds++;
        }

        void stop(BenchmarkParams params) throws IOException {
            BenchNotes.write(params, String.format("%,d writes, %,d MMIO exits, %,d REGION_WRITEs, %,d doorbell "
                    + "wake-ups at the server", rounds * WRITES, guest.vcpu.exits().mmio(), client.regionRequests(),
                    served.server.doorbellsRung()));
            guest.close();
            client.close();
            served.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Ioeventfd extends Guest {
        IoEventFd doorbell;

        @Setup(Level.Trial)
        public void setup() throws IOException {
            start();
            VfioIoEventFd offered = client.ioEventFds(0).get(0);
            doorbell = new IoEventFd("edu doorbell", false, BAR0 + offered.offset(), offered.size(),
                    offered.datamatch(), offered.data(), offered.eventfd());
            if (!guest.space.addIoEventFd(doorbell)) {
                throw new IllegalStateException("KVM did not take the ioeventfd");
            }
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            guest.space.removeIoEventFd(doorbell);
            stop(params);
        }
    }

    @State(Scope.Benchmark)
    public static class Trapped extends Guest {
        @Setup(Level.Trial)
        public void setup() throws IOException {
            start();
            guest.space.mmio().add("edu BAR0", BAR0, EduRegisters.BAR0_SIZE, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return client.read(0, offset, size);
                }

                @Override
                public void write(long offset, int size, long value) {
                    client.write(0, offset, size, value); // waits for the reply
                }
            });
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) throws IOException {
            stop(params);
        }
    }

    @Benchmark
    @OperationsPerInvocation(WRITES)
    public void doorbellIoeventfd(Ioeventfd s) {
        s.run();
    }

    @Benchmark
    @OperationsPerInvocation(WRITES)
    public void doorbellTrapped(Trapped s) {
        s.run();
    }
}
