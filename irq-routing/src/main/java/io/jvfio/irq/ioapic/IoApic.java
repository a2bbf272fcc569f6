package io.jvfio.irq.ioapic;

import io.jvfio.irq.DeliveryStatus;
import io.jvfio.irq.InterruptLines;
import io.jvfio.irq.InterruptSink;
import io.jvfio.vmm.bus.BusDevice;
import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.migration.SavedState;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * An I/O APIC (Intel 82093AA) for a machine without KVM's in-kernel one: 24 input pins, each with a
 * redirection entry the guest programs through the indirect registers at {@link #BASE} (IOREGSEL at
 * 0x00, IOWIN at 0x10, and the EOI register at 0x40 of version 0x20). An asserted pin sends its entry's
 * message to the local APICs ({@link InterruptSink}); a level-triggered entry then holds its remote IRR
 * until the guest's EOI of its vector (the local APIC broadcasts it, {@link #endOfInterrupt}), and while
 * it is held the pin delivers nothing more. At that EOI the pin's resamplers run (INTx deasserts and
 * VFIO re-arms the device's line); a pin that is still asserted after them is delivered again. This is
 * what KVM's in-kernel IOAPIC does with a resampling irqfd.
 *
 * <p>A pin's level is logical (asserted or not), as KVM's and QEMU's IOAPIC models take it: the
 * polarity bit is kept for the guest to read back. A pin is the wired-OR of the sources asserting it
 * (PCI INTx lines are shared: two slots' pins may reach one input), so each {@link #assertLine} is
 * undone by one {@link #deassertLine}, and the pin is up while any source holds it, as KVM keeps a
 * level per IRQ source. Delivering allocates nothing.
 *
 * <p>It migrates ({@link Migratable}): IOREGSEL, the ID, the redirection table with each entry's
 * remote IRR, each pin's level with the number of sources holding it, and the delivery counts. The
 * sources travel as their number only: a device's line on the destination is its own route's, which
 * lowers it at the EOI as the source's would have (a pin asserted and waiting for its EOI on the source
 * is so on the destination, and the guest's EOI there runs the destination's resamplers).
 */
public final class IoApic implements BusDevice, InterruptLines, Migratable {

    /** Where the guest finds it (the default the MP and ACPI tables give). */
    public static final long BASE = 0xFEC0_0000L;
    public static final long SIZE = 0x1000;
    public static final int PINS = 24;
    /** The PCI INTx lines of a board without an ISA bridge's PIRQ router: GSIs 16 to 23. */
    public static final int FIRST_PCI_GSI = 16;

    static final int IOREGSEL = 0x00;
    static final int IOWIN = 0x10;
    static final int EOI = 0x40;
    static final int IOAPICID = 0x00;
    static final int IOAPICVER = 0x01;
    static final int IOAPICARB = 0x02;
    static final int IOREDTBL = 0x10;
    /** Version 0x20 (it has the EOI register), maximum redirection entry 23. */
    static final int VERSION = 0x20 | (PINS - 1) << 16;
    /** The kind and version of {@link #snapshot}'s format. */
    static final String STATE_KIND = "IOAPIC";
    static final int STATE_VERSION = 1;

    private final InterruptSink sink;
    private final long[] entries = new long[PINS];
    private final AtomicReferenceArray<Runnable[]> resamplers = new AtomicReferenceArray<>(PINS);
    private int select;
    private int id;
    /** Bit n: pin n is asserted (some source holds it). */
    private int asserted;
    /** How many sources hold each pin. */
    private final int[] sources = new int[PINS];
    private long delivered;
    private long undeliverable;

    /** An IOAPIC whose messages go to {@code sink}; it listens for the sink's level-triggered EOIs. */
    public IoApic(InterruptSink sink) {
        this.sink = sink;
        Arrays.fill(entries, RedirectionEntry.RESET);
        for (int i = 0; i < PINS; i++) {
            resamplers.set(i, new Runnable[0]);
        }
        sink.addEoiListener(this::endOfInterrupt);
    }

    @Override
    public int lines() {
        return PINS;
    }

    // ---- the guest's registers ----

    @Override
    public synchronized long read(long offset, int size) {
        if (offset == IOREGSEL) {
            return select;
        }
        if (offset == IOWIN) {
            return register(select) & 0xFFFF_FFFFL;
        }
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset == IOREGSEL) {
            synchronized (this) {
                select = (int) value & 0xFF;
            }
        } else if (offset == IOWIN) {
            synchronized (this) {
                writeRegister(select, (int) value);
            }
        } else if (offset == EOI) {
            endOfInterrupt((int) value & 0xFF);
        }
    }

    private int register(int index) {
        return switch (index) {
            case IOAPICID, IOAPICARB -> id << 24;
            case IOAPICVER -> VERSION;
            default -> {
                int pin = (index - IOREDTBL) >> 1;
                if (index < IOREDTBL || pin >= PINS) {
                    yield 0;
                }
                yield (index & 1) == 0 ? (int) entries[pin] : (int) (entries[pin] >>> 32);
            }
        };
    }

    private void writeRegister(int index, int value) {
        if (index == IOAPICID) {
            id = value >>> 24 & 0xF;
            return;
        }
        int pin = (index - IOREDTBL) >> 1;
        if (index < IOREDTBL || pin >= PINS) {
            return; // read-only or not there
        }
        long old = entries[pin];
        long written = (index & 1) == 0 ? (old & ~0xFFFF_FFFFL) | (value & 0xFFFF_FFFFL)
                : (old & 0xFFFF_FFFFL) | (long) value << 32;
        long e = (written & RedirectionEntry.WRITABLE) | (old & RedirectionEntry.REMOTE_IRR);
        if (!RedirectionEntry.levelTriggered(e)) {
            e &= ~RedirectionEntry.REMOTE_IRR; // an edge-triggered entry waits for no EOI
        }
        entries[pin] = e;
        if (RedirectionEntry.levelTriggered(e)) {
            service(pin); // unmasked while asserted: it is delivered now
        }
    }

    // ---- the pins ----

    @Override
    public void assertLine(int gsi) {
        if (gsi < 0 || gsi >= PINS) {
            return;
        }
        synchronized (this) {
            int bit = 1 << gsi;
            boolean rising = (asserted & bit) == 0;
            sources[gsi]++;
            asserted |= bit;
            if (RedirectionEntry.levelTriggered(entries[gsi])) {
                service(gsi);
            } else if (rising && !RedirectionEntry.masked(entries[gsi])) {
                send(gsi);
            }
        }
    }

    @Override
    public synchronized void deassertLine(int gsi) {
        if (gsi >= 0 && gsi < PINS && sources[gsi] > 0 && --sources[gsi] == 0) {
            asserted &= ~(1 << gsi);
        }
    }

    /** True while pin {@code gsi} is asserted. */
    public synchronized boolean asserted(int gsi) {
        return gsi >= 0 && gsi < PINS && (asserted & 1 << gsi) != 0;
    }

    /** Pin {@code gsi}'s redirection entry, remote IRR included. */
    public synchronized long entry(int gsi) {
        return entries[gsi];
    }

    /** Messages sent to the local APICs, and those the APICs could not take. */
    public synchronized long delivered() {
        return delivered;
    }

    public synchronized long undeliverable() {
        return undeliverable;
    }

    /** A level-triggered pin: delivered if asserted, unmasked and not waiting for an EOI. Caller holds the lock. */
    private void service(int pin) {
        long e = entries[pin];
        if ((asserted & 1 << pin) == 0 || RedirectionEntry.masked(e) || RedirectionEntry.remoteIrr(e)) {
            return;
        }
        if (send(pin)) {
            entries[pin] |= RedirectionEntry.REMOTE_IRR;
        }
    }

    private boolean send(int pin) {
        long e = entries[pin];
        DeliveryStatus s = sink.deliverMsi(RedirectionEntry.messageAddress(e), RedirectionEntry.messageData(e));
        if (s == DeliveryStatus.DELIVERED) {
            delivered++;
            return true;
        }
        undeliverable++;
        return false;
    }

    /**
     * The guest ended {@code vector} (a level-triggered EOI at a local APIC, or a write to the EOI
     * register): every level-triggered entry with that vector and its remote IRR set is released, its
     * pin's resamplers run (outside the lock: they deassert lines, and the route that calls
     * {@link #assertLine} holds its own lock first), and a pin still asserted after them is delivered again.
     */
    public void endOfInterrupt(int vector) {
        int ended = 0;
        synchronized (this) {
            for (int pin = 0; pin < PINS; pin++) {
                long e = entries[pin];
                if (RedirectionEntry.vector(e) == vector && RedirectionEntry.levelTriggered(e)
                        && RedirectionEntry.remoteIrr(e)) {
                    entries[pin] = e & ~RedirectionEntry.REMOTE_IRR;
                    ended |= 1 << pin;
                }
            }
        }
        if (ended == 0) {
            return;
        }
        for (int pins = ended; pins != 0; pins &= pins - 1) {
            for (Runnable r : resamplers.get(Integer.numberOfTrailingZeros(pins))) {
                r.run();
            }
        }
        synchronized (this) {
            for (int pins = ended; pins != 0; pins &= pins - 1) {
                service(Integer.numberOfTrailingZeros(pins));
            }
        }
    }

    @Override
    public synchronized void addResampler(int gsi, Runnable resampler) {
        checkPin(gsi);
        Runnable[] old = resamplers.get(gsi);
        Runnable[] now = Arrays.copyOf(old, old.length + 1);
        now[old.length] = resampler;
        resamplers.set(gsi, now);
    }

    @Override
    public synchronized void removeResampler(int gsi, Runnable resampler) {
        checkPin(gsi);
        resamplers.set(gsi, Arrays.stream(resamplers.get(gsi)).filter(r -> r != resampler).toArray(Runnable[]::new));
    }

    private static void checkPin(int gsi) {
        if (gsi < 0 || gsi >= PINS) {
            throw new IllegalArgumentException("the IOAPIC has pins 0 to " + (PINS - 1) + ", not " + gsi);
        }
    }

    /** Back to power-on: every entry masked, no pin asserted, IOREGSEL 0. */
    public synchronized void reset() {
        Arrays.fill(entries, RedirectionEntry.RESET);
        asserted = 0;
        Arrays.fill(sources, 0);
        select = 0;
        id = 0;
    }

    // ---- migration ----

    @Override
    public String stateId() {
        return "IOAPIC " + PINS + " pins";
    }

    @Override
    public synchronized byte[] snapshot() {
        SavedState.Writer out = SavedState.writer(STATE_KIND, STATE_VERSION).u8(PINS).u8(select).u8(id).u32(asserted);
        for (int pin = 0; pin < PINS; pin++) {
            out.u64(entries[pin]).u32(sources[pin]);
        }
        return out.u64(delivered).u64(undeliverable).toByteArray();
    }

    /**
     * Loads the registers and pins. Nothing is delivered by it: what was pending at a local APIC
     * travels in the APICs' state, and an asserted level pin with its remote IRR set waits for its EOI.
     * A level pin asserted, unmasked and without remote IRR was undeliverable on the source (the
     * APICs refused its message) and stays so until its entry is written or its line rises again.
     */
    @Override
    public void restore(byte[] state) {
        SavedState.Reader in = SavedState.read(state, STATE_KIND, STATE_VERSION);
        int pins = in.u8();
        if (pins != PINS) {
            throw new MigrationException("the IOAPIC state has " + pins + " pins, and this IOAPIC has " + PINS
                    + ": migrate between jvfio builds with the same IOAPIC");
        }
        int newSelect = in.u8();
        int newId = in.u8();
        int newAsserted = in.u32();
        long[] newEntries = new long[PINS];
        int[] newSources = new int[PINS];
        for (int pin = 0; pin < PINS; pin++) {
            newEntries[pin] = in.u64();
            newSources[pin] = in.u32();
            if (newSources[pin] < 0 || (newSources[pin] > 0) != ((newAsserted & 1 << pin) != 0)) {
                throw new MigrationException("the IOAPIC state's pin " + pin + " has " + newSources[pin] + " sources and "
                        + "is " + ((newAsserted & 1 << pin) != 0 ? "" : "not ") + "asserted: the state is corrupt; take "
                        + "the snapshot again");
            }
        }
        long newDelivered = in.u64();
        long newUndeliverable = in.u64();
        in.end();
        synchronized (this) {
            select = newSelect;
            id = newId & 0xF;
            asserted = newAsserted & (1 << PINS) - 1;
            System.arraycopy(newEntries, 0, entries, 0, PINS);
            System.arraycopy(newSources, 0, sources, 0, PINS);
            // The machine's counts go on from the source's, as the guest's own would.
            delivered = newDelivered;
            undeliverable = newUndeliverable;
        }
    }

    @Override
    public String toString() {
        return "IOAPIC at 0x" + Long.toHexString(BASE);
    }
}
