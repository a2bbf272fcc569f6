package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.IoctlRequest;

import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_CMD_DESTROY;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_CMD_IOAS_ALLOC;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_CMD_IOAS_IOVA_RANGES;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_CMD_IOAS_MAP;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_CMD_IOAS_UNMAP;
import static io.jvfio.vmm.linux.iommufd.IommufdConstants.IOMMUFD_TYPE;

/**
 * The ioctl requests of {@code linux/iommufd.h}, made on a {@code /dev/iommu} fd. Like VFIO's they
 * are encoded with {@code _IO} (no size, no direction): every argument begins with its own
 * {@code size}, which the kernel reads to tell versions of the struct apart.
 */
public final class IommufdIoctls {

    private IommufdIoctls() {
    }

    private static IoctlRequest iommufd(String name, int cmd) {
        return IoctlRequest.io(name, IOMMUFD_TYPE, cmd);
    }

    public static final IoctlRequest IOMMU_DESTROY = iommufd("IOMMU_DESTROY", IOMMUFD_CMD_DESTROY);
    public static final IoctlRequest IOMMU_IOAS_ALLOC = iommufd("IOMMU_IOAS_ALLOC", IOMMUFD_CMD_IOAS_ALLOC);
    public static final IoctlRequest IOMMU_IOAS_IOVA_RANGES =
            iommufd("IOMMU_IOAS_IOVA_RANGES", IOMMUFD_CMD_IOAS_IOVA_RANGES);
    public static final IoctlRequest IOMMU_IOAS_MAP = iommufd("IOMMU_IOAS_MAP", IOMMUFD_CMD_IOAS_MAP);
    public static final IoctlRequest IOMMU_IOAS_UNMAP = iommufd("IOMMU_IOAS_UNMAP", IOMMUFD_CMD_IOAS_UNMAP);
}
