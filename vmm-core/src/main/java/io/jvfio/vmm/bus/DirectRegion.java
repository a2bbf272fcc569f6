package io.jvfio.vmm.bus;

import io.jvfio.vmm.linux.HostMemory;
import io.jvfio.vmm.range.Ranged;
import io.jvfio.vmm.range.UnsignedRange;

/**
 * Host memory installed at a guest physical address, such as a BAR's mmap'd area: the guest reaches
 * it with no exit (KVM installs it as a memory slot) and a host-side driver with plain loads and
 * stores of the access's width, which device memory needs. The memory stays owned by whoever mapped
 * it, and must outlive the region's removal from the address space.
 */
public final class DirectRegion implements Ranged {

    private final String name;
    private final long gpa;
    private final long size;
    private final long hostAddress;
    private final boolean writable;
    private final HostMemory host;

    DirectRegion(String name, long gpa, long size, long hostAddress, boolean writable) {
        this.name = name;
        this.gpa = gpa;
        this.size = size;
        this.hostAddress = hostAddress;
        this.writable = writable;
        this.host = HostMemory.at(hostAddress, size);
    }

    public String name() {
        return name;
    }

    public long gpa() {
        return gpa;
    }

    /** The same as {@link #gpa()}: the {@link Ranged} name for it. */
    @Override
    public long base() {
        return gpa;
    }

    @Override
    public long size() {
        return size;
    }

    public long last() {
        return gpa + size - 1;
    }

    public long hostAddress() {
        return hostAddress;
    }

    public boolean writable() {
        return writable;
    }

    boolean contains(long address, int length) {
        return UnsignedRange.within(gpa, size, address, length);
    }

    /** One load of {@code width} bytes at {@code offset} (not straddling a 1 GiB chunk: BAR areas are page-aligned). */
    long read(long offset, int width) {
        return AccessSize.get(host.chunk(offset), HostMemory.position(offset), width);
    }

    /** One store of {@code width} bytes at {@code offset}; dropped for a read-only region. */
    void write(long offset, int width, long value) {
        if (!writable) {
            return;
        }
        AccessSize.put(host.chunk(offset), HostMemory.position(offset), width, value);
    }

    @Override
    public String toString() {
        return "[0x" + Long.toHexString(gpa) + "-0x" + Long.toHexString(last()) + "] '" + name + "' (host 0x"
                + Long.toHexString(hostAddress) + (writable ? ", rw)" : ", ro)");
    }
}
