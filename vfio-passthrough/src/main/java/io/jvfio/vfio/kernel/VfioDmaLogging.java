package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.ioctl.Ioctl;
import io.jvfio.vmm.linux.jna.DirectBuffers;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeature;
import io.jvfio.vmm.linux.vfio.VfioDeviceFeatureDmaLogging;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_PROBE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;
import static io.jvfio.vmm.linux.vfio.VfioIoctls.VFIO_DEVICE_FEATURE;

/**
 * A kernel VFIO device's own DMA dirty logging ({@link VfioDevice#dmaLogging()}):
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_START over IOVA ranges, _REPORT of the pages the device wrote since
 * the last report (read and cleared), _STOP. The kernel keeps it apart from migration (a driver's
 * log_ops, not its mig_ops); a driver without it answers ENOTTY, and then the IOMMU's dirty tracking
 * (Type1's {@link VfioContainer#dirtyPagesStart}) is what is left.
 */
public final class VfioDmaLogging {

    /** An IOVA range to log. */
    public record Range(long iova, long length) {
    }

    private final OwnedFd fd;
    private final String name;
    private final VfioDeviceFeature feature = new VfioDeviceFeature(VfioDeviceFeatureDmaLogging.REPORT_SIZEOF);

    private VfioDmaLogging(OwnedFd fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /**
     * Asks the driver (VFIO_DEVICE_FEATURE_DMA_LOGGING_START with PROBE); a driver without DMA logging
     * is refused with the device's name and the kernel's answer.
     */
    static VfioDmaLogging probe(OwnedFd fd, String name) {
        VfioDmaLogging logging = new VfioDmaLogging(fd, name);
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, logging.feature.request(VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
                    VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE, 0));
        } catch (SyscallException e) {
            throw new VfioException(name + " has no DMA logging of its own: VFIO_DEVICE_FEATURE_DMA_LOGGING_START "
                    + "answers " + Errno.describe(e.errnoValue()) + (e.is(Errno.ENOTTY) ? " (its VFIO driver has no "
                    + "dirty logging); track its DMA with the IOMMU's dirty pages instead (Type1's VFIO_IOMMU_DIRTY_PAGES)"
                    : ""), e);
        }
        return logging;
    }

    /**
     * Starts logging the device's DMA writes to {@code ranges} (which must not overlap; each aligned
     * to {@code pageSize}) in pages of {@code pageSize}; returns the page size the driver chose (it may
     * raise it).
     */
    public synchronized long start(long pageSize, List<Range> ranges) {
        ByteBuffer table = ByteBuffer.allocateDirect(ranges.size() * VfioDeviceFeatureDmaLogging.RANGE_SIZEOF)
                .order(ByteOrder.nativeOrder());
        for (int i = 0; i < ranges.size(); i++) {
            int at = i * VfioDeviceFeatureDmaLogging.RANGE_SIZEOF;
            table.putLong(at + VfioDeviceFeatureDmaLogging.RANGE_IOVA, ranges.get(i).iova());
            table.putLong(at + VfioDeviceFeatureDmaLogging.RANGE_LENGTH, ranges.get(i).length());
        }
        feature.request(VFIO_DEVICE_FEATURE_DMA_LOGGING_START, VFIO_DEVICE_FEATURE_SET,
                        VfioDeviceFeatureDmaLogging.CONTROL_SIZEOF)
                .putPayloadU64(VfioDeviceFeatureDmaLogging.CONTROL_PAGE_SIZE, pageSize)
                .putPayloadU32(VfioDeviceFeatureDmaLogging.CONTROL_NUM_RANGES, ranges.size())
                .putPayloadU64(VfioDeviceFeatureDmaLogging.CONTROL_RANGES, ranges.isEmpty() ? 0 : DirectBuffers.address(table));
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature);
        } catch (SyscallException e) {
            throw new VfioException(name + ": VFIO_DEVICE_FEATURE_DMA_LOGGING_START for " + ranges + " in pages of "
                    + pageSize + " failed: " + Errno.describe(e.errnoValue()) + (e.is(Errno.ENOTTY) ? " (its driver has no "
                    + "DMA logging)" : e.is(Errno.EINVAL) ? " (no range, ranges that overlap or are not aligned to the "
                    + "page size, or logging already started)" : ""), e);
        } finally {
            Reference.reachabilityFence(table); // the kernel read it during the call
        }
        return feature.payloadU64(VfioDeviceFeatureDmaLogging.CONTROL_PAGE_SIZE);
    }

    /** VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP. */
    public synchronized void stop() {
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature.request(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
                    VFIO_DEVICE_FEATURE_SET, 0));
        } catch (SyscallException e) {
            throw new VfioException(name + ": VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP failed: "
                    + Errno.describe(e.errnoValue()), e);
        }
    }

    /**
     * VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT: the pages of {@code [iova, iova + length)} the device wrote
     * since the last report, one bit a page of {@code pageSize} (bit i of word i / 64 for page i), cleared
     * in the device as they are read.
     */
    public synchronized long[] report(long iova, long length, long pageSize) {
        long pages = (length + pageSize - 1) / pageSize;
        int words = (int) ((pages + 63) / 64);
        ByteBuffer bitmap = ByteBuffer.allocateDirect(words * 8).order(ByteOrder.nativeOrder());
        feature.request(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, VFIO_DEVICE_FEATURE_GET,
                        VfioDeviceFeatureDmaLogging.REPORT_SIZEOF)
                .putPayloadU64(VfioDeviceFeatureDmaLogging.REPORT_IOVA, iova)
                .putPayloadU64(VfioDeviceFeatureDmaLogging.REPORT_LENGTH, length)
                .putPayloadU64(VfioDeviceFeatureDmaLogging.REPORT_PAGE_SIZE, pageSize)
                .putPayloadU64(VfioDeviceFeatureDmaLogging.REPORT_BITMAP, DirectBuffers.address(bitmap));
        try {
            Ioctl.ioctl(fd, VFIO_DEVICE_FEATURE, feature);
        } catch (SyscallException e) {
            throw new VfioException(name + ": VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT for 0x" + Long.toHexString(iova)
                    + "+0x" + Long.toHexString(length) + " failed: " + Errno.describe(e.errnoValue()), e);
        } finally {
            Reference.reachabilityFence(bitmap);
        }
        long[] out = new long[words];
        bitmap.asLongBuffer().get(out);
        return out;
    }

    @Override
    public String toString() {
        return name + "'s DMA logging";
    }
}
