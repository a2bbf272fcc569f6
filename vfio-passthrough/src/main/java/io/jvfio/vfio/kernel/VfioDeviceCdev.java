package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.vfio.VfioDeviceAttachIommufdPt;
import io.jvfio.vmm.linux.vfio.VfioDeviceBindIommufd;
import io.jvfio.vmm.linux.vfio.VfioDeviceDetachIommufdPt;
import io.jvfio.vmm.pci.PciAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_ATTACH_IOMMUFD_PT;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_BIND_IOMMUFD;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_DETACH_IOMMUFD_PT;

/**
 * The VFIO device cdev path ({@code /dev/vfio/devices/vfioN}, Linux 6.6 and later): the device fd is
 * opened directly, bound to an iommufd (VFIO_DEVICE_BIND_IOMMUFD) and attached to an IOAS
 * (VFIO_DEVICE_ATTACH_IOMMUFD_PT), no group or container involved. The group's rule still holds:
 * the kernel claims DMA ownership of the whole group at bind, so a group with a device on a host
 * driver is refused, here with the same explanation as on the group path. Closing the fd detaches
 * and unbinds the device.
 */
public final class VfioDeviceCdev {

    private static final Logger LOG = LoggerFactory.getLogger(VfioDeviceCdev.class);

    public static final String DIRECTORY = "/dev/vfio/devices";

    private final String path;
    private final int group;
    private final int devId;
    private final IommufdIoas ioas;

    private VfioDeviceCdev(String path, int group, int devId, IommufdIoas ioas) {
        this.path = path;
        this.group = group;
        this.devId = devId;
        this.ioas = ioas;
    }

    /** Finds the cdev of {@code address} through sysfs, opens it, binds it to the IOAS's iommufd and attaches it. */
    static VfioDevice open(PciAddress address, PciSysfs sysfs, IommufdIoas ioas) {
        return open(VfioDeviceName.pci(address), sysfs, ioas);
    }

    /** The same for a PCI function or a mediated device (whose cdev is in its own {@code vfio-dev/}). */
    static VfioDevice open(VfioDeviceName address, PciSysfs sysfs, IommufdIoas ioas) {
        String cdev = sysfs.vfioCdev(address);
        if (cdev == null) {
            throw new VfioException(address.describe() + " has no VFIO device cdev (/sys/" + address.sysfsPath()
                    + "/vfio-dev is missing): " + (address.isPci() ? "bind it to vfio-pci (jvfio --vfio-bind " + address
                    + ") on" : "use") + " a kernel with CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or later), or drop iommufd= "
                    + "to use its VFIO group");
        }
        String path = DIRECTORY + "/" + cdev;
        int group = sysfs.iommuGroup(address);
        VfioGroup.requireViable(group, sysfs);
        OwnedFd fd;
        try {
            fd = Syscalls.open(path, O_RDWR);
        } catch (SyscallException e) {
            if (e.is(Errno.ENOENT)) {
                throw new VfioException(path + ", the VFIO device cdev of " + address + ", does not exist although sysfs "
                        + "lists it: mount devtmpfs on /dev (or let udev create the node)", e);
            }
            throw new VfioException("cannot open " + path + " (the VFIO device cdev of " + address + "): "
                    + e.errno().text() + (e.is(Errno.EACCES) ? "; give this user read and write access to it, or "
                    + "let a management layer pass it open with fd=N" : ""), e);
        }
        return bindAndAttach(fd, path, address, group, sysfs, ioas);
    }

    /** A cdev fd a management layer opened ({@code -device vfio-pci,fd=N}); its device is found through sysfs. */
    static VfioDevice adopt(PassedFd passed, PciSysfs sysfs, IommufdIoas ioas) {
        String cdev = Path.of(passed.path()).getFileName().toString();
        VfioDeviceName address = sysfs.cdevDeviceName(cdev);
        int group = sysfs.iommuGroup(address);
        VfioGroup.requireViable(group, sysfs);
        return bindAndAttach(passed.adopt(), passed.path(), address, group, sysfs, ioas);
    }

    /** True if {@code path} names a VFIO device cdev. */
    static boolean isCdev(String path) {
        return path.startsWith(DIRECTORY + "/vfio");
    }

