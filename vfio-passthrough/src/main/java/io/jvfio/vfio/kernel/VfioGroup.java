package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.vfio.VfioGroupStatus;
import io.jvfio.vmm.pci.PciAddress;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_GROUP_GET_DEVICE_FD;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_GROUP_GET_STATUS;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_GROUP_SET_CONTAINER;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_GROUP_UNSET_CONTAINER;

/**
 * A VFIO group ({@code /dev/vfio/N}): the devices of one IOMMU group, which the IOMMU cannot isolate
 * from each other, and which therefore have one owner. A group is viable when each of its devices is
 * bound to vfio-pci or to nothing; only then can it join a container and hand out device fds.
 */
public final class VfioGroup implements AutoCloseable {

    private final int id;
    private final String path;
    private final OwnedFd fd;
    private final PciSysfs sysfs;
    private VfioContainer container;

    private VfioGroup(int id, String path, OwnedFd fd, PciSysfs sysfs) {
        this.id = id;
        this.path = path;
        this.fd = fd;
        this.sysfs = sysfs;
    }

    /** Opens IOMMU group {@code id}. Another owner's hold on it is an error that says who and why it matters. */
    public static VfioGroup open(int id, PciSysfs sysfs) {
        return open(id, "/dev/vfio/" + id, sysfs);
    }

    /** Opens the group of the device at {@code address}. */
    public static VfioGroup ofDevice(PciAddress address, PciSysfs sysfs) {
        return open(sysfs.iommuGroup(address), sysfs);
    }

    /**
     * A no-IOMMU group ({@code /dev/vfio/noiommu-N}), for a {@link VfioContainer#openNoIommu} container.
     * The kernel opens one only for a process with CAP_SYS_RAWIO: checked first, with an error that says so.
     */
    public static VfioGroup openNoIommu(int id, PciSysfs sysfs) {
        NoIommuMode.requireRawIo(id);
        return open(id, NoIommuMode.groupPath(id), sysfs);
    }

    /** A group fd a management layer opened ({@code -device vfio-pci,fd=N}): {@code /dev/vfio/N}. */
    static VfioGroup adopt(int id, PassedFd passed, PciSysfs sysfs) {
        return new VfioGroup(id, passed.path(), passed.adopt(), sysfs);
    }

    private static VfioGroup open(int id, String path, PciSysfs sysfs) {
        try {
            return new VfioGroup(id, path, Syscalls.open(path, O_RDWR), sysfs);
        } catch (SyscallException e) {
            if (e.is(Errno.EBUSY)) {
                throw busy(id, path, sysfs, e);
            }
            if (e.is(Errno.ENOENT)) {
                throw new VfioException(path + " does not exist: no device of IOMMU group " + id + " is bound to "
                        + "vfio-pci (jvfio --iommu-groups shows the groups and how to bind them)", e);
            }
            throw new VfioException("cannot open VFIO group " + id + ": " + e.getMessage(), e);
        }
    }

    static VfioException busy(int id, String path, PciSysfs sysfs, SyscallException cause) {
        List<String> holders = holdersOf(path);
        String devices;
        try {
            devices = sysfs.groupDevices(id).stream().map(PciAddress::toString).collect(Collectors.joining(", "));
        } catch (RuntimeException e) {
            devices = "its devices";
        }
        return new VfioException.GroupBusy("VFIO group " + id + " (" + path + ") is busy: it is already open"
                + (holders.isEmpty() ? " by another process" : ", in " + String.join(" and ", holders))
                + ". A group has one owner at a time, and the group, not the device, is the unit of ownership: "
                + devices + " all go to that owner, so devices in one group (such as the functions of a "
                + "multi-function device) cannot be split between VMs", cause);
    }

