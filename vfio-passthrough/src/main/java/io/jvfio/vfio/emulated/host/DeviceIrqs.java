package io.jvfio.vfio.emulated.host;

import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.user.protocol.VfioUserException;
import io.jvfio.vmm.linux.Errno;
import io.jvfio.vmm.linux.EventFd;
import io.jvfio.vmm.linux.OwnedFd;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.range.UnsignedRange;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.jvfio.vmm.linux.jna.LinuxConstants.F_GETFL;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDONLY;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_RDWR;
import static io.jvfio.vmm.linux.jna.LinuxConstants.O_WRONLY;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TRIGGER;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_TYPE_MASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_ACTION_UNMASK;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_BOOL;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_EVENTFD;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_NONE;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_IRQ_SET_DATA_TYPE_MASK;

/**
 * A served device's interrupts as VFIO_USER_DEVICE_SET_IRQS sets them (spec, "DEVICE_SET_IRQS"): per
 * index and vector, the client's trigger eventfd, a mask bit, a pending bit, the eventfd the server
 * signals when it masks, and the unmask eventfd the client signals to unmask. Raising a masked or
 * unassigned vector sets its pending bit; unmasking delivers it.
 *
 * <p>INTx (an automasked index) follows the kernel's vfio-pci: an assertion signals the trigger and
 * masks the line; ACTION_UNMASK (DATA_NONE or DATA_BOOL) unmasks it and, if the device still asserts
 * it, signals the trigger again at once and masks it again. ACTION_UNMASK with DATA_EVENTFD gives the
 * server an eventfd that the client signals to unmask, as VFIO_DEVICE_SET_IRQS does in the kernel
 * (the kernel's virqfd): QEMU 11's vfio-user client sends KVM's resample eventfd this way when it runs
 * on KVM (vfio_intx_enable_kvm), and SET_IRQS UNMASK|DATA_NONE messages at each EOI without KVM. The
 * spec (0.9.2) reads DATA_EVENTFD with UNMASK the other way round, as an eventfd the server signals
 * when it unmasks; we follow the peers, since a server that signalled it would write into KVM's
 * resample eventfd, which nothing reads, and the line would stay masked for ever. libvfio-user
 * accepts and ignores MASK and UNMASK (its INTx is not maskable). ACTION_MASK with DATA_EVENTFD keeps
 * the spec's meaning (the kernel refuses it, and no peer sends it).
 */
public final class DeviceIrqs {

    private static final Logger LOG = LoggerFactory.getLogger(DeviceIrqs.class);

    private final List<VfioIrq> irqs;
    /** The slot of vector 0 of each index in {@link #signaller}: triggers first, then mask eventfds. */
    private final int[] firstSlot;
    private final int vectors;
    /** Owns and writes the trigger and mask eventfds (never on the caller's thread for a client's). */
    private final EventFdSignaller signaller;
    private final EventFd[][] unmaskFds;
    private final long[][] unmaskWatches;
    private final EventFdWatcher watcher = new EventFdWatcher("vfio-user-unmask");
    private final boolean[][] masked;
    private final boolean[][] pending;

    /**
     * {@code peerEventFds}: the eventfds come from a vfio-user client, so they are written on a
     * thread of their own ({@link EventFdSignaller}); false for an in-process back end's.
     */
    public DeviceIrqs(String device, boolean peerEventFds, List<VfioIrq> irqs) {
        this.irqs = irqs;
        int n = irqs.size();
        firstSlot = new int[n];
        int total = 0;
        for (int i = 0; i < n; i++) {
            firstSlot[i] = total;
            total += irqs.get(i).count();
        }
        vectors = total;
        signaller = new EventFdSignaller(device, 2 * total, peerEventFds);
        unmaskFds = new EventFd[n][];
        unmaskWatches = new long[n][];
        masked = new boolean[n][];
        pending = new boolean[n][];
        for (int i = 0; i < n; i++) {
            int c = irqs.get(i).count();
            unmaskFds[i] = new EventFd[c];
            unmaskWatches[i] = new long[c];
            masked[i] = new boolean[c];
            pending[i] = new boolean[c];
        }
    }

    /**
     * The device raises a vector: its eventfd fires, unless masked or unassigned (then it is pending).
     * For a level-triggered (automasked) line, pending means asserted: it stays set until the device
     * lowers the line, so an unmask while still asserted delivers again.
     */
    public synchronized void raise(int index, int vector) {
        if (index < 0 || index >= pending.length || vector < 0 || vector >= pending[index].length) {
            return;
        }
        if (!signaller.assigned(trigger(index, vector)) || masked[index][vector]) {
            pending[index][vector] = true;
        } else {
            deliver(index, vector);
        }
    }

    private int trigger(int index, int vector) {
        return firstSlot[index] + vector;
    }

    private int maskNotify(int index, int vector) {
        return vectors + firstSlot[index] + vector;
    }

    /** Signals the trigger; an automasked line (INTx) stays masked until the client unmasks it. */
    private void deliver(int index, int vector) {
        signaller.signal(trigger(index, vector));
        boolean level = irqs.get(index).automasked();
        masked[index][vector] = level;
        pending[index][vector] = level;
    }

