package io.jvfio.launcher;

import io.jvfio.vmm.device.DeviceConfig;

import java.util.List;

/**
 * A checked command line: guest RAM size, accelerator (and whether the user chose it or it was
 * picked because /dev/kvm is or is not usable), the VM's name and its devices in order.
 */
record MachineConfig(long memorySize, Accelerator accelerator, boolean acceleratorChosen, String name,
                     List<DeviceConfig> devices) {

    MachineConfig {
        devices = List.copyOf(devices);
    }
}
