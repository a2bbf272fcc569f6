package io.jvfio.irq;

import java.util.Arrays;

/**
 * The x86 interrupt controller as devices see it: MSI messages decoded and delivered to the local
 * APICs of the vCPUs (physical or logical destination, broadcast, fixed, lowest-priority or NMI).
 * A message that cannot be delivered is reported, never thrown: the device did nothing wrong, the
 * guest programmed it badly.
 *
 * <p>Used when the guest runs without KVM's in-kernel APIC (and by tests); with KVM, the
 * {@link InterruptSink} is KVM itself.
 */
public final class VirtualInterruptController implements InterruptSink {

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
