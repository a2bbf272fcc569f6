package io.jvfio.vmm.device;

import io.jvfio.vmm.options.Property;

import java.util.List;

/** The properties every PCI device takes, as QEMU's PCIDevice has them. */
public final class PciDeviceProperties {

    private PciDeviceProperties() {
    }

    public static final Property ADDR = Property.pciDevFn("addr",
            "Slot and function on the guest's PCI bus, e.g. 04.0 (default: the first free slot)");
    public static final Property MULTIFUNCTION = Property.bool("multifunction", false,
            "Mark the device multi-function, so the guest probes functions 1-7 of its slot");
    public static final Property ROMBAR = Property.uint32("rombar", 1L,
            "Expose the option ROM through the ROM BAR; 0 hides it");

    /**
     * The bus the device plugs into: {@code pcie.0} (bus 0, the default, the name QEMU's q35 gives its
     * root bus) or the id of a {@code pcie-root-port}, behind which the device is device 0.
     */
    public static final Property BUS = Property.string("bus",
            "The bus: pcie.0 (the root bus, default) or the id of a pcie-root-port");

    public static final List<Property> ALL = List.of(ADDR, MULTIFUNCTION, ROMBAR, BUS);
}
