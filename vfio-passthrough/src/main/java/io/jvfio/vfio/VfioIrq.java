package io.jvfio.vfio;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_AUTOMASKED;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_MASKABLE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_INFO_NORESIZE;

/** An interrupt index of a VFIO device (INTx, MSI, MSI-X, ERR, REQ) and how many vectors it has. */
public record VfioIrq(int index, int flags, int count) {

    private static final String[] NAMES = {"INTx", "MSI", "MSI-X", "ERR", "REQ"};

    public boolean eventfd() {
        return (flags & VFIO_IRQ_INFO_EVENTFD) != 0;
    }

    public boolean maskable() {
        return (flags & VFIO_IRQ_INFO_MASKABLE) != 0;
    }

    /** Level-triggered: VFIO masks it on each interrupt until it is unmasked (INTx). */
    public boolean automasked() {
        return (flags & VFIO_IRQ_INFO_AUTOMASKED) != 0;
    }

    /** Vectors are enabled as a set: to add one, the whole index is set again. */
    public boolean noResize() {
        return (flags & VFIO_IRQ_INFO_NORESIZE) != 0;
    }

    public String name() {
        return index < NAMES.length ? NAMES[index] : "IRQ index " + index;
    }

    @Override
    public String toString() {
        return String.format("%-6s count %-4d%s%s%s%s", name(), count, eventfd() ? " eventfd" : "",
                maskable() ? " maskable" : "", automasked() ? " automasked" : "", noResize() ? " noresize" : "");
    }
}
