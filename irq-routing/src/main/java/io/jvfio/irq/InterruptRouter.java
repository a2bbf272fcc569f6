package io.jvfio.irq;

import com.lmax.disruptor.ExceptionHandler;
import com.lmax.disruptor.TimeoutException;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import io.jvfio.vmm.linux.EventFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Interrupt routing for a VM: a routing table of {@link InterruptRoute}s, the poller that reads their
 * eventfds and delivers to an {@link InterruptSink} (the default), or, with
 * {@link DeliveryThread#DISPATCHER}, publishes into a Disruptor ring whose dispatcher delivers.
 *
 * <pre>
 *   device eventfd --epoll--&gt; poller --route--&gt; sink (virtual APICs, KVM)
 *   device eventfd --epoll--&gt; poller --ring--&gt; dispatcher --route--&gt; sink   (DeliveryThread.DISPATCHER)
 * </pre>
 *
 * Routes can be added, reprogrammed, masked and removed while interrupts are in flight.
 */
public final class InterruptRouter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InterruptRouter.class);

    /** What the router did over its life, reported by {@link #shutdown()}. */
    public record Totals(long delivered, long undeliverable, long pending, long removedRouteInterrupts,
                         long strandedAtShutdown) {
    }

    private final InterruptSink sink;
    private final InterruptBypass bypass;
    private final InterruptLines lines;
    private final InterruptRouterConfig config;
    private final AtomicReferenceArray<InterruptRoute> routes;
    /** Removed routes, kept for their counters (what the VM did over its life). */
    private final List<InterruptRoute> removed = new ArrayList<>();
    /** The ring and its dispatcher, with {@link DeliveryThread#DISPATCHER}; null when the poller delivers. */
    private final Disruptor<InterruptEvent> disruptor;
    private final InterruptPoller poller;
    private final InterruptDispatcher dispatcher;
    private final List<RouteListener> listeners = new CopyOnWriteArrayList<>();
    private int nextGeneration = 1;
    private boolean closed;

    public InterruptRouter(InterruptSink sink, InterruptRouterConfig config) {
        this(sink, config, null);
    }

    /**
     * A router whose routes deliver through {@code bypass} (KVM's irqfds) while unmasked, and through
     * the ring to {@code sink} otherwise; null for no bypass.
     */
    public InterruptRouter(InterruptSink sink, InterruptRouterConfig config, InterruptBypass bypass) {
        this(sink, config, bypass, null);
    }

    /**
     * A router as {@link #InterruptRouter(InterruptSink, InterruptRouterConfig, InterruptBypass)}, whose
     * INTx routes assert {@code lines} (an emulated IOAPIC) when they do not take the bypass; null for none.
     */
    public InterruptRouter(InterruptSink sink, InterruptRouterConfig config, InterruptBypass bypass,
            InterruptLines lines) {
        this.sink = sink;
        this.bypass = bypass;
        this.lines = lines;
        this.config = config;
        this.routes = new AtomicReferenceArray<>(config.maxRoutes());
        if (config.deliveryThread() == DeliveryThread.DISPATCHER) {
            this.dispatcher = new InterruptDispatcher(routes);
            this.disruptor = new Disruptor<>(InterruptEvent::new, config.ringSize(), r -> {
                Thread t = new Thread(r, "jvfio-irq-dispatch");
                t.setDaemon(true);
                return t;
            }, ProducerType.SINGLE, config.waitStrategy().create());
            disruptor.handleEventsWith(dispatcher);
            disruptor.setDefaultExceptionHandler(new LoggingExceptionHandler());
            disruptor.start();
        } else {
            // The poller delivers: no ring, and no dispatcher thread idling beside it.
            this.dispatcher = null;
            this.disruptor = null;
        }
        this.poller = new InterruptPoller(disruptor == null ? null : disruptor.getRingBuffer(), routes,
                "jvfio-irq-poll");
        poller.start();
    }

    public InterruptRouter(InterruptSink sink) {
        this(sink, InterruptRouterConfig.DEFAULT);
    }

    public InterruptRouterConfig config() {
        return config;
    }

    /**
     * A route for an MSI or MSI-X vector signalled through {@code trigger}, always on the user-space
     * path. MSI-X vectors start masked, as the spec's reset state has them; {@code message} may be
     * null until the guest programs it.
     */
    public synchronized InterruptRoute addMsi(String name, RouteKind kind, EventFd trigger, MsiMessage message,
            boolean masked) {
        return addMsi(name, kind, trigger, message, masked, null);
    }

    /**
     * As {@link #addMsi(String, RouteKind, EventFd, MsiMessage, boolean)}, with the kernel's bypass (if
     * this router has one) while the route is unmasked and programmed: the device is switched between
     * {@code trigger} and {@code device}'s bypass eventfd. {@code device} null: the user-space path
     * only ({@code x-no-kvm-msi}, {@code x-no-kvm-msix}).
     */
    public synchronized InterruptRoute addMsi(String name, RouteKind kind, EventFd trigger, MsiMessage message,
            boolean masked, DeviceTrigger device) {
        if (kind == RouteKind.INTX) {
            throw new IllegalArgumentException("use addIntx for an INTx line");
        }
        if (device != null && device.bypassEventFd() == trigger) {
            throw new IllegalArgumentException(name + ": the bypass eventfd must not be the route's trigger: binding "
                    + "KVM_IRQFD to an eventfd the device is signalling can inject a signal twice");
        }
        return add(name, kind, trigger, null, message, masked, device != null ? bypass : null, device, -1);
    }

    /** Whether routes may take the kernel's bypass. */
    public boolean hasBypass() {
        return bypass != null;
    }

    /**
     * The INTx line of a device, wired to interrupt line {@code gsi} (-1: wired nowhere yet, its
     * interrupts only counted): {@code trigger} signals the line asserted; when the guest ends the
     * interrupt, the line is deasserted and {@code unmask} signalled, so VFIO re-arms the device's line.
     * With the bypass (KVM) that is a resampling irqfd on the in-kernel IOAPIC's pin; without it, the
     * router's {@link InterruptLines}.
     */
    public synchronized InterruptRoute addIntx(String name, EventFd trigger, EventFd unmask, int gsi) {
        return add(name, RouteKind.INTX, trigger, unmask, null, false, bypass, null, gsi);
    }

    private InterruptRoute add(String name, RouteKind kind, EventFd trigger, EventFd unmask, MsiMessage message,
            boolean masked, InterruptBypass routeBypass, DeviceTrigger device, int gsi) {
        if (closed) {
            throw new IllegalStateException("the interrupt router is closed");
        }
        int id = -1;
        for (int i = 0; i < routes.length(); i++) {
            if (routes.get(i) == null) {
                id = i;
                break;
            }
        }
        if (id < 0) {
            throw new IllegalStateException("the routing table is full (" + routes.length() + " routes); raise "
                    + "maxRoutes");
        }
        InterruptRoute r = new InterruptRoute(id, nextGeneration++, name, kind, trigger, unmask, message, masked, sink,
                poller, routeBypass, device, gsi, lines);
        routes.set(id, r);
        try {
            r.attach();
        } catch (RuntimeException e) {
            routes.set(id, null);
            throw e;
        }
        for (RouteListener l : listeners) {
            tell(l, r, true);
        }
        return r;
    }

    /**
     * {@code listener} is told of every route in the table now and of each route added or removed from
     * now on, until {@link #removeListener}.
     */
    public synchronized void addListener(RouteListener listener) {
        for (InterruptRoute r : routes()) {
            tell(listener, r, true);
        }
        listeners.add(listener);
    }

    public synchronized void removeListener(RouteListener listener) {
        listeners.remove(listener);
    }

    /** A listener that fails is logged: what watches the routes never stops interrupts from being routed. */
    private static void tell(RouteListener l, InterruptRoute r, boolean added) {
        try {
            if (added) {
                l.routeAdded(r);
            } else {
                l.routeRemoved(r);
            }
        } catch (RuntimeException e) {
            LOG.warn("a route listener ({}) failed on {} being {}: {}", l, r, added ? "added" : "removed", e.toString());
        }
    }

    /**
     * Removes a route: its eventfd is no longer watched. Interrupts read before removal but not yet
     * dispatched are counted in {@link Totals#removedRouteInterrupts()}; what was still in the
     * eventfd stays there, for the device's owner.
     */
    public synchronized void remove(InterruptRoute route) {
        if (routes.get(route.id()) != route) {
            throw new IllegalArgumentException(route + " is not in this routing table");
        }
        route.detach();
        routes.set(route.id(), null);
        removed.add(route);
        for (RouteListener l : listeners) {
            tell(l, route, false);
        }
    }

    /** Every route in the table. */
    public List<InterruptRoute> routes() {
        List<InterruptRoute> all = new ArrayList<>();
        for (int i = 0; i < routes.length(); i++) {
            InterruptRoute r = routes.get(i);
            if (r != null) {
                all.add(r);
            }
        }
        return all;
    }

    /** Every route the table has had, removed ones included, in the order they were added. */
    public synchronized List<InterruptRoute> history() {
        List<InterruptRoute> all = new ArrayList<>(removed);
        all.addAll(routes());
        all.sort(java.util.Comparator.comparingInt(InterruptRoute::generation));
        return all;
    }

    /** Totals over every route, present and removed. */
    public synchronized Totals totals() {
        long delivered = 0;
        long undeliverable = 0;
        long pending = 0;
        List<RouteStats> all = new ArrayList<>();
        for (InterruptRoute r : history()) {
            all.add(r.stats());
        }
        for (RouteStats s : all) {
            delivered += s.delivered();
            undeliverable += s.undeliverable();
            pending += s.pendingCount();
        }
        return new Totals(delivered, undeliverable, pending,
                dispatcher == null ? 0 : dispatcher.removedRouteInterrupts(), poller.stranded());
    }

    /**
     * Stops reading eventfds, delivers what is already in the ring, stops the dispatcher, and returns
     * what was done. Bounded: a sink that no longer returns cannot hang it for more than a few seconds.
     */
    public synchronized Totals shutdown() {
        if (closed) {
            return totals();
        }
        closed = true;
        try {
            if (!poller.stop(5000)) {
                LOG.warn("the interrupt poller did not stop within 5 s");
            }
            if (disruptor != null) {
                try {
                    disruptor.shutdown(5, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    LOG.warn("the interrupt dispatcher did not drain the ring within 5 s; halting it");
                    disruptor.halt();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (disruptor != null) {
                disruptor.halt();
            }
        } finally {
            poller.close();
        }
        Totals t = totals();
        LOG.info("interrupt routing stopped: {}", t);
        return t;
    }

    /** {@link #shutdown()}, for try-with-resources. */
    @Override
    public void close() {
        shutdown();
    }

    private static final class LoggingExceptionHandler implements ExceptionHandler<InterruptEvent> {
        @Override
        public void handleEventException(Throwable ex, long sequence, InterruptEvent event) {
            LOG.error("delivering an interrupt of route {} failed: {}", event.routeId, ex.toString(), ex);
        }

        @Override
        public void handleOnStartException(Throwable ex) {
            LOG.error("the interrupt dispatcher failed to start", ex);
        }

        @Override
        public void handleOnShutdownException(Throwable ex) {
            LOG.error("the interrupt dispatcher failed to stop", ex);
        }
    }
}
