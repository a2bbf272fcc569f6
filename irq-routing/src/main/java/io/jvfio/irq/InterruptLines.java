package io.jvfio.irq;

/**
 * Level-triggered interrupt inputs, numbered by GSI: the pins of an interrupt controller (an IOAPIC)
 * that PCI INTx lines are wired to. A line stays asserted until it is deasserted; when the guest ends
 * the interrupt an asserted line raised (the EOI of a level-triggered entry), the line's resamplers
 * are told, so the source can deassert it and re-arm (as KVM's resampling irqfd does for VFIO INTx).
 */
public interface InterruptLines {

    /** How many lines there are: GSIs 0 to {@code lines() - 1}. */
    int lines();

    /** Raises line {@code gsi}; it stays up until {@link #deassertLine}. */
    void assertLine(int gsi);

    /** Lowers line {@code gsi}. */
    void deassertLine(int gsi);

    /**
     * Registers {@code resampler}, run on the thread that ends the interrupt of line {@code gsi}, after
     * the controller has cleared its remote IRR and outside its lock (it may deassert the line).
     */
    void addResampler(int gsi, Runnable resampler);

    void removeResampler(int gsi, Runnable resampler);
}
