package io.jvfio.irq;

/**
 * Where interrupt messages end up: the {@link VirtualInterruptController} (a model of x86 local
 * APICs), or KVM ({@code KVM_SIGNAL_MSI}). Called on the delivering thread (the poller, or the ring's dispatcher); it must not block for
 * long and must not throw for a message it cannot deliver: it says why instead.
 */
public interface InterruptSink {

    /** Delivers one MSI (also how an IOAPIC entry for INTx is sent). */
    DeliveryStatus deliverMsi(long address, int data);

    /**
     * Registers for end-of-interrupt of level-triggered vectors, which is how an INTx line is
     * resampled. Sinks that resample in the kernel (KVM irqfd with a resamplefd) need not call it.
     */
    default void addEoiListener(EoiListener listener) {
    }

    /** Told when the guest ends a level-triggered interrupt. */
    @FunctionalInterface
    interface EoiListener {
        void endOfInterrupt(int vector);
    }
}
