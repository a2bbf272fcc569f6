package io.jvfio.irq;

import com.lmax.disruptor.InsufficientCapacityException;
import com.lmax.disruptor.RingBuffer;
import io.jvfio.vmm.linux.Epoll;
import io.jvfio.vmm.linux.EventFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLLIN;

/**
 * The one thread that waits on every device eventfd: epoll reports the ready ones, each counter is
 * read (which resets it; a count above one means interrupts coalesced in the kernel) and delivered
 * through its route on this thread ({@link DeliveryThread#POLLER}, the default), or published into the
 * ring with the route and the time ({@link DeliveryThread#DISPATCHER}). Eventfds are added and removed
 * while it waits.
 *
 * <p>When the ring is full the poller waits for room without reading further eventfds: their
 * counters keep accumulating in the kernel, so nothing is lost, only merged.
 */
final class InterruptPoller implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(InterruptPoller.class);
    /** epoll data of the poller's own wake-up eventfd; route data is generation << 32 | id, never this. */
    private static final long WAKEUP = -1L;

    private final Epoll epoll;
    private final EventFd wakeup = new EventFd("interrupt-poller-wakeup");
    private final RingBuffer<InterruptEvent> ring;
    private final AtomicReferenceArray<InterruptRoute> routes;
    private final Thread thread;
    /** Deliver on this thread ({@link DeliveryThread#POLLER}) rather than through the ring: no ring given. */
    private final boolean deliverHere;
    private volatile boolean running = true;
    private volatile long stranded;

    /** A poller that publishes into {@code ring}, or, if it is null, delivers on its own thread. */
    InterruptPoller(RingBuffer<InterruptEvent> ring, AtomicReferenceArray<InterruptRoute> routes, String name) {
        this.ring = ring;
        this.deliverHere = ring == null;
        this.routes = routes;
        this.epoll = new Epoll(name, 256);
        epoll.add(wakeup.fd(), EPOLLIN, WAKEUP);
        this.thread = new Thread(this, name);
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    void register(InterruptRoute route) {
        epoll.add(route.trigger().fd(), EPOLLIN, key(route));
    }

    void unregister(InterruptRoute route) {
        epoll.remove(route.trigger().fd());
    }

    private static long key(InterruptRoute r) {
        return ((long) r.generation() << 32) | (r.id() & 0xFFFFFFFFL);
    }

    @Override
    public void run() {
        try {
            while (running) {
                int n = epoll.waitReady(-1);
                for (int i = 0; i < n && running; i++) {
                    long data = epoll.readyData(i);
                    if (data == WAKEUP) {
                        wakeup.read();
                        continue;
                    }
                    InterruptRoute route = routes.get((int) data);
                    if (route == null || route.generation() != (int) (data >>> 32)) {
                        continue; // removed while this wake-up was in flight: its eventfd is not ours any more
                    }
                    long count = route.takeCount();
                    if (count == 0) {
                        continue;
                    }
                    if (deliverHere) {
                        route.signal(count, System.nanoTime());
                    } else {
                        publish(route, count, System.nanoTime());
                    }
                }
            }
        } catch (RuntimeException e) {
            LOG.error("the interrupt poller stopped: {}", e.toString(), e);
        }
    }

    private void publish(InterruptRoute route, long count, long readNanos) {
        long seq;
        while (true) {
            try {
                seq = ring.tryNext();
                break;
            } catch (InsufficientCapacityException full) {
                if (!running) {
                    // Stopping while the dispatcher cannot keep up: say what was read but not delivered.
                    stranded += count;
                    return;
                }
                LockSupport.parkNanos(10_000);
            }
        }
        ring.get(seq).set(route.id(), route.generation(), count, readNanos);
        ring.publish(seq);
    }

    /** Interrupts read but not published because the poller stopped while the ring was full. */
    long stranded() {
        return stranded;
    }

    /** Stops the thread and waits up to {@code millis} for it; returns whether it ended. */
    boolean stop(long millis) throws InterruptedException {
        running = false;
        wakeup.signal();
        thread.join(millis);
        return !thread.isAlive();
    }

    void close() {
        epoll.close();
        wakeup.close();
    }
}
