package io.jvfio.irq;

/**
 * One entry of the ring: which route's eventfd was read, the count read (several interrupts may
 * have coalesced in the kernel counter) and when. Entries are allocated once with the ring and
 * reused, so publishing allocates nothing.
 */
final class InterruptEvent {

    int routeId;
    int generation;
    long count;
    long readNanos;

    void set(int routeId, int generation, long count, long readNanos) {
        this.routeId = routeId;
        this.generation = generation;
        this.count = count;
        this.readNanos = readNanos;
    }
}
