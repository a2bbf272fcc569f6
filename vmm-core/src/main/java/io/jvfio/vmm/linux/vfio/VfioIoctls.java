package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.IoctlRequest;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_BASE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_TYPE;

/**
 * The ioctl requests of {@code linux/vfio.h}. VFIO encodes them all with {@code _IO} (no size, no
 * direction) and identifies the argument by the fd the request is made on: container, group or
 * device (opened through its group, or its cdev bound to an iommufd). Several numbers are therefore shared (12 is both VFIO_IOMMU_GET_INFO on a container and
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on a device).
 */
public final class VfioIoctls {

    private VfioIoctls() {
    }

    private static IoctlRequest vfio(String name, int offset) {
        return IoctlRequest.io(name, VFIO_TYPE, VFIO_BASE + offset);
    }

    // container
    public static final IoctlRequest VFIO_GET_API_VERSION = vfio("VFIO_GET_API_VERSION", 0);
    public static final IoctlRequest VFIO_CHECK_EXTENSION = vfio("VFIO_CHECK_EXTENSION", 1);
    public static final IoctlRequest VFIO_SET_IOMMU = vfio("VFIO_SET_IOMMU", 2);
    public static final IoctlRequest VFIO_IOMMU_GET_INFO = vfio("VFIO_IOMMU_GET_INFO", 12);
    public static final IoctlRequest VFIO_IOMMU_MAP_DMA = vfio("VFIO_IOMMU_MAP_DMA", 13);
    public static final IoctlRequest VFIO_IOMMU_UNMAP_DMA = vfio("VFIO_IOMMU_UNMAP_DMA", 14);
    /** Type1's dirty page logging; the same number as VFIO_DEVICE_FEATURE, on a container. */
    public static final IoctlRequest VFIO_IOMMU_DIRTY_PAGES = vfio("VFIO_IOMMU_DIRTY_PAGES", 17);

    // group
    public static final IoctlRequest VFIO_GROUP_GET_STATUS = vfio("VFIO_GROUP_GET_STATUS", 3);
    public static final IoctlRequest VFIO_GROUP_SET_CONTAINER = vfio("VFIO_GROUP_SET_CONTAINER", 4);
    public static final IoctlRequest VFIO_GROUP_UNSET_CONTAINER = vfio("VFIO_GROUP_UNSET_CONTAINER", 5);
    public static final IoctlRequest VFIO_GROUP_GET_DEVICE_FD = vfio("VFIO_GROUP_GET_DEVICE_FD", 6);

    // device
    public static final IoctlRequest VFIO_DEVICE_GET_INFO = vfio("VFIO_DEVICE_GET_INFO", 7);
    public static final IoctlRequest VFIO_DEVICE_GET_REGION_INFO = vfio("VFIO_DEVICE_GET_REGION_INFO", 8);
    public static final IoctlRequest VFIO_DEVICE_GET_IRQ_INFO = vfio("VFIO_DEVICE_GET_IRQ_INFO", 9);
    public static final IoctlRequest VFIO_DEVICE_SET_IRQS = vfio("VFIO_DEVICE_SET_IRQS", 10);
    public static final IoctlRequest VFIO_DEVICE_RESET = vfio("VFIO_DEVICE_RESET", 11);
    public static final IoctlRequest VFIO_DEVICE_GET_PCI_HOT_RESET_INFO =
            vfio("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", 12);
    public static final IoctlRequest VFIO_DEVICE_PCI_HOT_RESET = vfio("VFIO_DEVICE_PCI_HOT_RESET", 13);
    public static final IoctlRequest VFIO_DEVICE_IOEVENTFD = vfio("VFIO_DEVICE_IOEVENTFD", 16);
    public static final IoctlRequest VFIO_DEVICE_FEATURE = vfio("VFIO_DEVICE_FEATURE", 17);

    // device cdev (/dev/vfio/devices/vfioN), bound to an iommufd instead of opened through a group
    public static final IoctlRequest VFIO_DEVICE_BIND_IOMMUFD = vfio("VFIO_DEVICE_BIND_IOMMUFD", 18);
    public static final IoctlRequest VFIO_DEVICE_ATTACH_IOMMUFD_PT = vfio("VFIO_DEVICE_ATTACH_IOMMUFD_PT", 19);
    public static final IoctlRequest VFIO_DEVICE_DETACH_IOMMUFD_PT = vfio("VFIO_DEVICE_DETACH_IOMMUFD_PT", 20);

    // migration data fd (from VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), in PRE_COPY or PRE_COPY_P2P
    public static final IoctlRequest VFIO_MIG_GET_PRECOPY_INFO = vfio("VFIO_MIG_GET_PRECOPY_INFO", 21);
}
