package io.jvfio.vmm.bus;

import io.jvfio.vmm.linux.Syscalls;
import io.jvfio.vmm.range.UnsignedRange;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The guest's physical address space outside RAM, and its I/O ports: host memory installed
 * directly ({@link DirectRegion}s, such as mmap'd BARs) on top of the MMIO bus (trapped ranges:
 * emulated registers, BARs that cannot be mapped), and the port-I/O bus. A direct region wins over
 * a bus range it lies in, as a KVM memory slot wins over MMIO exits. Listeners (KVM's memory slots)
 * follow the direct regions as they come and go, and the doorbells ({@link IoEventFd}s: KVM's
 * ioeventfds).
 */
public final class AddressSpace {

    /** Follows the direct regions. */
    public interface Listener {
        void regionAdded(DirectRegion region);

        /** Told before the region leaves the address space; its memory is still valid. */
        void regionRemoved(DirectRegion region);

        /**
         * A doorbell came: true if this listener now signals its eventfd itself on a guest write
         * (KVM_IOEVENTFD), so such writes no longer reach the bus. By default it does not.
         */
        default boolean ioEventFdAdded(IoEventFd doorbell) {
            return false;
        }

        /** The doorbell goes (its BAR moved or stopped decoding); its eventfd is still open. */
        default void ioEventFdRemoved(IoEventFd doorbell) {
        }
    }

    private static final DirectRegion[] NONE = new DirectRegion[0];

    private final Bus mmio = new Bus("mmio");
    private final Bus pio = new Bus("pio");
    private volatile DirectRegion[] direct = NONE;
    private final List<Listener> listeners = new ArrayList<>();
    private final List<IoEventFd> doorbells = new ArrayList<>();

    public Bus mmio() {
        return mmio;
    }

    public Bus pio() {
        return pio;
    }

    /**
     * Installs {@code size} bytes of host memory at {@code hostAddress} at guest physical {@code gpa}:
     * whole pages, page-aligned on both sides, as a KVM memory slot must be (KVM_SET_USER_MEMORY_REGION
     * fails with EINVAL otherwise). Anything smaller, such as a BAR under a page, is trapped instead.
     */
    public synchronized DirectRegion mapDirect(String name, long gpa, long size, long hostAddress, boolean writable) {
        if (!UnsignedRange.valid(gpa, size)) {
            throw new BusException("direct region '" + name + "' at 0x" + Long.toHexString(gpa) + " has no valid size ("
                    + size + ")");
        }
        long page = Syscalls.pageSize();
        if (gpa % page != 0 || size % page != 0 || hostAddress % page != 0) {
            throw new BusException("direct region '" + name + "' at 0x" + Long.toHexString(gpa) + " (" + size
                    + " bytes, host 0x" + Long.toHexString(hostAddress) + ") is not whole pages of " + page + " bytes on "
                    + "page boundaries, as a KVM memory slot must be: trap the range on the MMIO bus instead");
        }
        DirectRegion r = new DirectRegion(name, gpa, size, hostAddress, writable);
        for (DirectRegion o : direct) {
            if (UnsignedRange.overlaps(o.gpa(), o.size(), r.gpa(), r.size())) {
                throw new BusException("direct region " + r + " overlaps " + o);
            }
        }
        DirectRegion[] next = Arrays.copyOf(direct, direct.length + 1);
        next[direct.length] = r;
        Arrays.sort(next, (a, b) -> Long.compareUnsigned(a.gpa(), b.gpa()));
        for (Listener l : listeners) {
            l.regionAdded(r);
        }
        direct = next;
        return r;
    }

    /** Removes a direct region: listeners first, then the address space. */
    public synchronized void unmapDirect(DirectRegion r) {
        int at = Arrays.asList(direct).indexOf(r);
        if (at < 0) {
            throw new IllegalArgumentException(r + " is not in this address space");
        }
        for (Listener l : listeners) {
            l.regionRemoved(r);
        }
        DirectRegion[] next = new DirectRegion[direct.length - 1];
        System.arraycopy(direct, 0, next, 0, at);
        System.arraycopy(direct, at + 1, next, at, direct.length - at - 1);
        direct = next;
    }

    /**
     * Adds a doorbell: true if a listener took it (KVM signals its eventfd without an exit); false if
     * none did, and the bus device at its address must signal it on a matching write ({@link
     * IoEventFd#matches}). Either way it stays here until {@link #removeIoEventFd}, and a listener
     * added later gets it too.
     */
    public synchronized boolean addIoEventFd(IoEventFd doorbell) {
        boolean taken = false;
        for (Listener l : listeners) {
            taken |= l.ioEventFdAdded(doorbell);
        }
        doorbells.add(doorbell);
        return taken;
    }

    /** Removes a doorbell {@link #addIoEventFd} added: listeners first. */
    public synchronized void removeIoEventFd(IoEventFd doorbell) {
        if (!doorbells.remove(doorbell)) {
            throw new IllegalArgumentException(doorbell + " is not in this address space");
        }
        for (Listener l : listeners) {
            l.ioEventFdRemoved(doorbell);
        }
    }

    /** The doorbells now in the address space. */
    public synchronized List<IoEventFd> ioEventFds() {
        return List.copyOf(doorbells);
    }

    /** Adds a listener, which first gets every region and doorbell already there. */
    public synchronized void addListener(Listener l) {
        for (DirectRegion r : direct) {
            l.regionAdded(r);
        }
        for (IoEventFd d : doorbells) {
            l.ioEventFdAdded(d);
        }
        listeners.add(l);
    }

    public synchronized void removeListener(Listener l) {
        listeners.remove(l);
    }

    public DirectRegion[] directRegions() {
        return direct.clone();
    }

    /** The direct region holding all of [gpa, gpa + length), or null. */
    public DirectRegion findDirect(long gpa, int length) {
        DirectRegion r = UnsignedRange.find(direct, gpa);
        return r != null && r.contains(gpa, length) ? r : null;
    }

    /** A guest access to physical address {@code gpa}: directly mapped memory, else the MMIO bus. */
    public long read(long gpa, int size) {
        DirectRegion r = findDirect(gpa, size);
        return r != null ? r.read(gpa - r.gpa(), size) : mmio.read(gpa, size);
    }

    public void write(long gpa, int size, long value) {
        DirectRegion r = findDirect(gpa, size);
        if (r != null) {
            r.write(gpa - r.gpa(), size, value);
        } else {
            mmio.write(gpa, size, value);
        }
    }

    /** A guest {@code in} of {@code size} bytes from {@code port}. */
    public long in(int port, int size) {
        return pio.read(port & 0xFFFF, size);
    }

    /** A guest {@code out}. */
    public void out(int port, int size, long value) {
        pio.write(port & 0xFFFF, size, value);
    }
}
