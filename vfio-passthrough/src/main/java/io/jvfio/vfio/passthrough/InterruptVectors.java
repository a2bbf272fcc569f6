package io.jvfio.vfio.passthrough;

import io.jvfio.irq.DeviceTrigger;
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
 *
 * <p>Where the route may use the kernel's bypass, a vector has a second eventfd for it, and the route
 * switches the device between the two ({@link DeviceTrigger}; one VFIO_DEVICE_SET_IRQS for the one
 * vector), as QEMU switches {@code interrupt} and {@code kvm_interrupt}.
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
    /** The bypass eventfd of each vector in use, where the route may take the kernel's bypass. */
    private final EventFd[] bypassEventFds;
    /** The eventfd each vector's route wants the device to signal, and whether the device has it. */
    private final EventFd[] selected;
    private final boolean[] given;
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
        this.bypassEventFds = new EventFd[capacity];
        this.selected = new EventFd[capacity];
        this.given = new boolean[capacity];
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
            v.giveToDevice(count);
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
        selected[vector] = eventfds[vector];
        DeviceTrigger device = null;
        if (bypassAllowed && router.hasBypass()) {
            bypassEventFds[vector] = new EventFd(what + " (bypass)");
            device = new VectorTrigger(vector);
        }
        routes[vector] = router.addMsi(what, kind, eventfds[vector], message.apply(vector), masked.test(vector),
                device);
    }

    /**
     * Vector {@code vector}'s switch: recorded until the device has the vector, then one SET_IRQS
     * TRIGGER for it. Called by the route, under the lock of this object's owner (as every use is).
     */
    private final class VectorTrigger implements DeviceTrigger {
        private final int vector;

        VectorTrigger(int vector) {
            this.vector = vector;
        }

        @Override
        public EventFd bypassEventFd() {
            return bypassEventFds[vector];
        }

        @Override
        public void signalOn(EventFd eventfd) {
            if (given[vector] && selected[vector] != eventfd) {
                backend.setIrqTriggers(index, vector, new EventFd[] {eventfd});
            }
            selected[vector] = eventfd;
        }
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
                giveToDevice(Math.max(1, high));
            } else if (high <= enabled || resizable) {
                for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
                    backend.setIrqTriggers(index, v, new EventFd[] {selected[v]});
                    given[v] = true;
                }
                enabled = Math.max(enabled, high);
            } else {
                enabled = 0;
                Arrays.fill(given, false);
                backend.disableIrq(index);
                giveToDevice(high);
            }
        } catch (RuntimeException e) {
            for (int v = fresh.nextSetBit(0); v >= 0; v = fresh.nextSetBit(v + 1)) {
                drop(v);
            }
            throw e;
        }
    }

    /** The device's index on with vectors 0 .. count - 1, each signalling what its route chose. */
    private void giveToDevice(int count) {
        backend.enableIrq(index, Arrays.copyOf(selected, count));
        enabled = count;
        for (int v = 0; v < count; v++) {
            given[v] = selected[v] != null;
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
        selected[vector] = null;
        given[vector] = false;
        if (eventfds[vector] != null) {
            eventfds[vector].close();
            eventfds[vector] = null;
        }
        if (bypassEventFds[vector] != null) {
            bypassEventFds[vector].close();
            bypassEventFds[vector] = null;
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
