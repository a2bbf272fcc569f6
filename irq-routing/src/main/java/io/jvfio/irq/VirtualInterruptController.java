package io.jvfio.irq;

import io.jvfio.vmm.migration.Migratable;
import io.jvfio.vmm.migration.MigrationException;
import io.jvfio.vmm.migration.SavedState;

import java.util.Arrays;

/**
 * The x86 interrupt controller as devices see it: MSI messages decoded and delivered to the local
 * APICs of the vCPUs (physical or logical destination, broadcast, fixed, lowest-priority or NMI).
 * A message that cannot be delivered is reported, never thrown: the device did nothing wrong, the
 * guest programmed it badly.
 *
 * <p>Used when the guest runs without KVM's in-kernel APIC (and by tests); with KVM, the
 * {@link InterruptSink} is KVM itself.
 *
 * <p>It migrates ({@link Migratable}): every APIC's registers (ID, logical ID, TPR, SVR, the pending
 * NMI, IRR, ISR and TMR) travel, so a vector pending or in service on the source is pending or in
 * service on the destination, and the destination's listeners and wake-up hooks (the vCPUs' own) stay.
 */
public final class VirtualInterruptController implements InterruptSink, Migratable {

    /** The kind and version of {@link #snapshot}'s format. */
    static final String STATE_KIND = "local APICs";
    static final int STATE_VERSION = 1;

    private final LocalApic[] apics;
    /** Copied on write by hand, as LocalApic's listeners are: an EOI allocates nothing. */
    private volatile EoiListener[] eoiListeners = new EoiListener[0];

    /** A controller with {@code cpus} local APICs, with APIC IDs 0..cpus-1. */
    public VirtualInterruptController(int cpus) {
        if (cpus < 1 || cpus > 255) {
            throw new IllegalArgumentException("an xAPIC system has 1 to 255 CPUs, not " + cpus);
        }
        apics = new LocalApic[cpus];
        for (int i = 0; i < cpus; i++) {
            apics[i] = new LocalApic(i, this);
        }
    }

    public LocalApic apic(int apicId) {
        return apics[apicId];
    }

    public int cpus() {
        return apics.length;
    }

    /** Decodes and delivers without allocating: this runs for every interrupt. */
    @Override
    public DeliveryStatus deliverMsi(long address, int data) {
        if ((address & ~0xFFFFFFFFL) != 0 || (address & MsiMessage.ADDRESS_MASK) != MsiMessage.ADDRESS_BASE) {
            return DeliveryStatus.BAD_ADDRESS;
        }
        int mode = (data >>> 8) & 7;
        int vector = data & 0xFF;
        boolean nmi = mode == DeliveryMode.NMI.code();
        if (mode == DeliveryMode.FIXED.code() || mode == DeliveryMode.LOWEST_PRIORITY.code()) {
            if (vector < 16) {
                return DeliveryStatus.RESERVED_VECTOR;
            }
        } else if (!nmi) {
            return DeliveryStatus.UNSUPPORTED_DELIVERY_MODE;
        }
        int destination = (int) (address >>> 12) & 0xFF;
        boolean logical = (address & (1 << 2)) != 0;
        boolean lowestPriority = mode == DeliveryMode.LOWEST_PRIORITY.code();
        boolean level = (data & (1 << 15)) != 0;
        boolean any = false;
        for (LocalApic apic : apics) {
            boolean match = logical ? (apic.logicalId() & destination) != 0
                    : destination == MsiMessage.BROADCAST || destination == apic.apicId();
            if (!match) {
                continue;
            }
            if (nmi) {
                apic.acceptNmi();
            } else {
                apic.accept(vector, level);
            }
            any = true;
            if (lowestPriority) {
                // Arbitration among the targets: without task priorities to compare, the first wins.
                break;
            }
        }
        return any ? DeliveryStatus.DELIVERED : DeliveryStatus.NO_DESTINATION;
    }

    // ---- migration ----

    @Override
    public String stateId() {
        return "local APICs x " + apics.length;
    }

    @Override
    public byte[] snapshot() {
        SavedState.Writer out = SavedState.writer(STATE_KIND, STATE_VERSION).u16(apics.length);
        for (LocalApic apic : apics) {
            apic.save(out);
        }
        return out.toByteArray();
    }

    /**
     * Loads every APIC's registers; refused, with nothing loaded, if the state has another number of
     * APICs than this machine has vCPUs.
     */
    @Override
    public void restore(byte[] state) {
        SavedState.Reader in = SavedState.read(state, STATE_KIND, STATE_VERSION);
        int n = in.u16();
        if (n != apics.length) {
            throw new MigrationException("the local APIC state holds " + n + " APICs, and this machine has " + apics.length
                    + ": start the destination with the source's -smp " + n);
        }
        // Read whole before any APIC changes: a state cut short loads nothing.
        LocalApic[] loaded = new LocalApic[n];
        for (int i = 0; i < n; i++) {
            loaded[i] = new LocalApic(i, this);
            loaded[i].load(in);
        }
        in.end();
        for (int i = 0; i < n; i++) {
            apics[i].copyRegisters(loaded[i]);
        }
    }

    @Override
    public synchronized void addEoiListener(EoiListener listener) {
        EoiListener[] next = Arrays.copyOf(eoiListeners, eoiListeners.length + 1);
        next[next.length - 1] = listener;
        eoiListeners = next;
    }

    void broadcastEoi(int vector) {
        EoiListener[] now = eoiListeners;
        for (int i = 0; i < now.length; i++) {
            now[i].endOfInterrupt(vector);
        }
    }
}
