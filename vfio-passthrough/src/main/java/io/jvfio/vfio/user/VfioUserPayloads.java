package io.jvfio.vfio.user;

/**
 * Offsets within the payload of each vfio-user message (after the header), from the spec's tables.
 * Region info, IRQ info and IRQ set payloads are the kernel's structs ({@code linux/vfio.h}).
 */
final class VfioUserPayloads {

    private VfioUserPayloads() {
    }

    /** VFIO_USER_VERSION: major, minor, then an optional NUL-terminated JSON object. */
    static final class Version {
        static final int MAJOR = 0;
        static final int MINOR = 2;
        static final int DATA = 4;
    }

    /** VFIO_USER_DMA_MAP request. */
    static final class DmaMap {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int OFFSET = 8;
        static final int ADDRESS = 16;
        static final int SIZE = 24;
        static final int SIZEOF = 32;
        static final int FLAG_READ = 1;
        static final int FLAG_WRITE = 2;
    }

    /** VFIO_USER_DMA_UNMAP request and reply. */
    static final class DmaUnmap {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int ADDRESS = 8;
        static final int SIZE = 16;
        static final int SIZEOF = 24;
    }

    /** VFIO_USER_DEVICE_GET_INFO request and reply. */
    static final class DeviceInfo {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int NUM_REGIONS = 8;
        static final int NUM_IRQS = 12;
        static final int SIZEOF = 16;
    }

    /** VFIO_USER_DEVICE_GET_REGION_INFO: struct vfio_region_info, then capabilities. */
    static final class RegionInfo {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int INDEX = 8;
        static final int CAP_OFFSET = 12;
        static final int SIZE = 16;
        static final int OFFSET = 24;
        static final int SIZEOF = 32;
    }

    /** VFIO_USER_DEVICE_GET_IRQ_INFO: struct vfio_irq_info. */
    static final class IrqInfo {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int INDEX = 8;
        static final int COUNT = 12;
        static final int SIZEOF = 16;
    }

    /** VFIO_USER_DEVICE_SET_IRQS: struct vfio_irq_set, then booleans for DATA_BOOL. */
    static final class IrqSet {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int INDEX = 8;
        static final int START = 12;
        static final int COUNT = 16;
        static final int DATA = 20;
        static final int SIZEOF = 20;
    }

    /** VFIO_USER_REGION_READ / REGION_WRITE: offset, region, count, then data. */
    static final class RegionAccess {
        static final int OFFSET = 0;
        static final int REGION = 8;
        static final int COUNT = 12;
        static final int DATA = 16;
        static final int SIZEOF = 16;
    }

    /**
     * VFIO_USER_DMA_READ / DMA_WRITE: address, count (64-bit), then data. DMA_WRITE's reply in the
     * spec's table is address and a 32-bit count (12 bytes); libvfio-user's server reads exactly 16
     * (address and a 64-bit count) and fails on less, so we send 16, whose first 12 bytes are the
     * spec's fields with the spec's values.
     */
    static final class DmaAccess {
        static final int ADDRESS = 0;
        static final int COUNT = 8;
        static final int DATA = 16;
        static final int SIZEOF = 16;
        static final int WRITE_REPLY_SIZEOF = 16;
        static final int SPEC_WRITE_REPLY_SIZEOF = 12;
    }

    /** VFIO_USER_DEVICE_FEATURE: argsz, flags (feature index in bits 0-15, GET/SET/PROBE above), then data. */
    static final class DeviceFeature {
        static final int ARGSZ = 0;
        static final int FLAGS = 4;
        static final int SIZEOF = 8;
        static final int INDEX_MASK = 0xFFFF;
    }
}
