package io.jvfio.irq;

import com.lmax.disruptor.EventHandler;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The ring's consumer: looks up each event's route and lets it deliver. One thread, no allocation:
 * the route decides (masked, INTx asserted, deliver) under its own lock.
 */
final class InterruptDispatcher implements EventHandler<InterruptEvent> {

    private final AtomicReferenceArray<InterruptRoute> routes;
    private volatile long removedRouteInterrupts;

    InterruptDispatcher(AtomicReferenceArray<InterruptRoute> routes) {
        this.routes = routes;
    }

    @Override
    public void onEvent(InterruptEvent event, long sequence, boolean endOfBatch) {
        InterruptRoute route = routes.get(event.routeId);
        if (route == null || route.generation() != event.generation) {
            // Read from an eventfd whose route was removed before the event got here.
            removedRouteInterrupts += event.count;
            return;
        }
        route.signal(event.count, event.readNanos);
    }

    /** Interrupts read for routes that were removed before they could be delivered. */
    long removedRouteInterrupts() {
        return removedRouteInterrupts;
    }
}
