package io.jvfio.vfio.user;

import io.jvfio.vmm.linux.Epoll;
import io.jvfio.vmm.linux.EventFd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static io.jvfio.vmm.linux.LinuxConstants.EPOLLIN;

/**
 * Runs an action whenever one of the watched eventfds is signalled: how a served device hears the
 * eventfds a client gave it to signal (INTx's unmask eventfd, which KVM's resampler or the client's
 * IOAPIC signals at the guest's EOI). One thread with an epoll set, started with the first watch and
 * ended with the last unwatch, so a device no client has given such an eventfd costs no thread.
 *
 * <p>Watches are level-triggered: the action must read the eventfd (it runs under whatever lock
 * guards the eventfd's lifetime, so a watch removed and its fd closed is never read).
 */
final class EventFdWatcher {

    private static final Logger LOG = LoggerFactory.getLogger(EventFdWatcher.class);
    private static final long WAKE = 0;

    private final String name;
    private final Map<Long, Runnable> actions = new ConcurrentHashMap<>();
    private Loop loop;
    private long nextToken = 1;

    EventFdWatcher(String name) {
        this.name = name;
    }

    /** Watches {@code fd}; returns the token that {@link #unwatch} takes. */
    synchronized long watch(EventFd fd, Runnable action) {
        if (loop == null) {
            loop = new Loop();
        }
        long token = nextToken++;
        actions.put(token, action);
        try {
            loop.epoll.add(fd.fd(), EPOLLIN, token);
        } catch (RuntimeException e) {
            actions.remove(token);
            stopIfIdle();
            throw e;
        }
        return token;
    }

    /** Stops watching {@code fd} (before it is closed). */
    synchronized void unwatch(EventFd fd, long token) {
        if (actions.remove(token) != null && loop != null) {
            loop.epoll.remove(fd.fd());
        }
        stopIfIdle();
    }

    /** True while the watcher has a thread (some eventfd is watched). */
    synchronized boolean running() {
        return loop != null;
    }

    private void stopIfIdle() {
        if (actions.isEmpty() && loop != null) {
            loop.stop();
            loop = null;
        }
    }

    /** One thread's epoll set; it closes its own fds when it ends. */
    private final class Loop implements Runnable {
        final Epoll epoll = new Epoll(name, 8);
        final EventFd wake = new EventFd(name + " wake");
        volatile boolean stopped;

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

        void stop() {
            stopped = true;
            wake.signal();
        }

        @Override
        public void run() {
            try {
                while (!stopped) {
                    int n = epoll.waitReady(-1);
                    for (int i = 0; i < n && !stopped; i++) {
                        long token = epoll.readyData(i);
                        Runnable action = token == WAKE ? null : actions.get(token);
                        if (action != null) {
                            action.run();
                        }
                    }
                }
            } catch (RuntimeException e) {
                LOG.error("{}: watching eventfds failed; their signals are no longer heard: {}", name, e.toString(), e);
            } finally {
                epoll.close();
                wake.close();
            }
        }
    }
}