    private static VfioDevice bindAndAttach(OwnedFd fd, String path, VfioDeviceName address, int group, PciSysfs sysfs,
            IommufdIoas ioas) {
        try {
            VfioDeviceBindIommufd bind = new VfioDeviceBindIommufd().set(ioas.iommufd().fd().get());
            try {
                Ioctl.ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, bind);
            } catch (SyscallException e) {
                throw bindError(e, path, address, group, sysfs, ioas);
            }
            try {
                Ioctl.ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, new VfioDeviceAttachIommufdPt().set(ioas.id()));
            } catch (SyscallException e) {
                throw new VfioException("cannot attach " + address + " (" + path + ") to " + ioas + ": "
                        + e.errno().text() + (e.is(Errno.EADDRINUSE) || e.is(Errno.EINVAL) ? " (guest RAM already "
                        + "mapped in the IOAS overlaps a range this device's IOMMU group reserves; give this device "
                        + "an -object iommufd of its own)" : ""), e);
            }
            return VfioDevice.open(fd, address, new VfioDeviceCdev(path, group, bind.outDevid(), ioas));
        } catch (RuntimeException e) {
            fd.close(); // VfioDevice.open closes it on its own failures too; a second close does nothing
            throw e;
        }
    }

    /**
     * The kernel's reasons to refuse a bind (drivers/vfio/device_cdev.c, drivers/iommu/iommu.c): EBUSY
     * when the group is open the legacy way ({@code /dev/vfio/N}); EINVAL when the device is open
     * already (a cdev device may be bound once); EPERM when another owner (another iommufd, or a host
     * driver) holds the group's DMA ownership, or MSI cannot be isolated.
     */
    private static VfioException bindError(SyscallException e, String path, VfioDeviceName address, int group,
            PciSysfs sysfs, IommufdIoas ioas) {
        String what = "cannot bind " + address + " (" + path + ") to " + ioas.iommufd() + ": ";
        if (e.is(Errno.EBUSY)) {
            List<String> holders = VfioGroup.holdersOf("/dev/vfio/" + group);
            return new VfioException.GroupBusy(what + "its VFIO group " + group + " is open through /dev/vfio/" + group
                    + (holders.isEmpty() ? "" : " (in " + String.join(" and ", holders) + ")") + ", and a group opened "
                    + "the legacy way blocks its devices' cdevs; close it, or use the group path for every device "
                    + "of the group (drop iommufd=)", e);
        }
        if (e.is(Errno.EINVAL)) {
            List<String> holders = VfioGroup.holdersOf(path);
            return new VfioException(what + "the device is already bound to an iommufd"
                    + (holders.isEmpty() ? "" : " (" + path + " is open in " + String.join(" and ", holders) + ")")
                    + ": a device cdev can be bound once at a time; stop the VM that has it", e);
        }
        if (e.is(Errno.EPERM)) {
            VfioGroup.requireViable(group, sysfs); // a host driver took a device of the group meanwhile
            return new VfioException(what + "the kernel refuses DMA ownership of VFIO group " + group + " (" + e.errno()
                    .text() + "): another device of the group is bound to a different iommufd (a group has one "
                    + "owner: give all its devices the same iommufd=), or the platform cannot isolate MSI (enable "
                    + "interrupt remapping, or load iommufd with allow_unsafe_interrupts=1)", e);
        }
        return new VfioException(what + e.errno().text(), e);
    }

    /**
     * VFIO_DEVICE_DETACH_IOMMUFD_PT before the fd closes. A failure (the device was removed) is not
     * passed on: closing the fd, which follows, detaches and unbinds the device in any case.
     */
    void detach(OwnedFd fd) {
        if (!fd.isOpen()) {
            return;
        }
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, new VfioDeviceDetachIommufdPt());
        } catch (SyscallException e) {
            LOG.debug("{}: VFIO_DEVICE_DETACH_IOMMUFD_PT failed ({}); closing the fd detaches it", path, e.getMessage());
        }
    }

    public String path() {
        return path;
    }

    /** The device's IOMMU group (not opened: the cdev path owns the group through the iommufd). */
    public int group() {
        return group;
    }

    /** The device's id in its iommufd. */
    public int devId() {
        return devId;
    }

    public IommufdIoas ioas() {
        return ioas;
    }

    @Override
    public String toString() {
        return path + " bound to " + ioas;
    }
}
