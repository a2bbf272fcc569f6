package io.jvfio.vmm.bus;

import io.jvfio.vmm.range.Ranged;
import io.jvfio.vmm.range.UnsignedRange;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An MMIO or port-I/O bus: devices in ranges that do not overlap, found by address with a binary
 * search over an array that is replaced (never changed) when devices come and go, so a vCPU's
 * access takes no lock and allocates nothing, as rust-vmm's vm-device bus is read-mostly. An access
 * no device claims reads all-ones and its write is dropped, as a PCI master abort does; such
 * accesses are counted.
 */
public final class Bus {

    /** A device's place on the bus; give it back to {@link #remove} to take the device off. */
    public static final class Registration implements Ranged {
        private final String name;
        private final long base;
        private final long length;
        private final BusDevice device;

        private Registration(String name, long base, long length, BusDevice device) {
            this.name = name;
            this.base = base;
            this.length = length;
            this.device = device;
        }

        public String name() {
            return name;
        }

        @Override
        public long base() {
            return base;
        }

        public long length() {
            return length;
        }

        /** The same as {@link #length()}: the {@link Ranged} name for it. */
        @Override
        public long size() {
            return length;
        }

        public long last() {
            return base + length - 1;
        }

        public BusDevice device() {
            return device;
        }

        @Override
        public String toString() {
            return "[0x" + Long.toHexString(base) + "-0x" + Long.toHexString(last()) + "] '" + name + "'";
        }
    }

    private static final Registration[] NONE = new Registration[0];

    private final String name;
    /** Sorted by base. Replaced as a whole under the lock; read without it. */
    private volatile Registration[] ranges = NONE;
    private final AtomicLong unclaimed = new AtomicLong();

    public Bus(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** Places {@code device} at [base, base + length); refuses an empty range or one that overlaps. */
    public synchronized Registration add(String what, long base, long length, BusDevice device) {
        if (!UnsignedRange.valid(base, length)) {
            throw new BusException(name + ": '" + what + "' at 0x" + Long.toHexString(base) + " has no valid length ("
                    + length + ")");
        }
        Registration r = new Registration(what, base, length, device);
        Registration[] old = ranges;
        for (Registration o : old) {
            if (UnsignedRange.overlaps(o.base, o.length, r.base, r.length)) {
                throw new BusException(name + ": " + r + " overlaps " + o);
            }
        }
        Registration[] next = Arrays.copyOf(old, old.length + 1);
        next[old.length] = r;
        Arrays.sort(next, (a, b) -> Long.compareUnsigned(a.base, b.base));
        ranges = next;
        return r;
    }

    /** Takes a device off the bus; accesses already dispatched to it may still complete. */
    public synchronized void remove(Registration r) {
        Registration[] old = ranges;
        int at = -1;
        for (int i = 0; i < old.length; i++) {
            if (old[i] == r) {
                at = i;
            }
        }
        if (at < 0) {
            throw new IllegalArgumentException(r + " is not on " + name);
        }
        Registration[] next = new Registration[old.length - 1];
        System.arraycopy(old, 0, next, 0, at);
        System.arraycopy(old, at + 1, next, at, old.length - at - 1);
        ranges = next;
    }

    /** The registration holding {@code address}, or null. */
    public Registration find(long address) {
        return UnsignedRange.find(ranges, address);
    }

    /** A read of {@code size} bytes; all-ones if no device claims all of them. */
    public long read(long address, int size) {
        Registration r = find(address);
        if (r == null || !UnsignedRange.within(r.base, r.length, address, size)) {
            unclaimed.incrementAndGet();
            return AccessSize.allOnes(size);
        }
        return r.device.read(address - r.base, size);
    }

    /** A write of {@code size} bytes; dropped if no device claims all of them. */
    public void write(long address, int size, long value) {
        Registration r = find(address);
        if (r == null || !UnsignedRange.within(r.base, r.length, address, size)) {
            unclaimed.incrementAndGet();
            return;
        }
        r.device.write(address - r.base, size, value);
    }

    /** How many accesses no device claimed. */
    public long unclaimedAccesses() {
        return unclaimed.get();
    }

    /** The devices on the bus, by address. */
    public Registration[] registrations() {
        return ranges.clone();
    }

    @Override
    public String toString() {
        return name + " bus (" + ranges.length + " devices)";
    }
}
