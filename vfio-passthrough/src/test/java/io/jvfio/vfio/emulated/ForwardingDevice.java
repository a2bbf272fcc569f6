package io.jvfio.vfio.emulated;

import io.jvfio.vfio.VfioIrq;
import io.netty.buffer.ByteBuf;

import java.util.List;

/**
 * A device that passes everything to another one: a test overrides only what it changes (a region it
 * describes differently, an access it delays or alters, the interrupts it holds back) and the rest
 * stays the real device's.
 */
public abstract class ForwardingDevice implements EmulatedDevice {

    private final EmulatedDevice delegate;

    protected ForwardingDevice(EmulatedDevice delegate) {
        this.delegate = delegate;
    }

    /** The device everything else goes to. */
    protected EmulatedDevice delegate() {
        return delegate;
    }

    @Override
    public int flags() {
        return delegate.flags();
    }

    @Override
    public List<Region> regions() {
        return delegate.regions();
    }

    @Override
    public List<VfioIrq> irqs() {
        return delegate.irqs();
    }

    @Override
    public void read(int region, long offset, ByteBuf dst, int count) {
        delegate.read(region, offset, dst, count);
    }

    @Override
    public void write(int region, long offset, ByteBuf src, int count) {
        delegate.write(region, offset, src, count);
    }

    @Override
    public void reset() {
        delegate.reset();
    }

    @Override
    public void attach(Context context) {
        delegate.attach(context);
    }

    @Override
    public void detach() {
        delegate.detach();
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}
