package io.jvfio.launcher;

import io.jvfio.memory.MemoryBackendConfig;
import io.jvfio.qmp.QmpChardev;
import io.jvfio.vfio.kernel.IommufdConfig;
import io.jvfio.vmm.device.DeviceConfig;

import java.util.List;

/**
 * A checked command line: the backend of guest RAM (from {@code -m}, or the {@code -object} that
 * {@code -machine memory-backend=} names), the accelerator (and whether the user chose it or it was
 * picked because /dev/kvm is or is not usable), the VM's name, its vCPUs ({@code -smp}), its
 * devices in order and the {@code -object iommufd}s they may name, and where its QMP monitors
 * ({@code -qmp}, {@code -chardev} with {@code -mon}) listen (none: the run ends with the driver's steps), and
 * {@code -incoming}'s value ({@code unix:PATH}, {@code file:PATH} or {@code defer}; null without one: the
 * machine starts fresh).
 */
record MachineConfig(MemoryBackendConfig ram, Accelerator accelerator, boolean acceleratorChosen, String name,
                     int cpus, List<DeviceConfig> devices, List<IommufdConfig> iommufds, List<QmpChardev> monitors,
                     String incoming) {

    MachineConfig {
        devices = List.copyOf(devices);
        iommufds = List.copyOf(iommufds);
        monitors = List.copyOf(monitors);
    }
}
