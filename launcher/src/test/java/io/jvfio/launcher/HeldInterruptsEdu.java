package io.jvfio.launcher;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.emulated.EmulatedDevice;
import io.jvfio.vfio.devices.EduDevice;
import io.netty.buffer.ByteBuf;

import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The edu device with its interrupts held back: every raise is counted and dropped, so a driver
 * that waits for one keeps waiting (a guest driver polls in KVM_RUN, the host driver in Java) for
 * as long as its bound. A test learns from {@link #held} that a run has reached that wait.
 */
final class HeldInterruptsEdu implements EmulatedDevice, AutoCloseable {

    final EduDevice edu = new EduDevice();
    final CountDownLatch held = new CountDownLatch(1);

    @Override
    public int flags() {
        return edu.flags();
    }

    @Override
    public List<Region> regions() {
        return edu.regions();
    }

    @Override
    public List<VfioIrq> irqs() {
        return edu.irqs();
    }

    @Override
    public void read(int region, long offset, ByteBuf dst, int count) {
        edu.read(region, offset, dst, count);
    }

    @Override
    public void write(int region, long offset, ByteBuf src, int count) {
        edu.write(region, offset, src, count);
    }

    @Override
    public void reset() {
        edu.reset();
    }

    @Override
    public void attach(Context context) {
        edu.attach(new Context() {
            @Override
            public void raise(int index, int vector) {
                held.countDown();
            }

            @Override
            public boolean pending(int index, int vector) {
                return context.pending(index, vector);
            }

            @Override
            public void lower(int index, int vector) {
                context.lower(index, vector);
            }

            @Override
            public boolean enabled(int index) {
                return context.enabled(index);
            }

            @Override
            public void dmaRead(long address, byte[] dst, int offset, int length) {
                context.dmaRead(address, dst, offset, length);
            }

            @Override
            public void dmaWrite(long address, byte[] src, int offset, int length) {
                context.dmaWrite(address, src, offset, length);
            }
        });
    }

    @Override
    public void detach() {
        edu.detach();
    }

    @Override
    public void close() {
        edu.close();
    }

    @Override
    public String toString() {
        return edu + " with its interrupts held";
    }
}
