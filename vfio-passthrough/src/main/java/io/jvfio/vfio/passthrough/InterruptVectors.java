package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.irq.RouteKind;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.linux.EventFd;

import java.util.Arrays;
import java.util.BitSet;
import java.util.function.IntFunction;
import java.util.function.IntPredicate;

/**
 * The vectors of MSI or MSI-X the device signals: for each vector in use, the eventfd the device
 * signals and the route in irq-routing that carries the guest's message, created, handed to the
 * device and released together. MSI takes all its vectors at once; MSI-X takes them as the guest
 * unmasks them ({@link #use}), as QEMU's vfio_msix_vector_do_use does.
 */
final class InterruptVectors {

    private final String name;
    private final RouteKind kind;
    private final InterruptRouter router;
    private final boolean bypassAllowed;
    private final VfioBackend backend;
    private final int index;
    private final boolean resizable;
    private final EventFd[] eventfds;
    private final InterruptRoute[] routes;
    /** The device's index is on with vectors 0 .. enabled - 1 (0: off). */
    private int enabled;

    private InterruptVectors(String name, RouteKind kind, int capacity, InterruptRouter router, boolean bypassAllowed,
                             VfioBackend backend, int index, boolean resizable) {
        this.name = name;
        this.kind = kind;
        this.router = router;
        this.bypassAllowed = bypassAllowed;
        this.backend = backend;
        this.index = index;
        this.resizable = resizable;
        this.eventfds = new EventFd[capacity];
        this.routes = new InterruptRoute[capacity];
    }

    /**
     * {@code count} vectors, each with its eventfd and route, then given to the device's interrupt
     * index {@code index} in one VFIO_DEVICE_SET_IRQS. Nothing is left behind if a step fails.
     */
    static InterruptVectors enable(String name, RouteKind kind, int count, IntFunction<MsiMessage> message,
                                   IntPredicate masked, InterruptRouter router, boolean bypassAllowed,
                                   VfioBackend backend, int index) {
        InterruptVectors v = new InterruptVectors(name, kind, count, router, bypassAllowed, backend, index, false);
        try {
            for (int i = 0; i < count; i++) {
                v.add(i, message, masked);
            }
            backend.enableIrq(index, v.eventfds);
            v.enabled = count;
        } catch (RuntimeException e) {
            v.release();
            throw e;
        }
        return v;
    }

    /**
     * Up to {@code capacity} vectors, none in use yet: the first {@link #use} turns the device's index
     * on. {@code resizable} (the index lacks VFIO_IRQ_INFO_NORESIZE) lets a vector past those enabled
     * join alone; otherwise the index is disabled and enabled again with the larger count, and an
     * interrupt the device raises in between is lost (QEMU accepts the same).
     */
    static InterruptVectors onDemand(String name, RouteKind kind, int capacity, InterruptRouter router,
                                     boolean bypassAllowed, VfioBackend backend, int index, boolean resizable) {
        return new InterruptVectors(name, kind, capacity, router, bypassAllowed, backend, index, resizable);
    }

    private void add(int vector, IntFunction<MsiMessage> message, IntPredicate masked) {
        String what = name + " " + (kind == RouteKind.MSIX ? "MSI-X " : "MSI ") + vector;
        eventfds[vector] = new EventFd(what);
        routes[vector] = router.addMsi(what, kind, eventfds[vector], message.apply(vector), masked.test(vector),
                bypassAllowed);
    }

    /**
     * Puts {@code vectors} in use: each without a route gets its eventfd and route, and the device its
     * trigger. The first call turns the device's index on even with no vector (vector 0 unassigned,
     * as QEMU's vfio_enable_msix_no_vec does: a device may need MSI-X on before any vector is used).
     * If the device refuses, the new vectors are gone again and the error is thrown.
     */
    void use(BitSet vectors, IntFunction<MsiMessage> message, IntPredicate masked) {
        BitSet fresh = (BitSet) vectors.clone();
        for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
            if (routes[v] != null) {
                fresh.clear(v);
            }
        }
        if (fresh.isEmpty() && enabled > 0) {
            return;
        }
        int high = fresh.length(); // one past the highest new vector
        try {
            for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
                add(v, message, masked);
            }
            if (enabled == 0) {
                int count = Math.max(1, high);
                backend.enableIrq(index, Arrays.copyOf(eventfds, count));
                enabled = count;
            } else if (high <= enabled || resizable) {
                for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
                    backend.setIrqTriggers(index, v, new EventFd[] {eventfds[v]});
                }
                enabled = Math.max(enabled, high);
            } else {
                enabled = 0;
                backend.disableIrq(index);
                backend.enableIrq(index, Arrays.copyOf(eventfds, high));
                enabled = high;
            }
        } catch (RuntimeException e) {
            for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
                drop(v);
            }
            throw e;
        }
    }

    /** How many vectors there may be: all of MSI's, the table's for MSI-X. */
    int count() {
        return routes.length;
    }

    /** Vector {@code vector}'s route, or null if it is not in use. */
    InterruptRoute route(int vector) {
        return routes[vector];
    }

    /** The routes of the vectors in use, by vector. */
    InterruptRoute[] routes() {
        return Arrays.stream(routes).filter(r -> r != null).toArray(InterruptRoute[]::new);
    }

    private void drop(int vector) {
        if (routes[vector] != null) {
            router.remove(routes[vector]);
            routes[vector] = null;
        }
        if (eventfds[vector] != null) {
            eventfds[vector].close();
            eventfds[vector] = null;
        }
    }

    /** Routes out of the table, eventfds closed (the device's index must be disabled first). */
    void release() {
        for (int i = 0; i < routes.length; i++) {
            drop(i);
        }
        enabled = 0;
    }
}
