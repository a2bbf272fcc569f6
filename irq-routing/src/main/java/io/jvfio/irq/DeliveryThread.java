package io.jvfio.irq;

/**
 * Which thread delivers an interrupt the poller read from a device's eventfd.
 *
 * <ul>
 * <li>{@link #DISPATCHER}: the poller publishes it into the Disruptor ring and goes back to epoll at
 *     once; the dispatcher thread delivers (the route's decision, then the sink: the virtual APIC, or
 *     KVM_SIGNAL_MSI). Reading and delivering overlap on two threads, at the cost of a hand-off.</li>
 * <li>{@link #POLLER}: the poller delivers it itself, one thread and no hand-off; a slow delivery
 *     holds up the reading of the next eventfd. The ring is then unused (its dispatcher blocks, whatever
 *     wait strategy is configured, so that nothing spins).</li>
 * </ul>
 * {@code InterruptLatencyBenchmark} measures the two side by side.
 */
public enum DeliveryThread {
    DISPATCHER,
    POLLER
}
