package io.jvfio.vfio.user.server;

import io.jvfio.vfio.emulated.host.DeviceContext;
import io.jvfio.vfio.emulated.host.DmaDirtyLog;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vfio.user.protocol.VfioUserMessage;
import io.jvfio.vfio.user.protocol.VfioUserMessages;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.DeviceFeature;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vmm.linux.Errno;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.util.ArrayList;
import java.util.List;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_PROBE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;

/**
 * A served device's DMA logging, as one client drives it (VFIO_USER_DEVICE_FEATURE with
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_START and _STOP, SET, and _REPORT, GET): the pages the device wrote
 * through the session's {@link DeviceContext}, in a {@link DmaDirtyLog}. Offered with migration.
 *
 * <p>Errors: the spec names none. As the kernel's vfio_ioctl_device_feature_logging_start and _report:
 * more than {@link #MAX_RANGES} ranges is E2BIG; a page size that is not a power of two, ranges that
 * wrap or overlap, starting twice, a report while logging is off or outside the logged ranges, or an
 * argsz without room for the bitmap are EINVAL. A hinted page size below 4 KiB is raised to 4 KiB and
 * the reply says so (the spec: "the response ... will reflect" a changed page size).
 */
final class ServerDmaLogging {

    /** The kernel's LOG_MAX_RANGES (drivers/vfio/vfio_main.c). */
    static final int MAX_RANGES = 256;
    private static final long MIN_PAGE_SIZE = 4096;
    /** page_size, num_ranges, reserved; then the ranges (iova, length). */
    private static final int CONTROL_SIZEOF = 16;
    private static final int RANGE_SIZEOF = 16;
    /** iova, length, page_size; then the bitmap. */
    private static final int REPORT_SIZEOF = 24;

    private final DeviceContext context;
    private DmaDirtyLog log;

    ServerDmaLogging(DeviceContext context) {
        this.context = context;
    }

    static boolean handles(int feature) {
        return feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_START || feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP
                || feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
    }

