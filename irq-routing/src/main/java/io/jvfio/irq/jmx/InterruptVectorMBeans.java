package io.jvfio.irq.jmx;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.RouteKind;
import io.jvfio.irq.RouteListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The MBeans of one machine's interrupt vectors ({@link InterruptVectorMXBean}): one is registered when a
 * route enters the router's table (the guest enabled MSI or MSI-X, a device's INTx line was wired) and
 * unregistered when it leaves (MSI-X disabled, the device removed or closed), and {@link #close()}
 * unregisters what is left, so that nothing of a closed machine stays in the MBean server.
 *
 * <p>A route does not know which device it belongs to: {@link Naming} tells, from what the machine knows
 * of its devices. A route it cannot name yet (a device wires its INTx line while it is being attached,
 * before the machine knows its id) waits, and is registered at the next {@link #retry()}.
 */
public final class InterruptVectorMBeans implements RouteListener, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InterruptVectorMBeans.class);

    /** Which device a route belongs to, and its vector there. */
    public record Source(String device, int vector) {
    }

    /** Names a route's source; null while it cannot (its device not known yet). */
    public interface Naming {
        Source source(InterruptRoute route);
    }

    private final MBeanServer server;
    private final InterruptRouter router;
    private final String vm;
    private final Naming naming;
    private final Map<InterruptRoute, ObjectName> registered = new HashMap<>();
    /** Which route an MBean name stands for now (a route made again for a vector takes the name over). */
    private final Map<ObjectName, InterruptRoute> owners = new HashMap<>();
    private final Set<InterruptRoute> waiting = new LinkedHashSet<>();
    private boolean closed;

    private InterruptVectorMBeans(MBeanServer server, InterruptRouter router, String vm, Naming naming) {
        this.server = server;
        this.router = router;
        this.vm = vm;
        this.naming = naming;
    }

    /**
     * Registers an MBean for each route of {@code router} in {@code server} under machine name {@code vm},
     * now and as routes come, until {@link #close()}.
     */
    public static InterruptVectorMBeans register(MBeanServer server, InterruptRouter router, String vm,
            Naming naming) {
        InterruptVectorMBeans m = new InterruptVectorMBeans(server, router, vm, naming);
        router.addListener(m);
        return m;
    }

    /** {@code io.jvfio:type=InterruptVector,vm=VM,device=DEVICE,kind=KIND,vector=N}. */
    public static ObjectName name(String vm, String device, RouteKind kind, int vector) {
        return JmxNames.of("InterruptVector", "vm", vm, "device", device, "kind",
                kind.name().toLowerCase(java.util.Locale.ROOT), "vector", Integer.toString(vector));
    }

    @Override
    public synchronized void routeAdded(InterruptRoute route) {
        if (closed) {
            return;
        }
        Source s = naming.source(route);
        if (s == null) {
            waiting.add(route);
        } else {
            register(route, s);
        }
    }

    @Override
    public synchronized void routeRemoved(InterruptRoute route) {
        waiting.remove(route);
        ObjectName n = registered.remove(route);
        if (n != null && owners.get(n) == route) {
            owners.remove(n);
            unregister(n);
        }
    }

    /** Registers the routes that could not be named before (their device is known now). */
    public synchronized void retry() {
        if (closed) {
            return;
        }
        for (InterruptRoute r : new ArrayList<>(waiting)) {
            Source s = naming.source(r);
            if (s != null) {
                waiting.remove(r);
                register(r, s);
            }
        }
    }

    /** The names registered now, sorted. */
    public synchronized Set<ObjectName> names() {
        return new TreeSet<>(owners.keySet());
    }

    private void register(InterruptRoute route, Source s) {
        ObjectName n = name(vm, s.device(), route.kind(), s.vector());
        InterruptRoute before = owners.get(n);
        if (before != null) {
            unregister(n); // the vector's route made again: the name goes to the new one
        }
        try {
            server.registerMBean(new InterruptVector(route, s.device(), s.vector()), n);
            owners.put(n, route);
            registered.put(route, n);
        } catch (JMException e) {
            // Statistics are an aid: the interrupts are routed all the same, and the log says why one is missing.
            LOG.warn("the MBean {} of interrupt route '{}' could not be registered: {}", n, route.name(), e.toString());
        }
    }

    private void unregister(ObjectName n) {
        JmxNames.unregister(server, n);
    }

    /** Stops following the router and unregisters every MBean of this machine's vectors. */
    @Override
    public void close() {
        router.removeListener(this);
        synchronized (this) {
            closed = true;
            for (ObjectName n : owners.keySet()) {
                unregister(n);
            }
            owners.clear();
            registered.clear();
            waiting.clear();
        }
    }
}
