package io.jvfio.vmm.bus;

import io.jvfio.vmm.linux.EventFd;

/**
 * A doorbell in the guest's address space: a guest write of {@code size} bytes to {@code address}
 * (of the port-I/O space if {@code pio}), with the value {@code data} if {@code datamatch}, signals
 * {@code eventfd} instead of reaching the bus device there. The {@link AddressSpace} offers it to its
 * listeners: KVM takes it as a KVM_IOEVENTFD, and the write never leaves the kernel. Where no listener
 * takes it (no KVM: an in-process embedding, a host-side driver), the bus device that traps the range
 * signals the eventfd itself on a matching write ({@link #matches}), as QEMU's memory core does
 * without KVM (memory_region_dispatch_write_eventfds); either way the other side sees a signal.
 * {@code size} 0 matches a write of any width (KVM's len 0).
 */
public record IoEventFd(String name, boolean pio, long address, int size, boolean datamatch, long data,
                        EventFd eventfd) {

    public IoEventFd {
        if (size != 0 && size != 1 && size != 2 && size != 4 && size != 8) {
            throw new BusException("ioeventfd '" + name + "' has width " + size + "; KVM takes 0 (any), 1, 2, 4 or 8");
        }
        if (datamatch && size == 0) {
            throw new BusException("ioeventfd '" + name + "' matches data but has no width; datamatch needs 1, 2, 4 or 8");
        }
    }

    /** The same doorbell at guest address {@code at} (its BAR moved). */
    public IoEventFd at(long at) {
        return new IoEventFd(name, pio, at, size, datamatch, data, eventfd);
    }

    /** Whether a guest write of {@code width} bytes of {@code value} at {@code address} rings this doorbell. */
    public boolean matches(long address, int width, long value) {
        if (address != this.address || (size != 0 && width != size)) {
            return false;
        }
        return !datamatch || AccessSize.mask(value, width) == AccessSize.mask(data, width);
    }
}
