package io.jvfio.vfio.emulated.host;

import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.jna.LibC;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the eventfds a served device signals (its interrupt triggers, its mask notifications), each
 * in a numbered slot. For a vfio-user client's eventfds the writes are made on a thread of the
 * signaller's own, so that a write that blocks holds up that client's interrupts and nothing else.
 *
 * <p>Why a thread. The kernel signals an eventfd from inside (eventfd_signal), which never blocks.
 * From user space, write(2) blocks while the counter cannot take the value without passing
 * 0xfffffffffffffffe, unless the file is O_NONBLOCK; and O_NONBLOCK is a flag of the open file
 * description, which the client shares through SCM_RIGHTS. A client can clear it after SET_IRQS, fill
 * its counter, and the next signal would block the thread that made it: the event loop (which serves
 * every message of every client) or the device's worker (holding the interrupt state's lock, so the
 * loop would block behind it). Unlike read, write takes no RWF_NOWAIT on an eventfd (pwritev2 gives
 * EOPNOTSUPP: eventfd has no write_iter), so a write cannot be made safe in place. libvfio-user writes
 * its clients' eventfds from its one thread and can be held this way; QEMU's client makes its eventfds
 * non-blocking and never clears the flag, so it never notices the difference.
 *
 * <p>Signals coalesce per slot, as they do in the eventfd's counter: a slot is queued at most once,
 * so the queue never needs more than one entry per slot and a signal allocates nothing. A queued
 * signal goes to the eventfd the slot holds when the thread writes it, as in the kernel an interrupt
 * that fires after the client replaced a vector's eventfd goes to the new one (vfio_msihandler reads
 * the vector's trigger when it runs); a slot emptied meanwhile drops it, as an unassigned vector does.
 *
 * <p>Ownership: the signaller owns every eventfd given to {@link #assign} and closes it when it is
 * replaced or at {@link #close}: at once, or, for the one being written, when its write returns, so
 * a write never reaches an fd number that was closed and given to something else.
 *
 * <p>The thread starts with the first eventfd and ends at close. A write its client blocked is freed
 * at close by taking the counter with a read that cannot block ({@link EventFd#read}), since the
 * client has left; a client that keeps refilling its counter after it left keeps this one thread and
 * this one eventfd until it stops, and nothing else.
 */
final class EventFdSignaller {

    private static final Logger LOG = LoggerFactory.getLogger(EventFdSignaller.class);

    private final String name;
    /** Written on the signaller's thread (a client's eventfds), or at once (a VMM's own, in-process). */
    private final boolean ownThread;
    private final EventFd[] slots;
    private final boolean[] queued;
    /** The queued slots, first in first out; one entry per slot at most, so it never overflows. */
    private final int[] ring;
    private int head;
    private int size;
    /** The eventfd being written by the thread (its lock not held), and whether it was replaced meanwhile. */
    private EventFd inFlight;
    private boolean inFlightRetired;
    private Thread thread;
    private boolean closed;
    private long failures;

    /**
     * {@code ownThread}: true for eventfds a peer passed (a vfio-user client's), false for the VMM's
     * own (the in-process back end's duplicates of eventfds the VMM made non-blocking and nobody else
     * holds), which are written at once on the signalling thread.
     */
    EventFdSignaller(String name, int slotCount, boolean ownThread) {
        this.name = name;
        this.ownThread = ownThread;
        this.slots = new EventFd[slotCount];
        this.queued = new boolean[slotCount];
        this.ring = new int[slotCount];
    }

    /** Puts {@code fd} (null: none) in a slot, taking ownership of it; the eventfd it held is closed. */
    synchronized void assign(int slot, EventFd fd) {
        EventFd old = slots[slot];
        slots[slot] = fd;
        if (old != null) {
            retire(old);
        }
        if (fd != null && ownThread && thread == null && !closed) {
            thread = new Thread(this::run, "vfio-user-irq-" + name);
            thread.setDaemon(true);
            thread.start();
        }
    }

    private void retire(EventFd old) {
        if (old == inFlight) {
            inFlightRetired = true;
        } else {
            old.close();
        }
    }

    /** True if the slot holds an eventfd. */
    synchronized boolean assigned(int slot) {
        return slots[slot] != null;
    }

    /** How many slots hold an eventfd. */
    synchronized int assignedCount() {
        int n = 0;
        for (EventFd e : slots) {
            n += e != null ? 1 : 0;
        }
        return n;
    }

    /**
     * Signals the slot's eventfd once, if it has one. Never blocks and allocates nothing: for a peer's
     * eventfds it queues the slot for the thread.
     */
    synchronized void signal(int slot) {
        EventFd fd = slots[slot];
        if (fd == null) {
            return;
        }
        if (!ownThread) {
            write(fd);
            return;
        }
        if (!queued[slot]) {
            queued[slot] = true;
            ring[(head + size++) % ring.length] = slot;
            notifyAll();
        }
    }

    private void run() {
        while (true) {
            EventFd fd;
            synchronized (this) {
                while (size == 0 && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
                if (closed) {
                    return;
                }
                int slot = ring[head];
                head = (head + 1) % ring.length;
                size--;
                queued[slot] = false;
                fd = slots[slot];
                if (fd == null) {
                    continue;
                }
                inFlight = fd;
            }
            long result = LibC.eventfd_write(fd.fd().get(), 1);
            int errno = result < 0 ? LibC.errno() : 0;
            synchronized (this) {
                inFlight = null;
                if (inFlightRetired) {
                    inFlightRetired = false;
                    fd.close();
                }
                failed(fd, errno);
            }
        }
    }

    private void write(EventFd fd) {
        if (LibC.eventfd_write(fd.fd().get(), 1) < 0) {
            failed(fd, LibC.errno());
        }
    }

    /**
     * EAGAIN is a saturated counter: the reader has an interrupt to read already, which is all a
     * signal tells it, so nothing is lost. Anything else is the fd gone bad after SET_IRQS checked it:
     * counted and logged once, never thrown, since the thread signalling is the device's or the
     * event loop, which a client must not be able to stop.
     */
    private void failed(EventFd fd, int errno) {
        if (errno != 0 && errno != Errno.EAGAIN.number() && failures++ == 0) {
            LOG.warn("signalling the client's eventfd {} failed: {}; its interrupts are lost (logged once, "
                    + "counted after)", fd.fd().name(), Errno.describe(errno));
        }
    }

    /** Signals that failed (other than a saturated counter) since this signaller was made. */
    synchronized long failures() {
        return failures;
    }

    /** True while the signaller has a thread. */
    synchronized boolean running() {
        return thread != null && thread.isAlive();
    }

    /**
     * Closes every eventfd (the one being written when its write returns) and ends the thread. A
     * write still in flight is freed by taking its counter: if the client filled it and cleared
     * O_NONBLOCK, that write is blocked, and nobody else will read it now.
     */
    synchronized void close() {
        closed = true;
        size = 0;
        for (int i = 0; i < slots.length; i++) {
            queued[i] = false;
            if (slots[i] != null) {
                retire(slots[i]);
                slots[i] = null;
            }
        }
        if (inFlight != null) {
            long taken = inFlight.read();
            if (taken != 0) {
                LOG.debug("freed a signal of {} in flight at close (took the count {})", inFlight.fd().name(), taken);
            }
        }
        notifyAll();
    }
}
