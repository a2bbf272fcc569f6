package io.jvfio.vfio.passthrough;

import io.jvfio.vfio.RegionCapability;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vfio.VfioDeviceLayout;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.MemoryMapping;

import java.util.ArrayList;
import java.util.List;

/**
 * A real back end with a log of the interrupt requests the model makes of it: every call is passed
 * on unchanged (the device still gets each VFIO_DEVICE_SET_IRQS), and the SET_IRQS that set triggers
 * or disable an index are written down, so a test can say which the device received. Not a test
 * double: nothing is answered here.
 */
final class RecordingBackend implements VfioBackend {

    private final VfioBackend backend;
    private final List<String> irqRequests = new ArrayList<>();

    RecordingBackend(VfioBackend backend) {
        this.backend = backend;
    }

    /**
     * The SET_IRQS for interrupt index {@code index} so far, as "MSI-X 0+1 [0]" (start+count, then the
     * vectors given an eventfd) or "MSI-X off".
     */
    synchronized List<String> irqRequests(int index) {
        String prefix = irq(index).name() + " ";
        return irqRequests.stream().filter(r -> r.startsWith(prefix)).toList();
    }


    @Override
    public void setIrqTriggers(int index, int start, EventFd[] eventfds) {
        List<Integer> assigned = new ArrayList<>();
        for (int i = 0; i < eventfds.length; i++) {
            if (eventfds[i] != null) {
                assigned.add(start + i);
            }
        }
        synchronized (this) {
            irqRequests.add(irq(index).name() + " " + start + "+" + eventfds.length + " " + assigned);
        }
        backend.setIrqTriggers(index, start, eventfds);
    }

    @Override
    public void disableIrq(int index) {
        synchronized (this) {
            irqRequests.add(irq(index).name() + " off");
        }
        backend.disableIrq(index);
    }

    @Override
    public String name() {
        return backend.name();
    }

    @Override
    public boolean supportsReset() {
        return backend.supportsReset();
    }

    @Override
    public VfioDeviceLayout layout() {
        return backend.layout();
    }

    @Override
    public long read(int region, long offset, int size) {
        return backend.read(region, offset, size);
    }

    @Override
    public void write(int region, long offset, int size, long value) {
        backend.write(region, offset, size, value);
    }

    @Override
    public long read(int region, long offset, long address, long length) {
        return backend.read(region, offset, address, length);
    }

    @Override
    public long write(int region, long offset, long address, long length) {
        return backend.write(region, offset, address, length);
    }

    @Override
    public MemoryMapping mmap(int region, RegionCapability.Area area) {
        return backend.mmap(region, area);
    }

    @Override
    public void maskIrq(int index, int vector) {
        backend.maskIrq(index, vector);
    }

    @Override
    public void unmaskIrq(int index, int vector) {
        backend.unmaskIrq(index, vector);
    }

    @Override
    public void setUnmaskEventFd(int index, EventFd unmask) {
        backend.setUnmaskEventFd(index, unmask);
    }

    @Override
    public void reset() {
        backend.reset();
    }

    @Override
    public void close() {
        backend.close();
    }
}
