package io.jvfio.vfio.emulated.host;

import io.jvfio.vmm.linux.Epoll;
import io.jvfio.vmm.linux.EventFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;

import static io.jvfio.vmm.linux.jna.LinuxConstants.EPOLLIN;

/**
 * Runs an action whenever one of the watched eventfds is signalled: how a served device hears the
 * eventfds a client gave it to signal (INTx's unmask eventfd, which KVM's resampler or the client's
 * IOAPIC signals at the guest's EOI). One thread with an epoll set, started with the first watch and
 * ended with the last unwatch, so a device no client has given such an eventfd costs no thread.
 *
 * <p>Watches are level-triggered: the action must read the eventfd (it runs under whatever lock
 * guards the eventfd's lifetime, so a watch removed and its fd closed is never read). A wake-up
 * allocates nothing: the epoll data is the watch's slot in an array of actions.
 */
final class EventFdWatcher {

    private static final Logger LOG = LoggerFactory.getLogger(EventFdWatcher.class);
    private static final long WAKE = -1;

    private final String name;
    /** The actions by slot, replaced whole when one is added or removed (the loop reads it without a lock). */
    private volatile Runnable[] actions = new Runnable[0];
    private Loop loop;

    EventFdWatcher(String name) {
        this.name = name;
    }

    /** Watches {@code fd}; returns the token that {@link #unwatch} takes. */
    synchronized long watch(EventFd fd, Runnable action) {
        if (loop == null) {
            loop = new Loop();
        }
        Runnable[] now = actions;
        int slot = 0;
        while (slot < now.length && now[slot] != null) {
            slot++;
        }
        now = Arrays.copyOf(now, Math.max(now.length, slot + 1));
        now[slot] = action;
        actions = now;
        try {
            loop.epoll.add(fd.fd(), EPOLLIN, slot);
        } catch (RuntimeException e) {
            remove(slot);
            stopIfIdle();
            throw e;
        }
        return slot;
    }

    /** Stops watching {@code fd} (before it is closed). */
    synchronized void unwatch(EventFd fd, long token) {
        int slot = (int) token;
        if (slot >= 0 && slot < actions.length && actions[slot] != null) {
            remove(slot);
            if (loop != null) {
                loop.epoll.remove(fd.fd());
            }
        }
        stopIfIdle();
    }

    private void remove(int slot) {
        Runnable[] now = actions.clone();
        now[slot] = null;
        actions = now;
    }

    /** True while the watcher has a thread (some eventfd is watched). */
    synchronized boolean running() {
        return loop != null;
    }

    private void stopIfIdle() {
        if (Arrays.stream(actions).allMatch(a -> a == null) && loop != null) {
            loop.stop();
            loop = null;
        }
    }

    /** One thread's epoll set; it closes its own fds when it ends. */
    private final class Loop implements Runnable {
        final Epoll epoll = new Epoll(name, 8);
        final EventFd wake = new EventFd(name + " wake");
        volatile boolean stopped;
        /** The fds are closed; guarded by this. */
        private boolean closed;

        Loop() {
            try {
                epoll.add(wake.fd(), EPOLLIN, WAKE);
            } catch (RuntimeException e) {
                epoll.close();
                wake.close();
                throw e;
            }
            Thread t = new Thread(this, name);
            t.setDaemon(true);
            t.start();
        }

        /**
         * Under the loop's lock, which the thread takes to close its fds: without it the thread could
         * see {@code stopped} (woken by a watched eventfd), close {@code wake}, and the signal here
         * would reach a closed fd (EBADF, seen once in PassthroughBarKindsTest) or a reused one.
         */
        synchronized void stop() {
            if (closed) {
                return; // the thread ended on its own (a failure it logged)
            }
            stopped = true;
            wake.signal();
        }

        @Override
        public void run() {
            try {
                while (!stopped) {
                    int n = epoll.waitReady(-1);
                    for (int i = 0; i < n && !stopped; i++) {
                        long slot = epoll.readyData(i);
                        Runnable[] now = actions;
                        Runnable action = slot >= 0 && slot < now.length ? now[(int) slot] : null;
                        if (action != null) {
                            action.run();
                        }
                    }
                }
            } catch (RuntimeException e) {
                LOG.error("{}: watching eventfds failed; their signals are no longer heard: {}", name, e.toString(), e);
            } finally {
                synchronized (this) {
                    closed = true;
                    epoll.close();
                    wake.close();
                }
            }
        }
    }
}
