package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.AllocationMeter;
import io.jvfio.benchmarks.support.BenchNotes;
import io.jvfio.benchmarks.support.CVcpuLoop;
import io.jvfio.benchmarks.support.KvmGuest;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.kvm.KvmVcpu;
import io.jvfio.vmm.linux.MemoryMapping;
import io.jvfio.kvm.X86Register;
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

import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * A KVM guest's MMIO loop ({@code src/main/guest/mmio_loop.s}: a round of 32-bit reads, then a port
 * write that ends the VMM's run). Trapped reads, one MMIO exit each, are run by jvfio's vCPU loop
 * (KVM_RUN through JNA, the exit dispatched to the address space and a bus device) and, on the same
 * VM, guest and vCPU, by a minimal C loop ({@code src/main/c/kvm_loop.c}, compiled with cc when the
 * benchmark starts): their ratio is what Java costs per exit. Reads of a directly mapped BAR (a
 * memory slot: no exit at all) are compared with the same loop over guest RAM. Times are per read;
 * the exit counts each run saw are written as notes.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class KvmMmioBenchmark {

    static final long BAR = 0xd000_0000L;
    static final long RAM = 0x20_0000L;
    static final int PORT_DONE = 0x502;
    static final int TRAPPED_READS = 16;
    static final int DIRECT_READS = 256;
    static final long VALUE = 0x1234_5678L;

    /** The guest and the devices it reaches; {@code address} and {@code reads} per round. */
    abstract static class Guest {
        KvmGuest guest;
        long rounds;

        void start(long address, int reads) {
            guest = new KvmGuest("mmio_loop.bin");
            guest.stopAtPortWrite(PORT_DONE);
            guest.setRegister(X86Register.RBX, address);
            guest.setRegister(X86Register.R12, reads);
        }

        void runJvfio() {
            if (guest.vcpu.run(guest.space) != KvmVcpu.Stop.REQUESTED) {
                throw new IllegalStateException("the guest stopped unexpectedly");
            }
            rounds++;
        }
    }

    @State(Scope.Benchmark)
    public static class Trapped extends Guest {
        long cExits;

        @Setup(Level.Trial)
        public void setup() {
            start(BAR, TRAPPED_READS);
            guest.space.mmio().add("trapped BAR", BAR, 0x1000, new BusDevice() {
                @Override
                public long read(long offset, int size) {
                    return VALUE;
                }

                @Override
                public void write(long offset, int size, long value) {
                }
            });
            CVcpuLoop.load();
        }

        void runC() {
            long n = CVcpuLoop.jvfio_c_vcpu_loop(guest.vcpu.fd().get(), guest.vcpu.kvmRunAddress(), PORT_DONE, VALUE);
            if (n != TRAPPED_READS) {
                throw new IllegalStateException("the C loop returned " + n + " (expected " + TRAPPED_READS + " exits)");
            }
            cExits += n;
            rounds++;
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) {
            boolean c = params.getBenchmark().endsWith(".mmioExitC");
            long reads = rounds * TRAPPED_READS;
            long exits = guest.vcpu.exits().mmio() + cExits;
            String allocation = c ? "" : "; " + AllocationMeter.measure(this::runJvfio) + ", a round of "
                    + TRAPPED_READS + " reads each";
            BenchNotes.write(params,
                    String.format("%,d reads, %,d MMIO exits (%.2f per read)%s", reads, exits, (double) exits / reads,
                            allocation));
            guest.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Direct extends Guest {
        MemoryMapping bar;

        @Setup(Level.Trial)
        public void setup() {
            start(BAR, DIRECT_READS);
            bar = MemoryMapping.anonymous(0x1000, PROT_READ | PROT_WRITE, "bench direct BAR");
            guest.space.mapDirect("direct BAR", BAR, 0x1000, bar.address(), true); // a memory slot
        }

        @TearDown(Level.Trial)
        public void tearDown(BenchmarkParams params) {
            BenchNotes.write(params, String.format("%,d reads, %,d MMIO exits",
                    rounds * DIRECT_READS, guest.vcpu.exits().mmio()));
            guest.close();
            bar.close();
        }
    }

    @State(Scope.Benchmark)
    public static class Ram extends Guest {
        @Setup(Level.Trial)
        public void setup() {
            start(RAM, DIRECT_READS);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            guest.close();
        }
    }

    @Benchmark
    @OperationsPerInvocation(TRAPPED_READS)
    public void mmioExitJvfio(Trapped s) {
        s.runJvfio();
    }

    @Benchmark
    @OperationsPerInvocation(TRAPPED_READS)
    public void mmioExitC(Trapped s) {
        s.runC();
    }

    @Benchmark
    @OperationsPerInvocation(DIRECT_READS)
    public void directBarRead(Direct s) {
        s.runJvfio();
    }

    @Benchmark
    @OperationsPerInvocation(DIRECT_READS)
    public void ramRead(Ram s) {
        s.runJvfio();
    }
}
