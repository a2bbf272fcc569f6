package io.jvfio.irq;

/**
 * One route's counters at a moment. The interrupts its eventfd carried all end up in exactly one of
 * {@code delivered}, {@code undeliverable} or {@code pendingCount}: nothing is dropped.
 *
 * @param delivered     interrupts (eventfd increments) that reached the sink
 * @param coalesced     of those, how many arrived merged with another into one message
 * @param maskedPending interrupts that arrived while the route was masked (now delivered or still pending)
 * @param undeliverable interrupts the sink refused (bad address, reserved vector, no destination, unprogrammed)
 * @param messages      messages sent to the sink
 * @param pending       the pending bit (what the MSI-X PBA shows)
 * @param pendingCount  interrupts held by the pending bit
 * @param latencyCount  deliveries timed from eventfd read to delivery
 * @param latencyP50Nanos median of those times
 * @param latencyP99Nanos 99th percentile
 * @param latencyMaxNanos maximum
 */
public record RouteStats(String name, RouteKind kind, long delivered, long coalesced, long maskedPending,
                         long undeliverable, long messages, boolean pending, long pendingCount, long latencyCount,
                         long latencyP50Nanos, long latencyP99Nanos, long latencyMaxNanos) {
}
