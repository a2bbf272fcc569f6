package io.jvfio.vfio.user.client;

import io.jvfio.vfio.VfioException;
import io.jvfio.vfio.user.protocol.VfioUserCommand;
import io.jvfio.vfio.user.protocol.VfioUserPayloads;
import io.jvfio.vmm.linux.EventFd;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TRIGGER;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_UNMASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_NONE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;

/**
 * The device's interrupts over DEVICE_SET_IRQS: eventfds assigned as triggers (and as the INTx
 * unmask), masking, unmasking, and disabling an index. One request at a time.
 */
final class ClientIrqs {

    private final ClientSession session;
    private final ClientRegions regions;

    ClientIrqs(ClientSession session, ClientRegions regions) {
        this.session = session;
        this.regions = regions;
    }

    /**
     * Assigns {@code eventfds[i]} as vector {@code first + i}'s trigger. The fds go as SCM_RIGHTS, at most
     * the server's max_msg_fds per message; a null entry de-assigns that vector.
     */
    synchronized void setIrqTriggers(int index, int first, EventFd[] eventfds) {
        regions.layout().enableable(index, first, eventfds.length);
        int perMessage = session.peer().maxMsgFds();
        if (perMessage < 1) {
            throw new VfioException(session.name() + ": the server takes no file descriptors (max_msg_fds=0), so interrupts "
                    + "cannot be given eventfds");
        }
        for (int start = 0; start < eventfds.length; ) {
            boolean assigned = eventfds[start] != null;
            int end = start;
            while (end < eventfds.length && (eventfds[end] != null) == assigned
                    && (!assigned || end - start < perMessage)) {
                end++;
            }
            int count = end - start;
            int[] fds = new int[assigned ? count : 0];
            for (int i = 0; i < fds.length; i++) {
                fds[i] = eventfds[start + i].fd().get();
            }
            setIrqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, first + start, count, fds);
            start = end;
        }
    }


    private volatile boolean intxUnmaskByEventFd;

    synchronized void disableIrq(int index) {
        regions.layout().irq(index);
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, new int[0]);
        if (index == VFIO_PCI_INTX_IRQ_INDEX) {
            intxUnmaskByEventFd = false;
        }
    }

    /**
     * True while INTx is unmasked through an eventfd (KVM's resampler, or the emulated IOAPIC's, at the
     * guest's EOI). That signal reaches the server outside the socket's order, so it could overtake a
     * posted write before it, the driver's acknowledge of the interrupt, and the device would find its
     * line still asserted and fire it again: writes are then not posted.
     */
    boolean intxUnmaskByEventFd() {
        return intxUnmaskByEventFd;
    }


    synchronized void maskIrq(int index, int vector) {
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, index, vector, 1, new int[0]);
    }


    synchronized void unmaskIrq(int index, int vector) {
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, index, vector, 1, new int[0]);
    }


    synchronized void setUnmaskEventFd(int index, EventFd unmask) {
        if (index == VFIO_PCI_INTX_IRQ_INDEX) {
            intxUnmaskByEventFd = true; // before the server has it: no posted write may race the first unmask
        }
        setIrqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK, index, 0, 1, new int[] {unmask.fd().get()});
    }

    /** Fires vector {@code vector} from the server's side (SET_IRQS DATA_NONE|TRIGGER), as a loopback test. */
    synchronized void triggerIrq(int index, int vector) {
        setIrqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, vector, 1, new int[0]);
    }

    private void setIrqs(int flags, int index, int start, int count, int[] fds) {
        if (session.dead()) {
            return; // the device is gone; its interrupts with it
        }
        session.request(VfioUserCommand.DEVICE_SET_IRQS, VfioUserPayloads.IrqSet.SIZEOF, fds, fds.length, b -> {
            b.writeIntLE(VfioUserPayloads.IrqSet.SIZEOF);
            b.writeIntLE(flags);
            b.writeIntLE(index);
            b.writeIntLE(start);
            b.writeIntLE(count);
        }).release();
    }
}
