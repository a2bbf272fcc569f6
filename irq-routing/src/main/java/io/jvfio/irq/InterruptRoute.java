package io.jvfio.irq;

import io.jvfio.vmm.linux.EventFd;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.SingleWriterRecorder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One interrupt source and where it goes: a device's eventfd, the MSI message the guest programmed
 * for it, its mask and pending bit, and its counters. Devices update the message when the guest
 * writes an MSI or MSI-X entry, and mask or unmask it; the delivering thread (the poller, or the
 * ring's dispatcher) delivers through it.
 *
 * <p>The delivering thread's decision and mask/unmask are serialized on the route, so an
 * interrupt is either delivered before a mask takes effect or held as pending, never both and never
 * lost. Messages are immutable and swapped whole, so a delivery never sees half an update.
 *
 * <p>An MSI or MSI-X route given a {@link DeviceTrigger} uses the kernel's bypass while unmasked and
 * programmed: its bypass eventfd is bound once, the first time, and stays bound until the route goes;
 * the device is switched to it on unmask and back to the route's trigger on mask, as QEMU does. The
 * route's trigger is polled the whole time, so a signal that was on its way when the device was
 * switched is still read here.
 */
public final class InterruptRoute {

    private static final Logger LOG = LoggerFactory.getLogger(InterruptRoute.class);
    /** Latencies are recorded up to 10 s, to 3 significant digits. */
    private static final long HIGHEST_LATENCY = 10_000_000_000L;

    private final int id;
    private final int generation;
    private final String name;
    private final RouteKind kind;
    private final EventFd trigger;
    private final EventFd unmask;
    private final InterruptSink sink;
    private final InterruptPoller poller;
    private final InterruptBypass bypass;
    /** MSI, MSI-X: the device's switch between the trigger and the kernel's eventfd; null: no bypass. */
    private final DeviceTrigger deviceTrigger;
    /** INTx: the interrupt line (GSI) the device's pin is wired to, or -1; and where lines go without the bypass. */
    private final int gsi;
    private final InterruptLines lines;
    private final Runnable resampler = this::resample;

    private volatile MsiMessage message;
    // Guarded by this: the path interrupts take, the kernel's bypass or the poller.
    private InterruptBypass.Binding binding;
    /** MSI, MSI-X: the device signals the bypass eventfd (else the trigger). */
    private boolean onBypass;
    private boolean polled;
    private boolean removed;
    private boolean bypassFailed;
    private boolean everBypassed;
    // Guarded by this.
    private boolean masked;
    private boolean intxAsserted;
    private volatile boolean pending;
    private volatile long pendingCount;
    private volatile long delivered;
    private volatile long coalesced;
    private volatile long maskedPending;
    private volatile long undeliverable;
    private volatile long messages;
    private volatile boolean undeliverableLogged;

    /** Written by the delivering thread only (the poller, or the ring's dispatcher). */
    private final SingleWriterRecorder latency = new SingleWriterRecorder(HIGHEST_LATENCY, 3);
    private final Histogram latencyTotal = new Histogram(HIGHEST_LATENCY, 3);
    private Histogram latencyInterval;

    InterruptRoute(int id, int generation, String name, RouteKind kind, EventFd trigger, EventFd unmask,
            MsiMessage message, boolean masked, InterruptSink sink, InterruptPoller poller, InterruptBypass bypass,
            DeviceTrigger deviceTrigger, int gsi, InterruptLines lines) {
        this.poller = poller;
        this.bypass = bypass;
        this.deviceTrigger = deviceTrigger;
        this.gsi = gsi;
        this.lines = lines;
        this.id = id;
        this.generation = generation;
        this.name = name;
        this.kind = kind;
        this.trigger = trigger;
        this.unmask = unmask;
        this.message = message;
        this.masked = masked;
        this.sink = sink;
    }

    public int id() {
        return id;
    }

    int generation() {
        return generation;
    }

    public String name() {
        return name;
    }

    public RouteKind kind() {
        return kind;
    }

    /** The device's eventfd this route reads. The route does not own it. */
    public EventFd trigger() {
        return trigger;
    }

    /** INTx: the interrupt line (GSI) the pin is wired to; -1 for none (or not INTx). */
    public int gsi() {
        return gsi;
    }

    /** The message the guest programmed, or null if none yet. */
    public MsiMessage message() {
        return message;
    }

    /** The guest wrote the MSI address/data (or MSI-X table entry) of this source. */
    public synchronized void program(MsiMessage message) {
        this.message = message;
        if (binding != null && message != null) {
            binding.update(message);
        }
        choosePath();
    }

    /** The guest set the mask bit: interrupts are held as pending from now on. */
    public synchronized void mask() {
        masked = true;
        choosePath();
    }

    /** The guest cleared the mask bit: a pending interrupt is delivered, once. */
    public synchronized void unmask() {
        masked = false;
        if (pending) {
            long count = pendingCount;
            pending = false;
            pendingCount = 0;
            send(count, -1);
        }
        choosePath();
    }

    /** Starts reading the eventfd, then hands the device to the bypass if the route can use it. */
    synchronized void attach() {
        if (kind == RouteKind.INTX) {
            attachLine();
            return;
        }
        poller.register(this);
        polled = true;
        choosePath();
    }

    /**
     * INTx: the kernel's resampling irqfd when there is a bypass (KVM's IOAPIC asserts the line, and at
     * EOI deasserts it and signals the unmask eventfd itself); else the poller asserts the line at the
     * {@link InterruptLines} and the lines' resampler deasserts it and signals the unmask eventfd.
     */
    private void attachLine() {
        if (bypass != null && gsi >= 0 && unmask != null) {
            try {
                binding = bypass.bindLine(trigger, unmask, gsi);
                everBypassed = true;
                return;
            } catch (RuntimeException e) {
                bypassFailed = true;
                LOG.warn("interrupt route '{}': the kernel refused its line (GSI {}): {}; it stays on the user-space "
                        + "path", name, gsi, e.getMessage());
            }
        }
        if (lines != null && gsi >= 0 && gsi < lines.lines()) {
            lines.addResampler(gsi, resampler);
        }
        poller.register(this);
        polled = true;
    }

    /**
     * Stops reading the trigger and unbinds the bypass eventfd. The device is not switched back: its
     * owner disables the device's vector before (or instead of) taking it from the device.
     */
    synchronized void detach() {
        removed = true;
        if (kind == RouteKind.INTX && binding == null && lines != null && gsi >= 0 && gsi < lines.lines()) {
            lines.removeResampler(gsi, resampler);
            if (intxAsserted) {
                intxAsserted = false;
                lines.deassertLine(gsi);
            }
        }
        if (binding != null) {
            binding.unbind();
            binding = null;
        }
        onBypass = false;
        if (polled) {
            poller.unregister(this);
            polled = false;
        }
    }

    /**
     * The kernel's bypass while the route is unmasked and programmed; the poller otherwise, so that a
     * masked vector's interrupts are read and held as pending here. The bypass eventfd is bound before
     * the device is switched to it (see {@link DeviceTrigger} for why) and stays bound; the trigger
     * stays polled. Caller holds the lock.
     */
    private void choosePath() {
        if (kind == RouteKind.INTX) {
            return; // a line keeps the path it attached with: the resampling irqfd, or the poller
        }
        boolean bypassable = bypass != null && deviceTrigger != null && !bypassFailed && !removed && !masked
                && message != null;
        if (bypassable && !onBypass) {
            try {
                if (binding == null) {
                    binding = bypass.bind(deviceTrigger.bypassEventFd(), message);
                }
                deviceTrigger.signalOn(deviceTrigger.bypassEventFd());
                onBypass = true;
                everBypassed = true;
            } catch (RuntimeException e) {
                bypassFailed = true;
                LOG.warn("interrupt route '{}': the kernel bypass refused it ({}); it stays on the user-space path",
                        name, e.getMessage());
            }
        } else if (!bypassable && onBypass) {
            try {
                deviceTrigger.signalOn(trigger);
                onBypass = false;
            } catch (RuntimeException e) {
                // The device goes on signalling the kernel's eventfd: its interrupts reach the guest as
                // they did, and this mask holds none of them.
                LOG.warn("interrupt route '{}': the device refused to signal its trigger again ({}); while masked "
                        + "its interrupts still reach the guest", name, e.getMessage());
            }
        }
    }

    /** True if the kernel's bypass carried this route at some time (also after the route is removed). */
    public synchronized boolean everBypassed() {
        return everBypassed;
    }

    /**
     * How the route's interrupts travel, as QMP's x-query-interrupts and the MBeans say it: {@code irqfd} if
     * the kernel's bypass carried it at some time, else {@code ring} (user space: the poller, and the
     * Disruptor ring where there is one).
     */
    public String path() {
        return everBypassed() ? "irqfd" : "ring";
    }

    /** True while the kernel delivers this route's interrupts (they then pass no counter here). */
    public synchronized boolean bypassed() {
        return kind == RouteKind.INTX ? binding != null : onBypass;
    }

    public synchronized boolean masked() {
        return masked;
    }

    /** The pending bit: what an MSI-X PBA shows for this vector. */
    public boolean pending() {
        return pending;
    }

    /**
     * On the poller, for a wake-up epoll reported: the eventfd's count (which reading resets), or 0
     * if the route no longer polls it (the poller may hold a wake-up from before the route was removed).
     */
    synchronized long takeCount() {
        return polled ? trigger.read() : 0;
    }

    /** Called by the delivering thread with the count read from the eventfd and when it was read. */
    synchronized void signal(long count, long readNanos) {
        if (masked) {
            pending = true;
            pendingCount += count;
            maskedPending += count;
            return;
        }
        if (kind == RouteKind.INTX) {
            assertLine(count, readNanos);
            return;
        }
        send(count, readNanos);
    }

    /**
     * INTx: the device asserted its line (VFIO masked it until the unmask eventfd re-arms it). While
     * the line is up, further signals merge into it, as a level does. Caller holds the lock.
     */
    private void assertLine(long count, long readNanos) {
        if (lines == null || gsi < 0 || gsi >= lines.lines()) {
            undeliverable += count;
            if (!undeliverableLogged) {
                undeliverableLogged = true;
                LOG.warn("interrupt route '{}': its INTx line is wired to no interrupt controller pin (GSI {}); its "
                        + "interrupts are only counted", name, gsi);
            }
            return;
        }
        delivered += count;
        if (intxAsserted) {
            coalesced += count;
            return;
        }
        coalesced += count - 1;
        messages++;
        intxAsserted = true;
        lines.assertLine(gsi);
        if (readNanos >= 0) {
            latency.recordValue(Math.min(System.nanoTime() - readNanos, HIGHEST_LATENCY));
        }
    }

    /**
     * The guest ended the interrupt this line raised (the controller's EOI, remote IRR cleared): the
     * line goes down and the unmask eventfd is signalled, so VFIO re-enables the device's INTx and, if
     * the device still asserts it, signals the trigger again (the kernel's irqfd resampler does the same).
     */
    private synchronized void resample() {
        if (!intxAsserted || removed) {
            return;
        }
        intxAsserted = false;
        lines.deassertLine(gsi);
        if (unmask != null) {
            unmask.signal();
        }
    }

    /** Sends one message standing for {@code count} interrupts. Caller holds the lock. */
    private void send(long count, long readNanos) {
        MsiMessage m = message;
        DeliveryStatus status = m == null ? DeliveryStatus.NOT_PROGRAMMED : sink.deliverMsi(m.address(), m.data());
        messages++;
        if (status == DeliveryStatus.DELIVERED) {
            delivered += count;
            coalesced += count - 1;
            if (readNanos >= 0) {
                latency.recordValue(Math.min(System.nanoTime() - readNanos, HIGHEST_LATENCY));
            }
        } else {
            undeliverable += count;
            if (!undeliverableLogged) {
                undeliverableLogged = true;
                LOG.warn("interrupt route '{}': cannot deliver {}: {}; further failures of this route are only counted",
                        name, m == null ? "an interrupt" : m, status.reason());
            }
        }
    }

    /** The counters now, and the latency distribution so far. */
    public RouteStats stats() {
        // Under the route's lock, like the delivery that records the latency: a snapshot never shows a
        // delivery's count without its latency sample.
        synchronized (this) {
            latencyInterval = latency.getIntervalHistogram(latencyInterval);
            latencyTotal.add(latencyInterval);
            Histogram h = latencyTotal;
            return new RouteStats(name, kind, delivered, coalesced, maskedPending, undeliverable, messages, pending,
                    pendingCount, h.getTotalCount(), h.getValueAtPercentile(50), h.getValueAtPercentile(99),
                    h.getMaxValue());
        }
    }

    @Override
    public String toString() {
        return "route " + id + " '" + name + "' (" + kind + ")";
    }
}
