package io.jvfio.vfio.kernel;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kernel VFIO for one VM, through either back end, each one {@link IommuAddressSpace} per VM shared by
 * its devices and kept at IOVA = guest physical address from its first device on:
 * <ul>
 * <li>the group path: one Type1 container, each IOMMU group opened and attached to it once however
 * many of its devices are passed through (the kernel lets a group be opened by one process only);
 * <li>the cdev path: one IOAS per {@link Iommufd} ({@code -object iommufd}), each device's cdev bound
 * to that iommufd and attached to the IOAS.
 * </ul>
 * Closing releases the groups, the container and the IOASes; the devices opened from it must have
 * been closed first. The iommufds belong to whoever opened them.
 */
public final class KernelVfio implements AutoCloseable {

    private static final Pattern GROUP_PATH = Pattern.compile("/dev/vfio/(\\d+)");

    private final GuestMemory memory;
    private final PciSysfs sysfs;
    private final Map<Integer, VfioGroup> groups = new HashMap<>();
    private final List<VfioGroup> order = new ArrayList<>();
    private final Map<Iommufd, IommufdIoas> ioases = new IdentityHashMap<>();
    private final List<IommuAddressSpace> following = new ArrayList<>();
    private VfioContainer container;

    public KernelVfio(GuestMemory memory, PciSysfs sysfs) {
        this.memory = memory;
        this.sysfs = sysfs;
    }

    public PciSysfs sysfs() {
        return sysfs;
    }

    /** Opens the host device at {@code address} through its group, the group and the container first if need be. */
    public synchronized VfioDevice openDevice(PciAddress address) {
        requireExists(address);
        return group(sysfs.iommuGroup(address), id -> VfioGroup.open(id, sysfs)).openDevice(address);
    }

    /**
     * Opens the host device at {@code address} through its cdev, bound to {@code iommufd} and attached
     * to the VM's IOAS of it (allocated with the first such device).
     */
    public synchronized VfioDevice openDevice(PciAddress address, Iommufd iommufd) {
        requireExists(address);
        IommufdIoas ioas = ioas(iommufd);
        return follow(ioas, VfioDeviceCdev.open(address, sysfs, ioas));
    }

    /**
     * The device of an fd a management layer opened ({@code -device vfio-pci,fd=N}): a device cdev
     * ({@code /dev/vfio/devices/vfioN}), bound to {@code iommufd}; or a group ({@code /dev/vfio/N}),
     * whose device {@code address} names. {@code address} may be null for a cdev; if given it must be
     * the cdev's device.
     */
    public synchronized VfioDevice adoptDevice(PassedFd passed, PciAddress address, Iommufd iommufd) {
        String option = "fd=" + passed.number();
        if (VfioDeviceCdev.isCdev(passed.path())) {
            if (iommufd == null) {
                throw new VfioException(option + " is the VFIO device cdev " + passed.path() + ", which must be bound "
                        + "to an iommufd: add -object iommufd,id=ID and iommufd=ID");
            }
            IommufdIoas ioas = ioas(iommufd);
            VfioDevice device = VfioDeviceCdev.adopt(passed, sysfs, ioas);
            if (address != null && !address.equals(device.address())) {
                device.close();
                throw new VfioException(option + " is the VFIO device cdev of " + device.address() + ", not of "
                        + address + "; drop host=/sysfsdev= or make them name the same device");
            }
            return follow(ioas, device);
        }
        Matcher m = GROUP_PATH.matcher(passed.path());
        if (!m.matches()) {
            throw new VfioException(option + " is " + passed.path() + ", neither a VFIO device cdev ("
                    + VfioDeviceCdev.DIRECTORY + "/vfioN) nor a VFIO group (/dev/vfio/N); pass one of those");
        }
        int id = Integer.parseInt(m.group(1));
        if (iommufd != null) {
            throw new VfioException(option + " is VFIO group " + id + " (" + passed.path() + "), and iommufd= binds a "
                    + "device cdev, not a group; pass the device's cdev (" + VfioDeviceCdev.DIRECTORY
                    + "/vfioN), or drop iommufd=");
        }
        if (address == null) {
            throw new VfioException(option + " is VFIO group " + id + " (" + passed.path() + "), which may hold several "
                    + "devices: name the device with host= or sysfsdev=");
        }
        requireExists(address);
        if (groups.containsKey(id)) {
            throw new VfioException(option + " is VFIO group " + id + ", which this VM has open already; pass the "
                    + "group's fd once (one -device vfio-pci,fd=N) and name its other devices with host=");
        }
        if (sysfs.iommuGroup(address) != id) {
            throw new VfioException(option + " is VFIO group " + id + ", but " + address + " is in group "
                    + sysfs.iommuGroup(address) + "; pass the fd of its group");
        }
        return group(id, g -> VfioGroup.adopt(g, passed, sysfs)).openDevice(address);
    }

    private void requireExists(PciAddress address) {
        if (!sysfs.exists(address)) {
            throw new VfioException("there is no PCI device " + address + " on this host (lspci -D lists them)");
        }
    }

    /** Group {@code id}, opened with {@code open} and attached to the container the first time. */
    private VfioGroup group(int id, IntFunction<VfioGroup> open) {
        VfioGroup group = groups.get(id);
        if (group != null) {
            return group;
        }
        if (container == null) {
            container = VfioContainer.open();
        }
        group = open.apply(id);
        try {
            group.attachTo(container);
            startFollowing(container);
        } catch (RuntimeException e) {
            group.close();
            throw e;
        }
        groups.put(id, group);
        order.add(group);
        return group;
    }

    private IommufdIoas ioas(Iommufd iommufd) {
        return ioases.computeIfAbsent(iommufd, Iommufd::allocateIoas);
    }

    /**
     * Guest RAM into {@code space} once its first device is attached: a Type1 container has no IOMMU
     * model before, and an IOAS learns the reserved ranges (the MSI window) from its devices.
     */
    private VfioDevice follow(IommuAddressSpace space, VfioDevice device) {
        try {
            startFollowing(space);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
        return device;
    }

    private void startFollowing(IommuAddressSpace space) {
        if (!following.contains(space)) {
            memory.addListener(space); // guest RAM at IOVA = guest physical address
            following.add(space);
        }
    }

    @Override
    public synchronized void close() {
        for (int i = following.size() - 1; i >= 0; i--) {
            memory.removeListener(following.get(i));
        }
        following.clear();
        for (int i = order.size() - 1; i >= 0; i--) {
            order.get(i).close();
        }
        order.clear();
        groups.clear();
        if (container != null) {
            container.close();
            container = null;
        }
        for (IommufdIoas ioas : ioases.values()) {
            ioas.close();
        }
        ioases.clear();
    }
}
