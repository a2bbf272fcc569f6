package io.jvfio.vfio.passthrough.driver;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.kernel.KernelVfio;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciAddress;

import java.nio.file.Path;

/**
 * {@code -device vfio-pci}: a host PCI device bound to the kernel's vfio-pci driver, handed to the
 * guest. Named by {@code host=DDDD:BB:DD.F} or {@code sysfsdev=PATH}, as in QEMU. The devices of one
 * VM share its {@link KernelVfio} (one container; each IOMMU group once); the machine provides the
 * {@link GuestMemory} mapped for DMA and the {@link PciSysfs} that finds host devices.
 */
public final class VfioPciDriver extends PassthroughDriver {

    public static final String NAME = "vfio-pci";

    public static final Property HOST = Property.pciHostAddress("host",
            "Host PCI address [domain:]bus:slot.function of the device to assign");
    public static final Property SYSFSDEV = Property.string("sysfsdev",
            "Host sysfs path of the device to assign, e.g. /sys/bus/pci/devices/0000:01:00.0");

    public VfioPciDriver() {
        super(NAME, "VFIO-based PCI device assignment", HOST, SYSFSDEV);
    }

    @Override
    public void validate(OptionValues values) {
        boolean host = values.has(HOST.name());
        String sysfsdev = values.string(SYSFSDEV.name());
        if (!host && sysfsdev == null) {
            throw new OptionsException("vfio-pci: No provided host device - Use -device vfio-pci,host=DDDD:BB:DD.F "
                    + "or -device vfio-pci,sysfsdev=PATH_TO_DEVICE");
        }
        if (host && sysfsdev != null) {
            throw new OptionsException("vfio-pci: host= and sysfsdev= both name the device; give one of them");
        }
        if (sysfsdev != null && !sysfsdev.startsWith("/")) {
            throw new OptionsException("Parameter 'sysfsdev' expects an absolute sysfs path, e.g. "
                    + "sysfsdev=/sys/bus/pci/devices/0000:01:00.0");
        }
    }

    @Override
    public PassthroughDevice create(DeviceConfig config, MachineContext machine) {
        KernelVfio vfio = machine.shared(KernelVfio.class,
                () -> new KernelVfio(machine.require(GuestMemory.class), machine.require(PciSysfs.class)));
        OptionValues v = config.properties();
        PciAddress address = v.has(HOST.name()) ? v.pciAddress(HOST.name())
                : vfio.sysfs().addressOf(Path.of(v.string(SYSFSDEV.name())));
        VfioDevice device = vfio.openDevice(address);
        machine.onClose(device);
        return model(config, machine, device, device.name());
    }
}