    /** A level-triggered line is deasserted: a pending assertion is dropped. */
    synchronized void lower(int index, int vector) {
        if (index >= 0 && index < pending.length && vector >= 0 && vector < pending[index].length) {
            pending[index][vector] = false;
        }
    }

    /** True if some vector of {@code index} has a trigger eventfd. */
    synchronized boolean enabled(int index) {
        if (index < 0 || index >= pending.length) {
            return false;
        }
        for (int v = 0; v < pending[index].length; v++) {
            if (signaller.assigned(trigger(index, v))) {
                return true;
            }
        }
        return false;
    }

    synchronized boolean masked(int index, int vector) {
        return index >= 0 && index < masked.length && vector >= 0 && vector < masked[index].length
                && masked[index][vector];
    }

    synchronized boolean pending(int index, int vector) {
        return index >= 0 && index < pending.length && vector >= 0 && vector < pending[index].length
                && pending[index][vector];
    }

    /**
     * Applies one SET_IRQS. Takes ownership of {@code fds} (closing them if the request is refused);
     * {@code bools} holds DATA_BOOL's bytes.
     */
    public synchronized void set(int flags, int index, int start, int count, byte[] bools, int[] fds) {
        OwnedFd[] owned = new OwnedFd[fds.length];
        for (int i = 0; i < fds.length; i++) {
            owned[i] = OwnedFd.adopt(fds[i], "eventfd from the client");
        }
        try {
            if ((flags & VFIO_IRQ_SET_DATA_TYPE_MASK) == VFIO_IRQ_SET_DATA_EVENTFD) {
                // The server writes to a trigger and to a mask eventfd, and reads an unmask eventfd.
                boolean readByServer = (flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) == VFIO_IRQ_SET_ACTION_UNMASK;
                for (OwnedFd o : owned) {
                    // No O_NONBLOCK is set on them: the flag is the client's too (one open file
                    // description), and the client could clear it again. EventFdSignaller and
                    // EventFd.read keep a blocking eventfd from blocking this server.
                    checkEventFd(o, readByServer);
                }
            }
            apply(flags, index, start, count, bools, owned);
        } catch (RuntimeException e) {
            for (OwnedFd o : owned) {
                o.close();
            }
            throw e;
        }
    }

