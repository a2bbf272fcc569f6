package io.jvfio.launcher;

import io.jvfio.vfio.emulated.ForwardingDevice;
import io.jvfio.vfio.devices.EduDevice;

import java.util.concurrent.CountDownLatch;

/**
 * The edu device with its interrupts held back: every raise is counted and dropped, so a driver
 * that waits for one keeps waiting (a guest driver polls in KVM_RUN, the host driver in Java) for
 * as long as its bound. A test learns from {@link #held} that a run has reached that wait.
 */
final class HeldInterruptsEdu extends ForwardingDevice implements AutoCloseable {

    final EduDevice edu;
    final CountDownLatch held = new CountDownLatch(1);

    HeldInterruptsEdu() {
        this(new EduDevice());
    }

    private HeldInterruptsEdu(EduDevice edu) {
        super(edu);
        this.edu = edu;
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
    public void close() {
        edu.close();
    }

    @Override
    public String toString() {
        return edu + " with its interrupts held";
    }
}
