package io.jvfio.benchmarks;

import io.jvfio.benchmarks.support.EduStates;
import io.jvfio.vmm.pci.PciConfigSpace;
import io.jvfio.vmm.pci.PciRegs;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;

/**
 * A guest's configuration read of the passthrough device, through the virtualized overlay, beside a
 * baseline in the same run. An emulated register (BAR0, which the model emulates whole: the vendor
 * and device ID, which this benchmark read until issue 16, pass through unless {@code x-pci-vendor-id}
 * overrides them) is compared with the same read of a plain emulated configuration space (vmm-core's
 * PciConfigSpace, as the host bridge has); a passed-through register (the status word: the device's, merged with the
 * model's emulated bits) with the back end's own read of the device's config region, in-process and
 * over vfio-user. In-process reads take nanoseconds, less than one can be timed alone: their mean is
 * measured (average-time mode); reads over vfio-user are sampled one by one.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class ConfigSpaceBenchmark {


    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long emulatedOverlay(EduStates.InProcess s) {
        return s.machine.device.readConfig(PciRegs.PCI_BASE_ADDRESS_0, 4);
    }

    /** The baseline of an emulated read: a plain emulated config space with edu's identity. */
    @State(Scope.Benchmark)
    public static class Plain {
        final PciConfigSpace config = new PciConfigSpace(PciRegs.PCI_CFG_SPACE_SIZE).identity(0x1234, 0x11e8, 0x10,
                0x00ff00);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long emulatedPlain(Plain s) {
        return s.config.read(PciRegs.PCI_BASE_ADDRESS_0, 4);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long passthroughOverlayInProcess(EduStates.InProcess s) {
        return s.machine.device.readConfig(PciRegs.PCI_STATUS, 2);
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public long passthroughBackendInProcess(EduStates.InProcess s) {
        return s.machine.backend.read(VFIO_PCI_CONFIG_REGION_INDEX, PciRegs.PCI_STATUS, 2);
    }

    @Benchmark
    public long passthroughOverlayVfioUser(EduStates.VfioUser s) {
        return s.machine.device.readConfig(PciRegs.PCI_STATUS, 2);
    }

    @Benchmark
    public long passthroughBackendVfioUser(EduStates.VfioUser s) {
        return s.machine.backend.read(VFIO_PCI_CONFIG_REGION_INDEX, PciRegs.PCI_STATUS, 2);
    }
}
