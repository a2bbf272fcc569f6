package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Capabilities;
import io.jvfio.vmm.pci.PciAddress;

/**
 * VFIO's no-IOMMU mode (Linux 4.5, {@code vfio.enable_unsafe_noiommu_mode=1}, CONFIG_VFIO_NOIOMMU): on
 * a host without an IOMMU, binding a device to vfio-pci gives it a group of its own,
 * {@code /dev/vfio/noiommu-N}, and taints the kernel. Such a device has no DMA translation and no
 * isolation: it reaches host physical memory, all of it. The kernel's commit means it for user-space
 * drivers (DPDK), never for device assignment, since a guest's driver programs guest physical
 * addresses that would land anywhere in host memory. jvfio therefore refuses a no-IOMMU device to a
 * guest outright, and opens one only for its host-side driver ({@code -accel none}) when asked to with
 * {@code x-no-iommu=on}, loudly, with the RAM locked and addressed physically ({@link PinnedGuestRam}).
 * Here are those rules and what they say.
 */
public final class NoIommuMode {

    /** The option that opts a device in. */
    public static final String OPTION = "x-no-iommu=on";

    private NoIommuMode() {
    }

    /** The path of no-IOMMU group {@code id}. */
    public static String groupPath(int id) {
        return "/dev/vfio/noiommu-" + id;
    }

    /** A no-IOMMU device ({@code device} names it) asked for without {@code x-no-iommu=on}. */
    static VfioException.NoIommu refused(String device, int group) {
        return new VfioException.NoIommu(device + " is in a no-IOMMU group (" + groupPath(group) + ", VFIO's "
                + "enable_unsafe_noiommu_mode on a host without an IOMMU): without an IOMMU there is no DMA translation, "
                + "so a guest cannot be given the device safely (the guest physical addresses its driver programs "
                + "would reach host memory, anywhere); for a host-side user-space driver use -accel none with "
                + OPTION + ", or boot the host with an IOMMU (intel_iommu=on or amd_iommu=on) to pass the device to a "
                + "guest");
    }

    /** {@code x-no-iommu=on} on a machine whose guest drives the devices (KVM). */
    public static VfioException.NoIommu notForAGuest() {
        return new VfioException.NoIommu(OPTION + " is for the host-side driver only (-accel none): this machine runs "
                + "its guest on KVM, and without an IOMMU there is no DMA translation, so a guest cannot be given a "
                + "no-IOMMU device safely (the guest physical addresses its driver programs would reach host memory, "
                + "anywhere); use -accel none, or boot the host with an IOMMU and drop " + OPTION);
    }

    /** {@code x-no-iommu=on} for a device that an IOMMU does translate. */
    static VfioException notNoIommu(PciAddress address, int group) {
        return new VfioException(OPTION + ": " + address + " is in IOMMU group " + group + " (/dev/vfio/" + group
                + "), which an IOMMU translates, not in a no-IOMMU group; drop " + OPTION);
    }

    /** The kernel opens a no-IOMMU group only for a process with CAP_SYS_RAWIO: said before it says EPERM. */
    static void requireRawIo(int group) {
        if (!Capabilities.effective().has(Capabilities.CAP_SYS_RAWIO)) {
            throw new VfioException("opening " + groupPath(group) + " needs CAP_SYS_RAWIO (the kernel refuses a "
                    + "no-IOMMU group to any other process with EPERM: its device can reach all of memory); run jvfio "
                    + "as root or with CAP_SYS_RAWIO");
        }
    }

    /** The warning for a device opened in the mode, in one line. */
    static String warning(PciAddress address, int group) {
        return "UNSAFE: " + address + " runs in VFIO no-IOMMU mode (" + groupPath(group) + ", " + OPTION + "): the "
                + "kernel is tainted, and the device can reach all of host memory, with no DMA translation and no "
                + "isolation; it is given host physical addresses of locked guest RAM, and "
                + PinnedGuestRam.compactionCaveat() + ". Use it only with a device and a driver you trust";
    }
}
