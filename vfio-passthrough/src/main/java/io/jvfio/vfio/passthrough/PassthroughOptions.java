package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.device.PciDeviceProperties;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.pci.PciDevFn;

/**
 * How a passed-through device is presented to the guest, from its {@code -device} properties
 * (QEMU's names): where it sits, whether its ROM and its mmap-able BARs are exposed as such, and the
 * IDs the guest sees instead of the device's own (null: the device's), and which of KVM's shortcuts
 * it may take (irqfds for MSI and MSI-X, ioeventfds for doorbells).
 */
public record PassthroughOptions(PciDevFn addr, boolean multifunction, boolean romBar, boolean noMmap,
                                 Integer vendorId, Integer deviceId, Integer subVendorId, Integer subDeviceId,
                                 Integer classCode, boolean noKvmMsi, boolean noKvmMsix, boolean noKvmIoeventfd,
                                 boolean noVfioIoeventfd) {

    /** The first free slot, the ROM shown, BARs mapped, the device's own IDs. */
    public static final PassthroughOptions DEFAULT = new PassthroughOptions(null, false, true, false, null, null, null,
            null, null, false, false, false, false);

    public static PassthroughOptions of(OptionValues v) {
        return new PassthroughOptions(v.pciDevFn(PciDeviceProperties.ADDR.name()),
                v.bool(PciDeviceProperties.MULTIFUNCTION.name()), v.number(PciDeviceProperties.ROMBAR.name()) != 0,
                v.bool(VfioDeviceProperties.X_NO_MMAP.name()), id(v, VfioDeviceProperties.X_PCI_VENDOR_ID.name()),
                id(v, VfioDeviceProperties.X_PCI_DEVICE_ID.name()), id(v, VfioDeviceProperties.X_PCI_SUB_VENDOR_ID.name()),
                id(v, VfioDeviceProperties.X_PCI_SUB_DEVICE_ID.name()),
                id(v, VfioDeviceProperties.X_PCI_CLASS_CODE.name()), v.bool(VfioDeviceProperties.X_NO_KVM_MSI.name()),
                v.bool(VfioDeviceProperties.X_NO_KVM_MSIX.name()), v.bool(VfioDeviceProperties.X_NO_KVM_IOEVENTFD.name()),
                v.bool(VfioDeviceProperties.X_NO_VFIO_IOEVENTFD.name()));
    }

    private static Integer id(OptionValues v, String name) {
        return v.has(name) ? (int) v.number(name) : null;
    }

    public PassthroughOptions withAddr(PciDevFn at) {
        return new PassthroughOptions(at, multifunction, romBar, noMmap, vendorId, deviceId, subVendorId, subDeviceId,
                classCode, noKvmMsi, noKvmMsix, noKvmIoeventfd, noVfioIoeventfd);
    }

    public PassthroughOptions withNoMmap(boolean on) {
        return new PassthroughOptions(addr, multifunction, romBar, on, vendorId, deviceId, subVendorId, subDeviceId,
                classCode, noKvmMsi, noKvmMsix, noKvmIoeventfd, noVfioIoeventfd);
    }

    public PassthroughOptions withRomBar(boolean on) {
        return new PassthroughOptions(addr, multifunction, on, noMmap, vendorId, deviceId, subVendorId, subDeviceId,
                classCode, noKvmMsi, noKvmMsix, noKvmIoeventfd, noVfioIoeventfd);
    }

    /** {@code x-no-kvm-ioeventfd} and {@code x-no-vfio-ioeventfd} as given. */
    public PassthroughOptions withIoeventfds(boolean noKvm, boolean noVfio) {
        return new PassthroughOptions(addr, multifunction, romBar, noMmap, vendorId, deviceId, subVendorId, subDeviceId,
                classCode, noKvmMsi, noKvmMsix, noKvm, noVfio);
    }

    public PassthroughOptions withIds(Integer vendor, Integer device, Integer subVendor, Integer subDevice,
                                      Integer classCode) {
        return new PassthroughOptions(addr, multifunction, romBar, noMmap, vendor, device, subVendor, subDevice,
                classCode, noKvmMsi, noKvmMsix, noKvmIoeventfd, noVfioIoeventfd);
    }
}
