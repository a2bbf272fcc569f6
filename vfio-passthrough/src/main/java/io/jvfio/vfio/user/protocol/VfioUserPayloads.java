package io.jvfio.vfio.user.protocol;

/**
 * Offsets within the payload of each vfio-user message (after the header), from the spec's tables.
 * Region info, IRQ info and IRQ set payloads are the kernel's structs ({@code linux/vfio.h}).
 */
public final class VfioUserPayloads {

    private VfioUserPayloads() {
    }

    /** VFIO_USER_VERSION: major, minor, then an optional NUL-terminated JSON object. */
    public static final class Version {
        public static final int MAJOR = 0;
        public static final int MINOR = 2;
        public static final int DATA = 4;
    }

    /** VFIO_USER_DMA_MAP request. */
    public static final class DmaMap {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int OFFSET = 8;
        public static final int ADDRESS = 16;
        public static final int SIZE = 24;
        public static final int SIZEOF = 32;
        public static final int FLAG_READ = 1;
        public static final int FLAG_WRITE = 2;
    }

    /** VFIO_USER_DMA_UNMAP request and reply. */
    public static final class DmaUnmap {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int ADDRESS = 8;
        public static final int SIZE = 16;
        public static final int SIZEOF = 24;
    }

    /** VFIO_USER_DEVICE_GET_INFO request and reply. */
    public static final class DeviceInfo {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int NUM_REGIONS = 8;
        public static final int NUM_IRQS = 12;
        public static final int SIZEOF = 16;
    }

    /** VFIO_USER_DEVICE_GET_REGION_INFO: struct vfio_region_info, then capabilities. */
    public static final class RegionInfo {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int INDEX = 8;
        public static final int CAP_OFFSET = 12;
        public static final int SIZE = 16;
        public static final int OFFSET = 24;
        public static final int SIZEOF = 32;
    }

    /**
     * VFIO_USER_DEVICE_GET_REGION_IO_FDS: argsz, flags, index, count, then (reply) the sub-regions.
     * The spec's reply text puts entry i at {@code i * ((argsz - 32) / count)}, but its own table
     * (and libvfio-user's vfio_user_region_io_fds_reply_t) has a 16-byte header: the entries start
     * at 16, 40 bytes each, and that is what both ends here read and write.
     */
    public static final class RegionIoFds {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int INDEX = 8;
        public static final int COUNT = 12;
        public static final int SUB_REGIONS = 16;
        public static final int SIZEOF = 16;

        /** One sub-region of type VFIO_USER_IO_FD_TYPE_IOEVENTFD. */
        public static final int SUB_OFFSET = 0;
        public static final int SUB_SIZE = 8;
        public static final int SUB_FD_INDEX = 16;
        public static final int SUB_TYPE = 20;
        public static final int SUB_FLAGS = 24;
        public static final int SUB_DATAMATCH = 32;
        public static final int SUB_SIZEOF = 40;

        /** The spec's flags are KVM's: KVM_IOEVENTFD_FLAG_DATAMATCH and KVM_IOEVENTFD_FLAG_PIO (linux/kvm.h). */
        public static final int FLAG_DATAMATCH = 1 << 0;
        public static final int FLAG_PIO = 1 << 1;

        public static final int TYPE_IOEVENTFD = 0;
        public static final int TYPE_IOREGIONFD = 1;
    }

    /** VFIO_USER_DEVICE_GET_IRQ_INFO: struct vfio_irq_info. */
    public static final class IrqInfo {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int INDEX = 8;
        public static final int COUNT = 12;
        public static final int SIZEOF = 16;
    }

    /** VFIO_USER_DEVICE_SET_IRQS: struct vfio_irq_set, then booleans for DATA_BOOL. */
    public static final class IrqSet {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int INDEX = 8;
        public static final int START = 12;
        public static final int COUNT = 16;
        public static final int DATA = 20;
        public static final int SIZEOF = 20;
    }

    /** VFIO_USER_REGION_READ / REGION_WRITE: offset, region, count, then data. */
    public static final class RegionAccess {
        public static final int OFFSET = 0;
        public static final int REGION = 8;
        public static final int COUNT = 12;
        public static final int DATA = 16;
        public static final int SIZEOF = 16;
    }

    /**
     * VFIO_USER_DMA_READ / DMA_WRITE: address, count (64-bit), then data. DMA_WRITE's reply in the
     * spec's table is address and a 32-bit count (12 bytes); libvfio-user's server reads exactly 16
     * (address and a 64-bit count) and fails on less, so we send 16, whose first 12 bytes are the
     * spec's fields with the spec's values.
     */
    public static final class DmaAccess {
        public static final int ADDRESS = 0;
        public static final int COUNT = 8;
        public static final int DATA = 16;
        public static final int SIZEOF = 16;
        public static final int WRITE_REPLY_SIZEOF = 16;
        public static final int SPEC_WRITE_REPLY_SIZEOF = 12;
    }

    /** VFIO_USER_DEVICE_FEATURE: argsz, flags (feature index in bits 0-15, GET/SET/PROBE above), then data. */
    public static final class DeviceFeature {
        public static final int ARGSZ = 0;
        public static final int FLAGS = 4;
        public static final int SIZEOF = 8;
        public static final int INDEX_MASK = 0xFFFF;
        /** Where the feature's data begins. */
        public static final int DATA = 8;
    }

    /** VFIO_DEVICE_FEATURE_MIGRATION's data: the VFIO_MIGRATION_* flags, a u64. */
    public static final class FeatureMigration {
        public static final int FLAGS = 0;
        public static final int SIZEOF = 8;
    }

    /** VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE's data; data_fd is unused in vfio-user. */
    public static final class FeatureMigDeviceState {
        public static final int DEVICE_STATE = 0;
        public static final int DATA_FD = 4;
        public static final int SIZEOF = 8;
    }

    /** VFIO_USER_MIG_DATA_READ's request and reply, VFIO_USER_MIG_DATA_WRITE's request. */
    public static final class MigData {
        public static final int ARGSZ = 0;
        public static final int SIZE = 4;
        public static final int DATA = 8;
        public static final int SIZEOF = 8;
    }
}
