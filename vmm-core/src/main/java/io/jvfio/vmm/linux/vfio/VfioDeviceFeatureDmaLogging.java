package io.jvfio.vmm.linux.vfio;

import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * The payloads of the device's own DMA dirty tracking (VFIO_DEVICE_FEATURE_DMA_LOGGING_START, _STOP,
 * _REPORT): {@code struct vfio_device_feature_dma_logging_control} (START: a page size, which the
 * driver may raise, and a user pointer to {@code num_ranges} {@code struct
 * vfio_device_feature_dma_logging_range}s, IOVA ranges that must not overlap), and {@code struct
 * vfio_device_feature_dma_logging_report} (REPORT, a GET: the range's bitmap written to the user
 * pointer {@code bitmap} and cleared in the device, one bit a page of {@code page_size}).
 */
public final class VfioDeviceFeatureDmaLogging {

    public static final int CONTROL_PAGE_SIZE = 0;
    public static final int CONTROL_NUM_RANGES = 8;
    public static final int CONTROL_RESERVED = 12;
    public static final int CONTROL_RANGES = 16;
    public static final int CONTROL_SIZEOF = 24;
    public static final StructLayout CONTROL_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_dma_logging_control", CONTROL_SIZEOF)
                    .field("page_size", CONTROL_PAGE_SIZE, 8)
                    .field("num_ranges", CONTROL_NUM_RANGES, 4)
                    .field("__reserved", CONTROL_RESERVED, 4)
                    .field("ranges", CONTROL_RANGES, 8)
                    .build();

    public static final int RANGE_IOVA = 0;
    public static final int RANGE_LENGTH = 8;
    public static final int RANGE_SIZEOF = 16;
    public static final StructLayout RANGE_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_dma_logging_range", RANGE_SIZEOF)
                    .field("iova", RANGE_IOVA, 8)
                    .field("length", RANGE_LENGTH, 8)
                    .build();

    public static final int REPORT_IOVA = 0;
    public static final int REPORT_LENGTH = 8;
    public static final int REPORT_PAGE_SIZE = 16;
    public static final int REPORT_BITMAP = 24;
    public static final int REPORT_SIZEOF = 32;
    public static final StructLayout REPORT_LAYOUT =
            StructLayout.of("linux/vfio.h", "vfio_device_feature_dma_logging_report", REPORT_SIZEOF)
                    .field("iova", REPORT_IOVA, 8)
                    .field("length", REPORT_LENGTH, 8)
                    .field("page_size", REPORT_PAGE_SIZE, 8)
                    .field("bitmap", REPORT_BITMAP, 8)
                    .build();

    private VfioDeviceFeatureDmaLogging() {
    }
}
