package io.jvfio.irq;

/**
 * Which thread delivers an interrupt the poller read from a device's eventfd. The default
 * ({@link InterruptRouterConfig#DEFAULT}) is {@link #POLLER}, which {@code InterruptStormBenchmark}
 * measured ahead of the ring under storms as well as for a single interrupt.
 *
 * <ul>
 * <li>{@link #DISPATCHER}: the poller publishes it into the Disruptor ring and goes back to epoll at
 *     once; the dispatcher thread delivers (the route's decision, then the sink: the virtual APIC, or
 *     KVM_SIGNAL_MSI). Reading and delivering overlap on two threads, at the cost of a hand-off.</li>
 * <li>{@link #POLLER}: the poller delivers it itself, one thread and no hand-off; a slow delivery
 *     holds up the reading of the next eventfd. No ring is built and no dispatcher thread started: the
 *     ring size and the wait strategy of the configuration are then unused.</li>
 * </ul>
 * {@code InterruptLatencyBenchmark} measures the two side by side.
 */
public enum DeliveryThread {
    DISPATCHER,
    POLLER
}
