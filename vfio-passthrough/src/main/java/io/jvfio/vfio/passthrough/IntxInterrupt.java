package io.jvfio.vfio.passthrough;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.SyscallException;
import io.jvfio.vmm.linux.Syscalls;

import static io.jvfio.vmm.linux.jna.LinuxConstants.POLLIN;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;

/**
 * INTx of a passed-through function, used while MSI and MSI-X are off: a trigger eventfd the device
 * signals when it asserts the line (VFIO then masks it), and an unmask eventfd that is signalled when
 * the guest ends the interrupt (KVM's resampling irqfd, or the emulated IOAPIC's resampler), re-arming
 * the line, as QEMU's vfio-pci does. Which interrupt line (GSI) the pin reaches is the machine's to say
 * ({@link #wire}); until then its interrupts are only counted.
 */
final class IntxInterrupt {

    private final String name;
    private final VfioBackend backend;
    private final InterruptRouter router;
    private int gsi = -1;
    private EventFd trigger;
    private EventFd unmask;
    private InterruptRoute route;
    private UnmaskRelay relay;

    IntxInterrupt(String name, VfioBackend backend, InterruptRouter router) {
        this.name = name;
        this.backend = backend;
        this.router = router;
    }

    boolean enabled() {
        return route != null;
    }

    int gsi() {
        return gsi;
    }

    void enable() {
        if (route != null) {
            return;
        }
        EventFd t = new EventFd(name + " INTx");
        EventFd u = new EventFd(name + " INTx unmask");
        InterruptRoute r = null;
        try {
            backend.enableIrq(VFIO_PCI_INTX_IRQ_INDEX, new EventFd[] {t});
            if (backend.irq(VFIO_PCI_INTX_IRQ_INDEX).maskable()) {
                try {
                    backend.setUnmaskEventFd(VFIO_PCI_INTX_IRQ_INDEX, u);
                } catch (SyscallException e) {
                    if (!e.is(Errno.ENOTTY)) {
                        throw e;
                    }
                    // A driver that takes no unmask eventfd (the kernel's mtty sample answers ENOTTY): the
                    // line is unmasked from here at each EOI instead, as QEMU's vfio-pci falls back to doing.
                    relay = new UnmaskRelay(u);
                }
            }
            // else (a libvfio-user server's INTx, flagged EVENTFD only): the device signals each assertion
            // itself and has nothing to unmask; the line is still resampled at the guest's EOI.
            r = router.addIntx(name + " INTx", t, u, gsi);
        } catch (RuntimeException e) {
            if (relay != null) {
                relay.stop();
                relay = null;
            }
            try {
                backend.disableIrq(VFIO_PCI_INTX_IRQ_INDEX);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            t.close();
            u.close();
            throw e;
        }
        trigger = t;
        unmask = u;
        route = r;
    }

    /** The pin reaches interrupt line {@code gsi} from now on (the route is made again if INTx is on). */
    void wire(int gsi) {
        boolean on = enabled();
        if (on) {
            disable();
        }
        this.gsi = gsi;
        if (on) {
            enable();
        }
    }

    void disable() {
        if (route == null) {
            return;
        }
        try {
            backend.disableIrq(VFIO_PCI_INTX_IRQ_INDEX);
        } finally {
            if (relay != null) {
                relay.stop();
                relay = null;
            }
            router.remove(route);
            trigger.close();
            unmask.close();
            route = null;
            trigger = null;
            unmask = null;
        }
    }

    InterruptRoute route() {
        return route;
    }

    /**
     * Unmasks INTx in the device (VFIO_IRQ_SET_ACTION_UNMASK) each time {@code unmask} is signalled, for
     * a driver that cannot be given the eventfd itself. One thread, blocked in poll until a signal (or
     * {@link #stop}'s wake-up).
     */
    private final class UnmaskRelay {
        private final EventFd unmask;
        private final Thread thread;
        private volatile boolean stopping;

        UnmaskRelay(EventFd unmask) {
            this.unmask = unmask;
            this.thread = new Thread(this::run, name + " INTx unmask");
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            while (true) {
                Syscalls.poll(unmask.fd(), POLLIN, -1);
                if (stopping) {
                    return;
                }
                if (unmask.read() > 0) {
                    backend.unmaskIrq(VFIO_PCI_INTX_IRQ_INDEX, 0);
                }
            }
        }

        void stop() {
            stopping = true;
            unmask.signal(); // wakes the poll
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
