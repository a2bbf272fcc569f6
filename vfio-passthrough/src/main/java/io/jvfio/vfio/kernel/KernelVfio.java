package io.jvfio.vfio.kernel;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.pci.PciAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * A device in VFIO's no-IOMMU mode is refused on both; only {@link #openNoIommuDevice}, for a driver
 * on the host side, opens one, into a no-IOMMU container of its own, with guest RAM locked and
 * addressed physically ({@link PinnedGuestRam}) instead of mapped.
 * Closing releases the groups, the container and the IOASes; the devices opened from it must have
 * been closed first. The iommufds belong to whoever opened them. A device closed while the VM runs (a
 * hot-unplug) is {@linkplain #release released}: its group is closed once no device of it is left open,
 * so that another process can open it, as QEMU puts a group with its last device.
 */
public final class KernelVfio implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KernelVfio.class);
    private static final Pattern GROUP_PATH = Pattern.compile("/dev/vfio/(\\d+)");
    private static final Pattern NO_IOMMU_GROUP_PATH = Pattern.compile("/dev/vfio/noiommu-(\\d+)");

    private final GuestMemory memory;
    private final PciSysfs sysfs;
    private final Map<Integer, VfioGroup> groups = new HashMap<>();
    private final List<VfioGroup> order = new ArrayList<>();
    /** The devices opened through a group of the container and not yet released. */
    private final List<VfioDevice> open = new ArrayList<>();
    private final Map<Iommufd, IommufdIoas> ioases = new IdentityHashMap<>();
    private final List<IommuAddressSpace> following = new ArrayList<>();
    private VfioContainer container;
    /** The no-IOMMU groups' container, and guest RAM locked for them: kernel VFIO keeps the two kinds apart. */
    private VfioContainer noIommuContainer;
    private PinnedGuestRam pinned;
    private boolean pinnedFollowing;

    public KernelVfio(GuestMemory memory, PciSysfs sysfs) {
        this.memory = memory;
        this.sysfs = sysfs;
    }

    public PciSysfs sysfs() {
        return sysfs;
    }

    /**
     * Opens the host device at {@code address} through its group, the group and the container first if
     * need be. A device in a no-IOMMU group is refused ({@link NoIommuMode}): {@link #openNoIommuDevice}
     * is the explicit way in.
     */
    public synchronized VfioDevice openDevice(PciAddress address) {
        requireExists(address);
        requireIommu(address);
        return opened(group(sysfs.iommuGroup(address), id -> VfioGroup.open(id, sysfs)).openDevice(address));
    }

    private VfioDevice opened(VfioDevice device) {
        open.add(device);
        return device;
    }

    /**
     * {@code device}, opened from this VM's VFIO, has been closed: if it came through a group of the
     * container and no other open device of this VM is in that group, the group leaves the container and
     * is closed (another process may then open it); the container, with no group left, is closed too, and
     * made again for the next device. A device of a cdev or of a no-IOMMU group needs nothing more here.
     */
    public synchronized void release(VfioDevice device) {
        VfioGroup group = device.group();
        if (group == null || container == null || group.container() != container
                || groups.get(group.id()) != group) {
            return;
        }
        open.remove(device);
        if (open.stream().anyMatch(d -> d.group() == group)) {
            return;
        }
        groups.remove(group.id());
        order.remove(group);
        if (container.groups().size() == 1) {
            // Its last group: guest RAM is unmapped while the IOMMU model is still there, the group leaves,
            // and the container goes (a Type1 container loses its model with its last group; the next device
            // starts afresh).
            try {
                memory.removeListener(container);
            } finally {
                following.remove(container);
                group.close();
                container.close();
                container = null;
            }
        } else {
            group.close();
        }
    }

    /**
     * Opens the host device at {@code address} in VFIO's no-IOMMU mode ({@code x-no-iommu=on}), for a
     * driver on the host side only (the caller has checked that no guest drives it): its no-IOMMU group
     * ({@code /dev/vfio/noiommu-N}, which needs CAP_SYS_RAWIO) in the VM's no-IOMMU container, guest RAM
     * locked in memory from then on and addressed physically ({@link PinnedGuestRam}, which needs
     * CAP_SYS_ADMIN). Warns, loudly, every time.
     */
    public synchronized VfioDevice openNoIommuDevice(PciAddress address) {
        requireExists(address);
        int id = sysfs.noIommuGroupOf(address);
        if (id < 0) {
            throw NoIommuMode.notNoIommu(address, sysfs.iommuGroup(address)); // or why it has no group at all
        }
        NoIommuMode.requireRawIo(id);
        VfioGroup group = groups.get(id);
        if (group == null) {
            if (noIommuContainer == null) {
                PinnedGuestRam ram = PinnedGuestRam.of(memory);
                try {
                    noIommuContainer = VfioContainer.openNoIommu(ram);
                } catch (RuntimeException e) {
                    ram.close();
                    throw e;
                }
                pinned = ram;
            }
            group = VfioGroup.openNoIommu(id, sysfs);
            try {
                group.attachTo(noIommuContainer);
                if (!pinnedFollowing) {
                    memory.addListener(pinned); // locks guest RAM, and whatever RAM comes later
                    pinnedFollowing = true;
                }
            } catch (RuntimeException e) {
                group.close();
                throw e;
            }
            groups.put(id, group);
            order.add(group);
        }
        LOG.warn(NoIommuMode.warning(address, id));
        return group.openDevice(address);
    }

    /** Refuses a device of a no-IOMMU group on a path that would give it to a guest. */
    private void requireIommu(PciAddress address) {
        int noIommu = sysfs.noIommuGroupOf(address);
        if (noIommu >= 0) {
            throw NoIommuMode.refused(address.toString(), noIommu);
        }
    }

    /**
     * Opens the host device at {@code address} through its cdev, bound to {@code iommufd} and attached
     * to the VM's IOAS of it (allocated with the first such device).
     */
    public synchronized VfioDevice openDevice(PciAddress address, Iommufd iommufd) {
        requireExists(address);
        requireIommu(address); // the kernel makes no cdev node for a no-IOMMU device either
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
        Matcher noIommu = NO_IOMMU_GROUP_PATH.matcher(passed.path());
        if (noIommu.matches()) {
            int id = Integer.parseInt(noIommu.group(1));
            throw NoIommuMode.refused(address != null ? address.toString() : option + " (" + passed.path() + ")", id);
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
        return opened(group(id, g -> VfioGroup.adopt(g, passed, sysfs)).openDevice(address));
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
        if (noIommuContainer != null) {
            noIommuContainer.close();
            noIommuContainer = null;
        }
        if (pinned != null) {
            if (pinnedFollowing) {
                memory.removeListener(pinned); // unlocks guest RAM, its devices closed
                pinnedFollowing = false;
            }
            pinned.close();
            pinned = null;
        }
        for (IommufdIoas ioas : ioases.values()) {
            ioas.close();
        }
        ioases.clear();
    }
}
