package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.CMacros;

/** Constants of {@code linux/vfio.h}, named as in the header. */
@CMacros("linux/vfio.h")
public final class VfioConstants {

    private VfioConstants() {
    }

    public static final int VFIO_API_VERSION = 0;

    /** The ioctl type (magic) of every VFIO request: {@code ';'}. */
    public static final int VFIO_TYPE = ';';
    public static final int VFIO_BASE = 100;

    // IOMMU models and extensions (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU)
    public static final int VFIO_TYPE1_IOMMU = 1;
    public static final int VFIO_TYPE1v2_IOMMU = 3;
    public static final int VFIO_DMA_CC_IOMMU = 4;
    public static final int VFIO_NOIOMMU_IOMMU = 8;
    public static final int VFIO_UNMAP_ALL = 9;

    // struct vfio_group_status.flags
    public static final int VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
    public static final int VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

    // struct vfio_device_info.flags
    public static final int VFIO_DEVICE_FLAGS_RESET = 1 << 0;
    public static final int VFIO_DEVICE_FLAGS_PCI = 1 << 1;
    public static final int VFIO_DEVICE_FLAGS_CAPS = 1 << 7;

    // struct vfio_region_info.flags
    public static final int VFIO_REGION_INFO_FLAG_READ = 1 << 0;
    public static final int VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
    public static final int VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
    public static final int VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

    // region info capability ids
    public static final int VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
    public static final int VFIO_REGION_INFO_CAP_TYPE = 2;
    public static final int VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;

    // struct vfio_region_info_cap_type.type
    public static final int VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 1 << 31;
    public static final int VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
    public static final int VFIO_REGION_TYPE_GFX = 1;
    public static final int VFIO_REGION_TYPE_CCW = 2;

    // struct vfio_irq_info.flags
    public static final int VFIO_IRQ_INFO_EVENTFD = 1 << 0;
    public static final int VFIO_IRQ_INFO_MASKABLE = 1 << 1;
    public static final int VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
    public static final int VFIO_IRQ_INFO_NORESIZE = 1 << 3;

    // struct vfio_irq_set.flags
    public static final int VFIO_IRQ_SET_DATA_NONE = 1 << 0;
    public static final int VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
    public static final int VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
    public static final int VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
    public static final int VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
    public static final int VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
    public static final int VFIO_IRQ_SET_DATA_TYPE_MASK = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL
            | VFIO_IRQ_SET_DATA_EVENTFD;
    public static final int VFIO_IRQ_SET_ACTION_TYPE_MASK = VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK
            | VFIO_IRQ_SET_ACTION_TRIGGER;

    // vfio-pci's fixed region indexes
    public static final int VFIO_PCI_BAR0_REGION_INDEX = 0;
    public static final int VFIO_PCI_BAR1_REGION_INDEX = 1;
    public static final int VFIO_PCI_BAR2_REGION_INDEX = 2;
    public static final int VFIO_PCI_BAR3_REGION_INDEX = 3;
    public static final int VFIO_PCI_BAR4_REGION_INDEX = 4;
    public static final int VFIO_PCI_BAR5_REGION_INDEX = 5;
    public static final int VFIO_PCI_ROM_REGION_INDEX = 6;
    public static final int VFIO_PCI_CONFIG_REGION_INDEX = 7;
    public static final int VFIO_PCI_VGA_REGION_INDEX = 8;
    public static final int VFIO_PCI_NUM_REGIONS = 9;

    // vfio-pci's fixed IRQ indexes
    public static final int VFIO_PCI_INTX_IRQ_INDEX = 0;
    public static final int VFIO_PCI_MSI_IRQ_INDEX = 1;
    public static final int VFIO_PCI_MSIX_IRQ_INDEX = 2;
    public static final int VFIO_PCI_ERR_IRQ_INDEX = 3;
    public static final int VFIO_PCI_REQ_IRQ_INDEX = 4;
    public static final int VFIO_PCI_NUM_IRQS = 5;

    // struct vfio_iommu_type1_info.flags and capability ids
    public static final int VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
    public static final int VFIO_IOMMU_INFO_CAPS = 1 << 1;
    public static final int VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
    public static final int VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
    public static final int VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;

    // struct vfio_iommu_type1_dma_map.flags / dma_unmap.flags
    public static final int VFIO_DMA_MAP_FLAG_READ = 1 << 0;
    public static final int VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
    public static final int VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
    public static final int VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
    public static final int VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;

    // struct vfio_device_ioeventfd.flags: the width of the write
    public static final int VFIO_DEVICE_IOEVENTFD_8 = 1 << 0;
    public static final int VFIO_DEVICE_IOEVENTFD_16 = 1 << 1;
    public static final int VFIO_DEVICE_IOEVENTFD_32 = 1 << 2;
    public static final int VFIO_DEVICE_IOEVENTFD_64 = 1 << 3;
    public static final int VFIO_DEVICE_IOEVENTFD_SIZE_MASK = 0xf;
    public static final int VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

    // VFIO_DEVICE_FEATURE: struct vfio_device_feature.flags (the feature index, and what is asked)
    public static final int VFIO_DEVICE_FEATURE_MASK = 0xffff;
    public static final int VFIO_DEVICE_FEATURE_GET = 1 << 16;
    public static final int VFIO_DEVICE_FEATURE_SET = 1 << 17;
    public static final int VFIO_DEVICE_FEATURE_PROBE = 1 << 18;
    public static final int VFIO_DEVICE_FEATURE_MIGRATION = 1;
    public static final int VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE = 2;
    public static final int VFIO_DEVICE_FEATURE_DMA_LOGGING_START = 6;
    public static final int VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP = 7;
    public static final int VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT = 8;
    public static final int VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9;

    // struct vfio_device_feature_migration.flags: the optional parts of the migration state machine
    public static final int VFIO_MIGRATION_STOP_COPY = 1 << 0;
    public static final int VFIO_MIGRATION_P2P = 1 << 1;
    public static final int VFIO_MIGRATION_PRE_COPY = 1 << 2;

    // enum vfio_device_mig_state (vfio-user's DEVICE_FEATURE uses the same numbers)
    public static final int VFIO_DEVICE_STATE_ERROR = 0;
    public static final int VFIO_DEVICE_STATE_STOP = 1;
    public static final int VFIO_DEVICE_STATE_RUNNING = 2;
    public static final int VFIO_DEVICE_STATE_STOP_COPY = 3;
    public static final int VFIO_DEVICE_STATE_RESUMING = 4;
    public static final int VFIO_DEVICE_STATE_RUNNING_P2P = 5;
    public static final int VFIO_DEVICE_STATE_PRE_COPY = 6;
    public static final int VFIO_DEVICE_STATE_PRE_COPY_P2P = 7;
    public static final int VFIO_DEVICE_STATE_NR = 8;

    // struct vfio_iommu_type1_dirty_bitmap.flags (VFIO_IOMMU_DIRTY_PAGES): one at a time
    public static final int VFIO_IOMMU_DIRTY_PAGES_FLAG_START = 1 << 0;
    public static final int VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP = 1 << 1;
    public static final int VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP = 1 << 2;
}
