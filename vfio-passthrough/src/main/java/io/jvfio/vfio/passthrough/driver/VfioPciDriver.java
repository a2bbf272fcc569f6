package io.jvfio.vfio.passthrough.driver;

import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

/**
 * {@code -device vfio-pci}: a host PCI device bound to the kernel's vfio-pci driver, handed to the
 * guest. Named by {@code host=DDDD:BB:DD.F} or {@code sysfsdev=PATH}, as in QEMU.
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
}