    /** A DEVICE_FEATURE request for one of the DMA logging features: the reply, or a VfioUserException. */
    ByteBuf feature(VfioUserMessage m, ByteBufAllocator alloc) {
        int flags = m.payloadInt(DeviceFeature.FLAGS);
        int feature = flags & VFIO_DEVICE_FEATURE_MASK;
        int ops = flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET);
        int supported = feature == VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT ? VFIO_DEVICE_FEATURE_GET
                : VFIO_DEVICE_FEATURE_SET;
        if ((ops & ~supported) != 0) {
            throw new VfioUserException(Errno.EINVAL, "DMA logging feature " + feature + " takes "
                    + (supported == VFIO_DEVICE_FEATURE_GET ? "GET" : "SET") + " only");
        }
        if ((flags & VFIO_DEVICE_FEATURE_PROBE) != 0) {
            ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), m.payloadSize());
            m.payloadBytes(0, r, m.payloadSize());
            return r;
        }
        if (ops == 0) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE names neither GET, SET nor PROBE");
        }
        return switch (feature) {
            case VFIO_DEVICE_FEATURE_DMA_LOGGING_START -> start(m, alloc);
            case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP -> stop(m, alloc);
            default -> report(m, alloc);
        };
    }

    private ByteBuf start(VfioUserMessage m, ByteBufAllocator alloc) {
        need(m, DeviceFeature.DATA + CONTROL_SIZEOF);
        if (log != null) {
            throw new VfioUserException(Errno.EINVAL, "DMA logging is already started: stop it first");
        }
        long pageSize = m.payloadLong(DeviceFeature.DATA);
        long count = m.payloadU32(DeviceFeature.DATA + 8);
        if (count > MAX_RANGES) {
            throw new VfioUserException(Errno.E2BIG, "DMA logging of " + count + " ranges; at most " + MAX_RANGES);
        }
        if (Long.bitCount(pageSize) != 1) {
            throw new VfioUserException(Errno.EINVAL, "a DMA logging page size is a power of two, not " + pageSize);
        }
        need(m, DeviceFeature.DATA + CONTROL_SIZEOF + (int) count * RANGE_SIZEOF);
        List<DmaDirtyLog.Range> ranges = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int at = DeviceFeature.DATA + CONTROL_SIZEOF + i * RANGE_SIZEOF;
            long iova = m.payloadLong(at);
            long length = m.payloadLong(at + 8);
            if (length <= 0 || iova < 0 || iova + length < 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA logging range 0x" + Long.toHexString(iova) + "+0x"
                        + Long.toHexString(length) + " is empty or reaches beyond 2^63");
            }
            for (DmaDirtyLog.Range r : ranges) {
                if (iova < r.iova() + r.length() && r.iova() < iova + length) {
                    throw new VfioUserException(Errno.EINVAL, "DMA logging ranges overlap at 0x" + Long.toHexString(iova));
                }
            }
            ranges.add(new DmaDirtyLog.Range(iova, length));
        }
        long chosen = Math.max(pageSize, MIN_PAGE_SIZE);
        log = new DmaDirtyLog(chosen, ranges);
        context.logDmaWrites(log);
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), m.payloadSize());
        m.payloadBytes(0, r, m.payloadSize());
        r.setLongLE(r.writerIndex() - m.payloadSize() + DeviceFeature.DATA, chosen); // the page size chosen
        return r;
    }

    private ByteBuf stop(VfioUserMessage m, ByteBufAllocator alloc) {
        stop();
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), m.payloadSize());
        m.payloadBytes(0, r, m.payloadSize());
        return r;
    }

    /** Logging off (also when the client leaves). */
    void stop() {
        context.logDmaWrites(null);
        log = null;
    }

    private ByteBuf report(VfioUserMessage m, ByteBufAllocator alloc) {
        need(m, DeviceFeature.DATA + REPORT_SIZEOF);
        if (log == null) {
            throw new VfioUserException(Errno.EINVAL, "a DMA logging report while logging is off: start it first");
        }
        long argsz = m.payloadU32(DeviceFeature.ARGSZ);
        long iova = m.payloadLong(DeviceFeature.DATA);
        long length = m.payloadLong(DeviceFeature.DATA + 8);
        long pageSize = m.payloadLong(DeviceFeature.DATA + 16);
        if (Long.bitCount(pageSize) != 1 || length <= 0 || iova < 0 || iova + length < 0) {
            throw new VfioUserException(Errno.EINVAL, "a DMA logging report of 0x" + Long.toHexString(iova) + "+0x"
                    + Long.toHexString(length) + " in pages of " + pageSize + ": the range must be non-empty and the "
                    + "page size a power of two");
        }
        if (!log.covers(iova, length)) {
            throw new VfioUserException(Errno.EINVAL, "a DMA logging report of 0x" + Long.toHexString(iova) + "+0x"
                    + Long.toHexString(length) + " reaches outside the ranges logged");
        }
        long pages = (length - 1) / pageSize + 1;
        long bitmapBytes = (pages + 63) / 64 * 8;
        if (bitmapBytes > VfioUserVersion.CAPABILITIES.maxDataXferSize()) {
            throw new VfioUserException(Errno.EINVAL, "a DMA logging report's bitmap of " + bitmapBytes + " bytes exceeds "
                    + "max_data_xfer_size " + VfioUserVersion.CAPABILITIES.maxDataXferSize() + ": report smaller ranges");
        }
        int size = DeviceFeature.SIZEOF + REPORT_SIZEOF + (int) bitmapBytes;
        if (argsz < size) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE argsz " + argsz + " has no room for the " + bitmapBytes
                    + " bytes of the bitmap (" + size + " needed)");
        }
        long[] bitmap = new long[(int) (bitmapBytes / 8)];
        log.report(iova, length, pageSize, bitmap);
        ByteBuf r = VfioUserMessages.reply(alloc, m.id(), m.commandNumber(), size);
        r.writeIntLE(size);
        r.writeIntLE(m.payloadInt(DeviceFeature.FLAGS));
        r.writeLongLE(iova);
        r.writeLongLE(length);
        r.writeLongLE(pageSize);
        for (long w : bitmap) {
            r.writeLongLE(w);
        }
        return r;
    }

    private static void need(VfioUserMessage m, int bytes) {
        if (m.payloadSize() < bytes) {
            throw new VfioUserException(Errno.EINVAL, "DEVICE_FEATURE for DMA logging needs " + bytes
                    + " bytes of payload, got " + m.payloadSize());
        }
    }
}