    /** The processes holding {@code path} open, from /proc (those this user may see). */
    static List<String> holdersOf(String path) {
        List<String> holders = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path proc : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try (Stream<Path> fds = Files.list(proc.resolve("fd"))) {
                    boolean holds = fds.anyMatch(f -> {
                        try {
                            return Files.readSymbolicLink(f).toString().equals(path);
                        } catch (IOException e) {
                            return false;
                        }
                    });
                    if (holds) {
                        long pid = Long.parseLong(proc.getFileName().toString());
                        String comm = Files.readString(proc.resolve("comm")).trim();
                        holders.add(pid == self ? "this process (pid " + pid + ", " + comm + ")"
                                : "pid " + pid + " (" + comm + ")");
                    }
                } catch (IOException e) {
                    // Gone, or not ours to look at.
                }
            }
        } catch (IOException e) {
            return holders;
        }
        return holders;
    }

    public int id() {
        return id;
    }

    public String path() {
        return path;
    }

    /** VFIO_GROUP_GET_STATUS flags: an ABI mirror, so {@link #viable} is the API. */
    private VfioGroupStatus status() {
        VfioGroupStatus s = new VfioGroupStatus();
        Ioctl.ioctl(fd, VFIO_GROUP_GET_STATUS, s);
        return s;
    }

    /** Whether the kernel lets the group be used: every device in it bound to a VFIO driver or to none. */
    public boolean viable() {
        return status().viable();
    }

    /** The devices of this group, from sysfs. */
    public List<PciAddress> devices() {
        return sysfs.groupDevices(id);
    }

    /** Joins {@code c}: the first group of a container sets its IOMMU model. */
    public void attachTo(VfioContainer c) {
        c.attach(this);
    }

    void setContainer(VfioContainer c) {
        if (container != null) {
            throw new IllegalStateException("VFIO group " + id + " is already in a container");
        }
        if (!viable()) {
            throw notViable();
        }
        try {
            Ioctl.ioctlIntRef(fd, VFIO_GROUP_SET_CONTAINER, c.fd().get());
        } catch (SyscallException e) {
            if (e.is(Errno.EPERM)) {
                throw notViable(); // the kernel's answer for a group that became non-viable meanwhile
            }
            if (e.is(Errno.EBUSY)) {
                throw new VfioException("VFIO group " + id + " is already in a container of another owner", e);
            }
            throw e;
        }
        container = c;
    }

    void unsetContainer() {
        if (container != null) {
            Ioctl.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER, 0L);
            container = null;
        }
    }

    private VfioException notViable() {
        VfioException e = notViable(id, sysfs);
        return e != null ? e : notViable(id, "the kernel reports it not viable (a device is being bound or unbound?)",
                List.of());
    }

    /**
     * Refuses group {@code id} if sysfs shows a device of it bound to a host driver, with the same text
     * as the kernel's non-viable status gets: the device cdev path, which opens no group, must hold
     * to the group's rule too.
     */
    static void requireViable(int id, PciSysfs sysfs) {
        VfioException e = notViable(id, sysfs);
        if (e != null) {
            throw e;
        }
    }

    /** The error for group {@code id} as sysfs shows it, or null if no device of it blocks assignment. */
    private static VfioException notViable(int id, PciSysfs sysfs) {
        List<String> blockers = new ArrayList<>();
        List<String> commands = new ArrayList<>();
        for (PciAddress d : sysfs.groupDevices(id)) {
            String driver = sysfs.driver(d);
            if (!PciSysfs.groupSafe(driver)) {
                blockers.add(d + " [" + sysfs.ids(d) + "] is bound to " + driver);
                commands.add(PciSysfs.bindCommands(d, driver));
            }
        }
        return blockers.isEmpty() ? null : notViable(id, String.join(", ", blockers), commands);
    }

    private static VfioException notViable(int id, String why, List<String> commands) {
        return new VfioException.GroupNotViable("VFIO group " + id + " is not viable: every device in an IOMMU "
                + "group must be bound to vfio-pci (or to no driver) before any of them can be assigned, and " + why
                + (commands.isEmpty() ? "" : ". Bind " + (commands.size() == 1 ? "it" : "them") + ": "
                + String.join("; ", commands)));
    }

    /** The fd of the PCI function {@code address} of this group; the group must be in a container. */
    public VfioDevice openDevice(PciAddress address) {
        return openDevice(VfioDeviceName.pci(address));
    }

    /**
     * The fd of a device of this group by its VFIO name (a PCI address, or a mediated device's UUID, as
     * VFIO_GROUP_GET_DEVICE_FD takes either); the group must be in a container.
     */
    public VfioDevice openDevice(VfioDeviceName name) {
        if (container == null) {
            throw new IllegalStateException("attach VFIO group " + id + " to a container before opening its devices");
        }
        int deviceFd;
        try {
            deviceFd = Ioctl.ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, name.toString());
        } catch (SyscallException e) {
            if (name.isPci()) {
                List<PciAddress> devices = devices();
                if (!devices.contains(name.pciOrNull())) {
                    throw new VfioException(name + " is not in VFIO group " + id + " (its devices are " + devices + ")", e);
                }
            } else if (!sysfs.exists(name) || sysfs.iommuGroup(name) != id) {
                throw new VfioException(name.describe() + " is not in VFIO group " + id + " (" + (sysfs.exists(name)
                        ? "its group is " + sysfs.iommuGroup(name) : "there is no such mediated device") + ")", e);
            }
            throw new VfioException("cannot open " + name.describe() + " of VFIO group " + id + ": " + e.getMessage()
                    + (e.is(Errno.EBUSY) ? " (it is already open: one fd per device)" : ""), e);
        }
        return VfioDevice.open(OwnedFd.adopt(deviceFd, "vfio device " + name), name, this);
    }

    public VfioContainer container() {
        return container;
    }

    OwnedFd fd() {
        return fd;
    }

    /** Closes the group; its devices must be closed first. Closing takes it out of its container. */
    @Override
    public void close() {
        if (container != null) {
            container.detach(this);
            container = null;
        }
        fd.close();
    }

    @Override
    public String toString() {
        return "VFIO group " + id;
    }
}
