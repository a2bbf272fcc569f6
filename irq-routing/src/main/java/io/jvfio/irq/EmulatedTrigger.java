package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;

/**
 * The output of one interrupt source of a device emulated in this process (a test device, a
 * benchmark's): it owns both eventfds a route may want it to signal, and {@link #signal()} writes the
 * one the route chose. Give {@link #trigger()} and this object to
 * {@link InterruptRouter#addMsi(String, RouteKind, EventFd, MsiMessage, boolean, DeviceTrigger)}.
 *
 * <p>A signal and a switch take the same lock, so once {@link #signalOn} returns no signal goes to
 * the eventfd it left. {@link #signal()} allocates nothing.
 */
public final class EmulatedTrigger implements DeviceTrigger, AutoCloseable {

    private final EventFd trigger;
    private final EventFd bypass;
    private EventFd selected;

    public EmulatedTrigger(String name) {
        this.trigger = new EventFd(name);
        EventFd b;
        try {
            b = new EventFd(name + " (bypass)");
        } catch (RuntimeException e) {
            trigger.close();
            throw e;
        }
        this.bypass = b;
        this.selected = trigger;
    }

    /** The eventfd the route polls: the one to pass as the route's trigger. */
    public EventFd trigger() {
        return trigger;
    }

    @Override
    public EventFd bypassEventFd() {
        return bypass;
    }

    @Override
    public synchronized void signalOn(EventFd eventfd) {
        if (eventfd != trigger && eventfd != bypass) {
            throw new IllegalArgumentException(eventfd.fd().name() + " is neither of this source's eventfds");
        }
        selected = eventfd;
    }

    /** Raises the interrupt once, on the eventfd the route chose. */
    public synchronized void signal() {
        selected.signal();
    }

    /** True while the device signals the kernel's eventfd. */
    public synchronized boolean onBypass() {
        return selected == bypass;
    }

    /** Closes both eventfds; remove the route first. */
    @Override
    public void close() {
        try {
            bypass.close();
        } finally {
            trigger.close();
        }
    }
}
