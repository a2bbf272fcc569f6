package io.jvfio.vfio.emulated.host;

import io.jvfio.vfio.VfioIrq;

import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.user.protocol.VfioUserVersion;
import io.jvfio.vfio.user.transport.ConnectionLimits;
import java.util.List;

/**
 * What a served device reaches while it is attached: its interrupts as SET_IRQS left them and the
 * DMA windows it was given. A vfio-user server session keeps one per client; an in-process back end
 * keeps one for its VMM. {@code viaMessages} reaches memory that came without an fd.
 */
public final class DeviceContext implements EmulatedDevice.Context {

    public final DeviceIrqs irqs;
    public final DeviceDma dma;
    private final DeviceDma.Messages viaMessages;
    /** The DMA write log while DMA logging is on, else null. */
    private volatile DmaDirtyLog dirtyLog;

    /**
     * {@code maxDmaMapped}: the bytes of DMA windows that may be mmap'd at once (see {@link DeviceDma}):
     * a server's {@link ConnectionLimits#maxDmaMapped}, or {@link DeviceDma#UNBOUNDED} for a VMM's own.
     * {@code peerEventFds}: the interrupt eventfds come from a vfio-user client (see {@link DeviceIrqs}).
     */
    public DeviceContext(String name, List<VfioIrq> irqInfo, boolean peerEventFds, DeviceDma.Messages viaMessages,
                  long maxDmaMapped) {
        this.irqs = new DeviceIrqs(name, peerEventFds, irqInfo);
        this.dma = new DeviceDma(VfioUserVersion.CAPABILITIES.maxDmaMaps(), maxDmaMapped);
        this.viaMessages = viaMessages;
    }

    @Override
    public void raise(int index, int vector) {
        irqs.raise(index, vector);
    }

    @Override
    public boolean pending(int index, int vector) {
        return irqs.pending(index, vector);
    }

    @Override
    public void lower(int index, int vector) {
        irqs.lower(index, vector);
    }

    @Override
    public boolean enabled(int index) {
        return irqs.enabled(index);
    }

    @Override
    public void dmaRead(long address, byte[] dst, int offset, int length) {
        dma.read(address, dst, offset, length, viaMessages);
    }

    @Override
    public void dmaWrite(long address, byte[] src, int offset, int length) {
        dma.write(address, src, offset, length, viaMessages);
        DmaDirtyLog log = dirtyLog;
        if (log != null) {
            log.written(address, length);
        }
    }

    /** Logs the device's DMA writes into {@code log} from now on (null: no longer). */
    public void logDmaWrites(DmaDirtyLog log) {
        this.dirtyLog = log;
    }

    /** The client (or the VMM) is gone: every eventfd closed, every window unmapped. */
    public void clear() {
        irqs.clear();
        dma.close();
    }
}
