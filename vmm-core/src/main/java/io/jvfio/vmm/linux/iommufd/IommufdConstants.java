package io.jvfio.vmm.linux.iommufd;

import io.jvfio.vmm.linux.jna.CMacros;

/** Constants of {@code linux/iommufd.h}, named as in the header (several are enumerators there). */
@CMacros("linux/iommufd.h")
public final class IommufdConstants {

    private IommufdConstants() {
    }

    /** The ioctl type (magic) of every iommufd request: {@code ';'}, VFIO's, with numbers from 0x80 on. */
    public static final int IOMMUFD_TYPE = ';';

    // enum of the command numbers
    public static final int IOMMUFD_CMD_BASE = 0x80;
    public static final int IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE;
    public static final int IOMMUFD_CMD_IOAS_ALLOC = 0x81;
    public static final int IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82;
    public static final int IOMMUFD_CMD_IOAS_COPY = 0x83;
    public static final int IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84;
    public static final int IOMMUFD_CMD_IOAS_MAP = 0x85;
    public static final int IOMMUFD_CMD_IOAS_UNMAP = 0x86;

    // enum iommufd_ioas_map_flags (struct iommu_ioas_map.flags)
    public static final int IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
    public static final int IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
    public static final int IOMMU_IOAS_MAP_READABLE = 1 << 2;
}
