package io.jvfio.irq;

/**
 * Told of the routes of an {@link InterruptRouter} as they come and go: a route added (a vector the guest
 * enabled, an INTx line wired) and a route removed (MSI-X disabled, the device closed). Called with the
 * router's lock held, in the order the table changed, on the thread that changed it: a listener does
 * little (registers a name, say) and never calls back into the router.
 */
public interface RouteListener {

    /** {@code route} is in the table and attached. */
    void routeAdded(InterruptRoute route);

    /** {@code route} has left the table; its counters stay readable. */
    void routeRemoved(InterruptRoute route);
}
