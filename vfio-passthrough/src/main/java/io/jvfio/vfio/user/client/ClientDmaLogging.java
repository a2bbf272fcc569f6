package io.jvfio.vfio.user.client;

import io.jvfio.vfio.user.client.ClientSession.Reply;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserPayloads.DeviceFeature;
import io.netty.buffer.ByteBuf;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_GET;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_DEVICE_FEATURE_SET;

/**
 * A vfio-user device's own DMA dirty logging ({@link VfioUserClient#dmaLogging()}), the counterpart
 * of kernel VFIO's VfioDmaLogging: VFIO_DEVICE_FEATURE_DMA_LOGGING_START over IOVA ranges, _REPORT of
 * the pages the device wrote since the last report (read and cleared), _STOP, over
 * VFIO_USER_DEVICE_FEATURE. A server without it answers ENOTTY, which fails {@link #start}.
 */
public final class ClientDmaLogging {

    private final ClientSession session;

    ClientDmaLogging(ClientSession session) {
        this.session = session;
    }

    /**
     * Starts logging the device's DMA writes in pages of {@code pageSize} (a hint: the page size the
     * server chose is returned) to the ranges given as IOVA and length pairs (none: every write).
     */
    public long start(long pageSize, long... iovaLengthPairs) {
        if (iovaLengthPairs.length % 2 != 0) {
            throw new IllegalArgumentException("DMA logging ranges are IOVA and length pairs, got "
                    + iovaLengthPairs.length + " numbers");
        }
        int ranges = iovaLengthPairs.length / 2;
        int payload = DeviceFeature.SIZEOF + 16 + ranges * 16;
        Reply r = session.request(VfioUserCommand.DEVICE_FEATURE, payload, null, 0, b -> {
            b.writeIntLE(payload);
            b.writeIntLE(VFIO_DEVICE_FEATURE_DMA_LOGGING_START | VFIO_DEVICE_FEATURE_SET);
            b.writeLongLE(pageSize);
            b.writeIntLE(ranges);
            b.writeIntLE(0);
            for (long v : iovaLengthPairs) {
                b.writeLongLE(v);
            }
        });
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < DeviceFeature.SIZEOF + 8) {
                throw session.protocol("its DMA_LOGGING_START reply has " + p.readableBytes() + " bytes, without the "
                        + "page size");
            }
            return p.getLongLE(DeviceFeature.DATA);
        } finally {
            r.release();
        }
    }

    /** VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP. */
    public void stop() {
        session.request(VfioUserCommand.DEVICE_FEATURE, DeviceFeature.SIZEOF, null, 0, b -> {
            b.writeIntLE(DeviceFeature.SIZEOF);
            b.writeIntLE(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP | VFIO_DEVICE_FEATURE_SET);
        }).release();
    }

    /**
     * VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT: the pages of {@code [iova, iova + length)} the device wrote
     * since the last report, one bit a page of {@code pageSize} (bit i of word i / 64 for page i),
     * cleared in the device as they are read.
     */
    public long[] report(long iova, long length, long pageSize) {
        long pages = (length + pageSize - 1) / pageSize;
        int words = (int) ((pages + 63) / 64);
        int argsz = DeviceFeature.SIZEOF + 24 + words * 8;
        Reply r = session.request(VfioUserCommand.DEVICE_FEATURE, DeviceFeature.SIZEOF + 24, null, 0, b -> {
            b.writeIntLE(argsz);
            b.writeIntLE(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT | VFIO_DEVICE_FEATURE_GET);
            b.writeLongLE(iova);
            b.writeLongLE(length);
            b.writeLongLE(pageSize);
        });
        try {
            ByteBuf p = r.payload();
            if (p.readableBytes() < argsz) {
                throw session.protocol("its DMA_LOGGING_REPORT reply has " + p.readableBytes() + " bytes, not the "
                        + argsz + " of the report and its bitmap");
            }
            long[] bitmap = new long[words];
            for (int i = 0; i < words; i++) {
                bitmap[i] = p.getLongLE(DeviceFeature.SIZEOF + 24 + i * 8);
            }
            return bitmap;
        } finally {
            r.release();
        }
    }
}
