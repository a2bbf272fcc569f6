package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.EduMachine;
import io.jvfio.benchmarks.support.EduStates;
import io.jvfio.vfio.devices.EduRegisters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * A trapped MMIO read without KVM, as the vCPU loop dispatches one: the address space finds the BAR
 * on the MMIO bus, the device model forwards the access, the back end reaches the device (edu's
 * identification register). The baseline, in the same run, is the back end's own read of the same
 * register: what the bus and the model add is the ratio. In-process (nanoseconds: the mean, in
 * average-time mode) and over vfio-user (sampled one by one).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class MmioDispatchBenchmark {

    static final long ADDRESS = EduMachine.BAR0 + EduRegisters.ID;

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long busInProcess(EduStates.InProcess s) {
        return s.machine.space.read(ADDRESS, 4);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long backendInProcess(EduStates.InProcess s) {
        return s.machine.backend.read(0, EduRegisters.ID, 4);
    }

    @Benchmark
    public long busVfioUser(EduStates.VfioUser s) {
        return s.machine.space.read(ADDRESS, 4);
    }

    @Benchmark
    public long backendVfioUser(EduStates.VfioUser s) {
        return s.machine.backend.read(0, EduRegisters.ID, 4);
    }
}
