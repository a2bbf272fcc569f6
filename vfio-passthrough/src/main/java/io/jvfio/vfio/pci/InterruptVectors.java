package io.jvfio.vfio.pci;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.linux.EventFd;

import java.util.function.IntFunction;
import java.util.function.IntPredicate;

/**
 * The enabled vectors of MSI or MSI-X: for each, the eventfd the device signals and the route in
 * irq-routing that carries the guest's message, created, handed to the device and released together.
 */
final class InterruptVectors {

    private final InterruptRouter router;
    private final EventFd[] eventfds;
    private final InterruptRoute[] routes;

    private InterruptVectors(InterruptRouter router, int count) {
        this.router = router;
        this.eventfds = new EventFd[count];
        this.routes = new InterruptRoute[count];
    }

    /**
     * {@code count} vectors, each with its eventfd and route, then given to the device's interrupt
     * index {@code index} (VFIO_DEVICE_SET_IRQS or DEVICE_SET_IRQS). Nothing is left behind if a step fails.
     */
    static InterruptVectors enable(String name, RouteKind kind, int count, IntFunction<MsiMessage> message,
                                   IntPredicate masked, InterruptRouter router, boolean bypassAllowed,
                                   VfioBackend backend, int index) {
        InterruptVectors v = new InterruptVectors(router, count);
        try {
            for (int i = 0; i < count; i++) {
                String what = name + " " + (kind == RouteKind.MSIX ? "MSI-X " : "MSI ") + i;
                v.eventfds[i] = new EventFd(what);
                v.routes[i] = router.addMsi(what, kind, v.eventfds[i], message.apply(i), masked.test(i),
                        bypassAllowed);
            }
            backend.enableIrq(index, v.eventfds);
        } catch (RuntimeException e) {
            v.release();
            throw e;
        }
        return v;
    }

    int count() {
        return routes.length;
    }

    InterruptRoute route(int vector) {
        return routes[vector];
    }

    InterruptRoute[] routes() {
        return routes.clone();
    }

    /** Routes out of the table, eventfds closed (the device's index must be disabled first). */
    void release() {
        for (int i = 0; i < routes.length; i++) {
            if (routes[i] != null) {
                router.remove(routes[i]);
            }
            if (eventfds[i] != null) {
                eventfds[i].close();
            }
        }
    }
}
