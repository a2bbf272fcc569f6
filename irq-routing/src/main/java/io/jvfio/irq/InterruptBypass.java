package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;

/**
 * A way for a device's interrupts to reach the guest without passing through user space: KVM's
 * irqfd, which binds an eventfd to a GSI routed to the MSI message, so the kernel injects the
 * interrupt when the device signals. A route uses it while it is unmasked and programmed; masking
 * switches the device back to the route's trigger, which the route reads, holding interrupts as
 * pending (as QEMU does), so the pending bit a PBA shows stays true. See {@link DeviceTrigger}.
 */
public interface InterruptBypass {

    /** One eventfd bound in the kernel. */
    interface Binding {
        /** The guest reprogrammed the message. */
        void update(MsiMessage message);

        /** Unbinds: from now on the eventfd's signals stay in its counter. */
        void unbind();
    }

    /** Binds {@code trigger} to {@code message}; throws if it cannot (the route then stays in user space). */
    Binding bind(EventFd trigger, MsiMessage message);

    /**
     * Binds a level-triggered line (INTx): a signal of {@code trigger} asserts interrupt line
     * {@code gsi}; when the guest ends the interrupt (the EOI of its level-triggered IOAPIC entry) the
     * line is deasserted and {@code resample} signalled, which re-arms VFIO's masked INTx. Throws if it
     * cannot. A line binding is never {@link Binding#update updated}: its GSI is its identity.
     */
    Binding bindLine(EventFd trigger, EventFd resample, int gsi);
}
