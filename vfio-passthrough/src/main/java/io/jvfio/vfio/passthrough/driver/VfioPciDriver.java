package io.jvfio.vfio.passthrough.driver;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.kernel.Iommufd;
import io.jvfio.vfio.kernel.IommufdObjects;
import io.jvfio.vfio.kernel.KernelVfio;
import io.jvfio.vfio.kernel.NoIommuMode;
import io.jvfio.vfio.kernel.PassedFd;
import io.jvfio.vfio.kernel.PciSysfs;
import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.DriverSide;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;
import io.jvfio.vmm.pci.PciAddress;

import java.nio.file.Path;

/**
 * {@code -device vfio-pci}: a host PCI device bound to the kernel's vfio-pci driver, handed to the
 * guest. Named by {@code host=DDDD:BB:DD.F} or {@code sysfsdev=PATH}, or handed over open as
 * {@code fd=N} (a device cdev or a group fd), as in QEMU. Through its VFIO group and the VM's Type1
 * container, or with {@code iommufd=ID} through its device cdev bound to that {@code -object iommufd}
 * and the VM's IOAS of it. A device in VFIO's no-IOMMU mode only with {@code x-no-iommu=on} and a
 * host-side driver ({@link DriverSide#HOST}), never for a guest ({@link NoIommuMode}). The devices of
 * one VM share its {@link KernelVfio}; the machine provides the
 * {@link GuestMemory} mapped for DMA, the {@link PciSysfs} that finds host devices and, for
 * {@code iommufd=}, the {@link IommufdObjects}.
 */
public final class VfioPciDriver extends PassthroughDriver {

    public static final String NAME = "vfio-pci";

    public static final Property HOST = Property.pciHostAddress("host",
            "Host PCI address [domain:]bus:slot.function of the device to assign");
    public static final Property SYSFSDEV = Property.string("sysfsdev",
            "Host sysfs path of the device to assign, e.g. /sys/bus/pci/devices/0000:01:00.0");

    public static final Property IOMMUFD = Property.string("iommufd",
            "The id of the -object iommufd to bind the device's cdev to (instead of using its VFIO group)");
    public static final Property FD = Property.integer("fd", 0, Integer.MAX_VALUE, null,
            "An fd this process inherited open: the device's cdev (with iommufd=) or its VFIO group (with host=)");

    public static final Property X_NO_IOMMU = Property.bool("x-no-iommu", false,
            "UNSAFE: open a device of VFIO's no-IOMMU mode (/dev/vfio/noiommu-N) for the host-side driver "
                    + "(-accel none only): no DMA translation or isolation, DMA to host physical addresses of locked "
                    + "guest RAM; needs CAP_SYS_RAWIO and CAP_SYS_ADMIN");

    public VfioPciDriver() {
        super(NAME, "VFIO-based PCI device assignment", HOST, SYSFSDEV, IOMMUFD, FD, X_NO_IOMMU);
    }

    @Override
    public void validate(OptionValues values) {
        boolean host = values.has(HOST.name());
        String sysfsdev = values.string(SYSFSDEV.name());
        if (!host && sysfsdev == null && !values.has(FD.name())) {
            throw new OptionsException("vfio-pci: No provided host device - Use -device vfio-pci,host=DDDD:BB:DD.F "
                    + "or -device vfio-pci,sysfsdev=PATH_TO_DEVICE");
        }
        String iommufd = values.string(IOMMUFD.name());
        if (iommufd != null && iommufd.isEmpty()) {
            throw new OptionsException("Parameter 'iommufd' expects the id of an -object iommufd (e.g. iommufd=i0, with "
                    + "-object iommufd,id=i0)");
        }
        if (host && sysfsdev != null) {
            throw new OptionsException("vfio-pci: host= and sysfsdev= both name the device; give one of them");
        }
        if (values.bool(X_NO_IOMMU.name()) && iommufd != null) {
            throw new OptionsException("vfio-pci: x-no-iommu=on opens the device's no-IOMMU group (/dev/vfio/noiommu-N), "
                    + "and the kernel gives a no-IOMMU device no cdev to bind to an iommufd; drop iommufd=");
        }
        if (values.bool(X_NO_IOMMU.name()) && values.has(FD.name())) {
            throw new OptionsException("vfio-pci: x-no-iommu=on opens the device's no-IOMMU group itself, which needs "
                    + "CAP_SYS_RAWIO in this process whoever opened it; name the device with host= or sysfsdev= "
                    + "instead of fd=");
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
                : v.has(SYSFSDEV.name()) ? vfio.sysfs().addressOf(Path.of(v.string(SYSFSDEV.name()))) : null;
        Iommufd iommufd = v.has(IOMMUFD.name())
                ? machine.require(IommufdObjects.class).get(v.string(IOMMUFD.name())) : null;
        VfioDevice device;
        if (v.bool(X_NO_IOMMU.name())) {
            // Without an IOMMU nothing translates the guest physical addresses a guest's driver programs.
            if (machine.require(DriverSide.class) != DriverSide.HOST) {
                throw NoIommuMode.notForAGuest();
            }
            device = vfio.openNoIommuDevice(address);
        } else if (v.has(FD.name())) {
            device = vfio.adoptDevice(PassedFd.of((int) v.number(FD.name()), "fd=" + v.number(FD.name())), address,
                    iommufd);
        } else {
            device = iommufd != null ? vfio.openDevice(address, iommufd) : vfio.openDevice(address);
        }
        // Closed newest first: the device, then its group if no other device of this VM holds it (a
        // hot-unplug lets another process open the group; at the machine's close, nothing is left to do).
        VfioDevice opened = device;
        machine.onClose(() -> vfio.release(opened));
        machine.onClose(device);
        return model(config, machine, device, device.name());
    }
}
