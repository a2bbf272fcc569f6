package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.device.PciDeviceProperties;
import io.jvfio.vmm.options.Property;

import java.util.ArrayList;
import java.util.List;

/**
 * The properties both passthrough drivers take ({@code vfio-pci} over kernel VFIO and
 * {@code vfio-user-pci} over a socket): one device model serves both, so it is configured the same
 * way. Names and meanings follow QEMU's vfio-pci.
 */
public final class VfioDeviceProperties {

    private VfioDeviceProperties() {
    }

    public static final Property X_NO_MMAP = Property.bool("x-no-mmap", false,
            "Trap every BAR access and forward it, instead of mapping BARs into the guest");
    public static final Property X_PCI_VENDOR_ID = Property.uint16("x-pci-vendor-id", null,
            "Vendor ID the guest sees (default: the device's own)");
    public static final Property X_PCI_DEVICE_ID = Property.uint16("x-pci-device-id", null,
            "Device ID the guest sees (default: the device's own)");
    public static final Property X_PCI_SUB_VENDOR_ID = Property.uint16("x-pci-sub-vendor-id", null,
            "Subsystem vendor ID the guest sees (default: the device's own)");
    public static final Property X_PCI_SUB_DEVICE_ID = Property.uint16("x-pci-sub-device-id", null,
            "Subsystem ID the guest sees (default: the device's own)");
    public static final Property X_PCI_CLASS_CODE = Property.integer("x-pci-class-code", 0, 0xffffff, null,
            "Class code (class, subclass, prog-if: 24 bits) the guest sees (default: the device's own)");
    public static final Property X_NO_KVM_MSI = Property.bool("x-no-kvm-msi", false,
            "Deliver MSI through the user-space interrupt path instead of a KVM irqfd");
    public static final Property X_NO_KVM_MSIX = Property.bool("x-no-kvm-msix", false,
            "Deliver MSI-X through the user-space interrupt path instead of KVM irqfds");

    /** QEMU's vfio-pci property: no KVM ioeventfd at all (doorbells offered by the device, dynamic ones). */
    public static final Property X_NO_KVM_IOEVENTFD = Property.bool("x-no-kvm-ioeventfd", false,
            "Trap every doorbell write and forward it, instead of letting KVM signal the device's ioeventfd");
    /** QEMU's vfio-pci property: no VFIO_DEVICE_IOEVENTFD for repeated writes to a trapped register. */
    public static final Property X_NO_VFIO_IOEVENTFD = Property.bool("x-no-vfio-ioeventfd", false,
            "Forward repeated identical writes to a trapped BAR register through user space, instead of handing them "
                    + "to the kernel's vfio-pci (VFIO_DEVICE_IOEVENTFD with a KVM ioeventfd)");

    /** The PCI placement properties, then the passthrough ones. */
    public static List<Property> common() {
        List<Property> all = new ArrayList<>(PciDeviceProperties.ALL);
        all.addAll(List.of(X_NO_MMAP, X_PCI_VENDOR_ID, X_PCI_DEVICE_ID, X_PCI_SUB_VENDOR_ID, X_PCI_SUB_DEVICE_ID,
                X_PCI_CLASS_CODE, X_NO_KVM_MSI, X_NO_KVM_MSIX, X_NO_KVM_IOEVENTFD, X_NO_VFIO_IOEVENTFD));
        return List.copyOf(all);
    }
}
