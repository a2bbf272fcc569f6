package io.jvfio.vfio.kernel;

import io.jvfio.vmm.pci.PciAddress;

import java.util.ArrayList;
import java.util.List;

/**
 * The IOMMU groups of this machine as a person deciding what to pass through needs them: each
 * group's devices with IDs, class, driver and VFIO device cdev, whether the group can be assigned
 * now, and if not, what to do first (a no-IOMMU group is never for a guest); and whether iommufd is
 * there to bind devices through their cdevs.
 */
public final class IommuGroupReport {

    private IommuGroupReport() {
    }

    /** Said when there are no groups but VFIO's no-IOMMU mode is on. */
    static final String NO_IOMMU_MODE_ON = " VFIO's no-IOMMU mode is on (vfio.enable_unsafe_noiommu_mode): a device "
            + "bound to vfio-pci (jvfio --vfio-bind BDF) gets a no-IOMMU group (/dev/vfio/noiommu-N), "
            + "which is never for a guest, only for the host-side driver (-accel none with "
            + NoIommuMode.OPTION + ").";

    public static String render(PciSysfs sysfs) {
        return render(sysfs, Iommufd.problem());
    }

    /** The report, with {@code iommufdProblem} (null: {@code /dev/iommu} is there) as its last line. */
    public static String render(PciSysfs sysfs, String iommufdProblem) {
        return groups(sysfs) + (iommufdProblem == null ? "iommufd: available (" + Iommufd.PATH + "): -object "
                + "iommufd,id=ID with -device vfio-pci,host=BDF,iommufd=ID binds a device through its cdev\n"
                : "iommufd: not available: " + iommufdProblem + "\n");
    }

    private static String groups(PciSysfs sysfs) {
        List<Integer> groups = sysfs.groups();
        if (groups.isEmpty()) {
            return "No IOMMU groups: /sys/kernel/iommu_groups is empty. The IOMMU is off (boot with intel_iommu=on "
                    + "or amd_iommu=on, and enable VT-d or AMD-Vi in the firmware) or this kernel has no IOMMU "
                    + "support; VFIO device assignment needs one. A device can still be served over vfio-user "
                    + "(-device vfio-user-pci)." + (sysfs.noIommuModeEnabled() ? NO_IOMMU_MODE_ON : "") + "\n";
        }
        StringBuilder sb = new StringBuilder();
        for (int g : groups) {
            List<PciAddress> devices = sysfs.groupDevices(g);
            List<PciAddress> toBind = new ArrayList<>();
            boolean anyVfio = false;
            for (PciAddress d : devices) {
                String driver = sysfs.driver(d);
                if ("vfio-pci".equals(driver)) {
                    anyVfio = true;
                } else if (!PciSysfs.groupSafe(driver) || driver == null && !isBridge(sysfs, d)) {
                    toBind.add(d);
                }
            }
            boolean viable = devices.stream().allMatch(d -> PciSysfs.groupSafe(sysfs.driver(d)));
            boolean noIommu = sysfs.noIommuGroup(g);
            String state = noIommu ? "no-IOMMU (VFIO's unsafe mode: no DMA translation or isolation, the kernel is "
                    + "tainted): never for a guest; for the host-side driver only, with -accel none and "
                    + NoIommuMode.OPTION + " (needs CAP_SYS_RAWIO and CAP_SYS_ADMIN)"
                    : anyVfio && viable ? "ready to pass through"
                    : anyVfio ? "not viable: a device in it is still bound to a host driver"
                    : "used by the host";
            sb.append("IOMMU group ").append(g).append(" (").append(noIommu ? NoIommuMode.groupPath(g) : "/dev/vfio/" + g)
                    .append("): ").append(state).append('\n');
            for (PciAddress d : devices) {
                String driver = sysfs.driver(d);
                sb.append("  ").append(d).append(" [").append(sysfs.ids(d)).append("] class ")
                        .append(String.format("%06x", sysfs.classCode(d)))
                        .append(driver == null ? ", no driver" : ", driver " + driver);
                // A no-IOMMU device is registered in vfio-dev too, but with no cdev node (vfio_device_add).
                String cdev = noIommu ? null : sysfs.vfioCdev(d);
                if (cdev != null) {
                    sb.append(", cdev ").append(VfioDeviceCdev.DIRECTORY).append('/').append(cdev);
                }
                sb.append('\n');
            }
            if (!(anyVfio && viable) && !toBind.isEmpty()) {
                sb.append("  to pass it through, bind ");
                for (int i = 0; i < toBind.size(); i++) {
                    PciAddress d = toBind.get(i);
                    sb.append(i == 0 ? "" : "; and ").append(d).append(" to vfio-pci: ")
                            .append(PciSysfs.bindCommands(d, sysfs.driver(d)));
                }
                sb.append(" (or: jvfio --vfio-bind BDF)\n");
            }
        }
        return sb.toString();
    }

    private static boolean isBridge(PciSysfs sysfs, PciAddress d) {
        return (sysfs.classCode(d) >>> 16) == 0x06;
    }
}
