package io.jvfio.vfio.pci;

import io.jvfio.irq.InterruptRoute;
import io.jvfio.irq.InterruptRouter;
import io.jvfio.irq.MsiMessage;
import io.jvfio.vfio.VfioBackend;
import io.jvfio.vmm.linux.EventFd;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;

/**
 * INTx of a passed-through function, used while MSI and MSI-X are off: a trigger eventfd the device
 * signals when it asserts the line (VFIO then masks it), and an unmask eventfd that irq-routing
 * signals at the guest's EOI, re-arming the line, as VFIO's INTx resample works. Where the line goes
 * (the interrupt controller's redirection entry) is the machine's to say.
 */
final class IntxInterrupt {

    private final String name;
    private final VfioBackend backend;
    private final InterruptRouter router;
    private MsiMessage redirection;
    private EventFd trigger;
    private EventFd unmask;
    private InterruptRoute route;

    IntxInterrupt(String name, VfioBackend backend, InterruptRouter router, MsiMessage redirection) {
        this.name = name;
        this.backend = backend;
        this.router = router;
        this.redirection = redirection;
    }

    boolean enabled() {
        return route != null;
    }

    void enable() {
        if (route != null) {
            return;
        }
        EventFd t = new EventFd(name + " INTx");
        EventFd u = new EventFd(name + " INTx unmask");
        InterruptRoute r = null;
        try {
            r = router.addIntx(name + " INTx", t, u, redirection);
            backend.enableIrq(VFIO_PCI_INTX_IRQ_INDEX, new EventFd[] {t});
            backend.setUnmaskEventFd(VFIO_PCI_INTX_IRQ_INDEX, u);
        } catch (RuntimeException e) {
            if (r != null) {
                router.remove(r);
            }
            t.close();
            u.close();
            throw e;
        }
        trigger = t;
        unmask = u;
        route = r;
    }

    /** Where the line is delivered: an interrupt controller's level-triggered redirection entry. */
    void redirect(MsiMessage entry) {
        redirection = entry;
        if (route != null) {
            route.program(entry);
        }
    }

    void disable() {
        if (route == null) {
            return;
        }
        try {
            backend.disableIrq(VFIO_PCI_INTX_IRQ_INDEX);
        } finally {
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
}