    /**
     * A client's fd must be an eventfd this server can use, as the kernel's VFIO_DEVICE_SET_IRQS
     * demands (eventfd_ctx_fdget: EINVAL for anything else): a pipe, /dev/null or a socket would take
     * or refuse the 8-byte writes of a signal, and one opened without the access the server needs
     * (O_RDONLY for a trigger) fails each write with EBADF, which used to throw on whichever thread
     * raised the interrupt. The kernel signals an eventfd from inside whatever its access mode;
     * from user space the mode matters. libvfio-user takes any fd and fails at the first signal; we
     * refuse it here, with EINVAL, so the client learns at SET_IRQS.
     */
    private static void checkEventFd(OwnedFd fd, boolean read) {
        int fl = LibC.fcntl(fd.get(), F_GETFL, 0);
        if (fl < 0) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS: fd " + fd.get() + " from the client is not usable ("
                    + Errno.describe(LibC.errno()) + "); send an eventfd");
        }
        int mode = fl & (O_WRONLY | O_RDWR);
        if (mode != O_RDWR && mode != (read ? O_RDONLY : O_WRONLY)) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS: fd " + fd.get() + " from the client is open "
                    + (mode == O_RDONLY ? "read-only" : "write-only") + ", and the server must " + (read ? "read" : "write")
                    + " it; send an eventfd open for reading and writing");
        }
        String what;
        try {
            what = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd.get())).toString();
        } catch (IOException e) {
            what = "unknown (" + e.getMessage() + ")";
        }
        if (!what.equals("anon_inode:[eventfd]")) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS: fd " + fd.get() + " from the client is " + what
                    + ", not an eventfd; send an eventfd (eventfd(2))");
        }
    }

    /** Signals of a client's eventfd that failed, since this client connected. */
    public long signalFailures() {
        return signaller.failures();
    }

    /** True while the signalling thread runs (between a client's first eventfd and its leaving). */
    boolean signalling() {
        return signaller.running();
    }

    /** Applies one SET_IRQS whose eventfds are already owned here (an in-process back end's duplicates). */
    public synchronized void apply(int flags, int index, int start, int count, byte[] bools, OwnedFd[] fds) {
        int data = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
        int action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
        if ((flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) != 0
                || Integer.bitCount(data) != 1 || Integer.bitCount(action) != 1) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS flags 0x" + Integer.toHexString(flags)
                    + " must name exactly one DATA and one ACTION");
        }
        if (index < 0 || index >= irqs.size()) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS for interrupt index " + index + ", the device has "
                    + irqs.size());
        }
        VfioIrq irq = irqs.get(index);
        if (count == 0 && start == 0 && data == VFIO_IRQ_SET_DATA_NONE && action == VFIO_IRQ_SET_ACTION_TRIGGER) {
            // The special case: disable the whole index. It uses no fd; any that came with it are
            // closed here, as every fd this method takes is kept or closed (a hostile client sent
            // hundreds of these with fds, and each stayed open).
            for (OwnedFd f : fds) {
                f.close();
            }
            disable(index);
            return;
        }
        if (count <= 0 || !UnsignedRange.fits(start, count, irq.count())) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS for vectors " + start + "+" + count + " of "
                    + irq.name() + ", which has " + irq.count());
        }
        if (action != VFIO_IRQ_SET_ACTION_TRIGGER && !irq.maskable()) {
            throw new VfioUserException(Errno.EINVAL, irq.name() + " cannot be masked");
        }
        if (data == VFIO_IRQ_SET_DATA_EVENTFD) {
            if (fds.length != 0 && fds.length != count) {
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS with DATA_EVENTFD for " + count + " vectors came with "
                        + fds.length + " fds (it needs " + count + ", or none to de-assign)");
            }
            if (action == VFIO_IRQ_SET_ACTION_UNMASK) {
                for (int i = 0; i < count; i++) {
                    setUnmaskFd(index, start + i, fds.length == 0 ? null : new EventFd(fds[i]));
                }
                return;
            }
            for (int i = 0; i < count; i++) {
                int v = start + i;
                signaller.assign(action == VFIO_IRQ_SET_ACTION_TRIGGER ? trigger(index, v) : maskNotify(index, v),
                        fds.length == 0 ? null : new EventFd(fds[i]));
            }
            // Only these vectors change: a client may give MSI-X vectors their eventfds one at a time while
            // others are live, as QEMU does where the IRQ info lacks VFIO_IRQ_INFO_NORESIZE. An MSI or
            // MSI-X vector raised before it had an eventfd is delivered now, as a device's pending vector
            // is once the kernel allocates it and unmasks it (dynamic MSI-X).
            if (action == VFIO_IRQ_SET_ACTION_TRIGGER && fds.length != 0 && !irq.automasked()) {
                for (int v = start; v < start + count; v++) {
                    if (pending[index][v] && !masked[index][v]) {
                        deliver(index, v);
                    }
                }
            }
            return;
        }
        if (fds.length != 0) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS without DATA_EVENTFD came with " + fds.length + " fds");
        }
        for (int i = 0; i < count; i++) {
            if (data == VFIO_IRQ_SET_DATA_BOOL && bools[i] == 0) {
                continue;
            }
            int v = start + i;
            switch (action) {
                case VFIO_IRQ_SET_ACTION_TRIGGER -> raise(index, v);
                case VFIO_IRQ_SET_ACTION_MASK -> {
                    masked[index][v] = true;
                    signaller.signal(maskNotify(index, v));
                }
                default -> unmask(index, v);
            }
        }
    }

    /** Unmasks a vector; an automasked line still asserted is delivered again (and masked again). */
    private void unmask(int index, int vector) {
        masked[index][vector] = false;
        if (pending[index][vector] && signaller.assigned(trigger(index, vector))) {
            deliver(index, vector);
        }
    }

    /** The client's unmask eventfd for a vector (null: none), watched from now on. */
    private void setUnmaskFd(int index, int vector, EventFd fd) {
        EventFd old = unmaskFds[index][vector];
        if (old != null) {
            watcher.unwatch(old, unmaskWatches[index][vector]);
            old.close();
        }
        unmaskFds[index][vector] = fd;
        if (fd != null) {
            unmaskWatches[index][vector] = watcher.watch(fd, () -> unmaskSignalled(index, vector, fd));
        }
    }

    /** On the watcher's thread: the client signalled a vector's unmask eventfd (KVM's resampler, at EOI). */
    private synchronized void unmaskSignalled(int index, int vector, EventFd fd) {
        if (unmaskFds[index][vector] != fd) {
            return; // replaced or closed since the wake-up
        }
        if (fd.read() != 0) {
            unmask(index, vector);
        }
    }

    /** True while some client eventfd is watched (a thread runs for it). */
    synchronized boolean watching() {
        return watcher.running();
    }

    private void disable(int index) {
        for (int v = 0; v < unmaskFds[index].length; v++) {
            setUnmaskFd(index, v, null);
        }
        for (int v = 0; v < pending[index].length; v++) {
            signaller.assign(trigger(index, v), null);
            signaller.assign(maskNotify(index, v), null);
        }
        java.util.Arrays.fill(pending[index], false);
        java.util.Arrays.fill(masked[index], false);
    }

    /** The client is gone: every eventfd it passed is closed (spec, "Client Disconnection"). */
    public synchronized void clear() {
        for (int i = 0; i < pending.length; i++) {
            disable(i);
        }
        signaller.close();
    }

    /** How many eventfds are assigned, for tests of the disconnect cleanup. */
    public synchronized int assigned() {
        int n = signaller.assignedCount();
        for (EventFd[] set : unmaskFds) {
            for (EventFd e : set) {
                n += e != null ? 1 : 0;
            }
        }
        return n;
    }
}
