package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

import static io.jvfio.vmm.linux.kvm.KvmConstants.KVM_IRQ_ROUTING_IRQCHIP;
import static io.jvfio.vmm.linux.kvm.KvmConstants.KVM_IRQ_ROUTING_MSI;

/**
 * {@code struct kvm_irq_routing} with its {@code struct kvm_irq_routing_entry} array, the argument of
 * KVM_SET_GSI_ROUTING. The call replaces the whole table, so the VMM keeps every route here.
 */
public final class KvmIrqRouting extends NativeStruct {

    public static final int NR = 0;
    public static final int FLAGS = 4;
    public static final int ENTRIES = 8;
    public static final int SIZEOF = 8;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_irq_routing", SIZEOF)
            .field("nr", NR, 4)
            .field("flags", FLAGS, 4)
            .flexibleArray("entries", ENTRIES, 48)
            .build();

    /**
     * {@code struct kvm_irq_routing_irqchip}, an entry's {@code u} for KVM_IRQ_ROUTING_IRQCHIP: the pin
     * of an in-kernel PIC or IOAPIC that the GSI raises (how INTx reaches the IOAPIC).
     */
    public static final int IRQCHIP_IRQCHIP = 0;
    public static final int IRQCHIP_PIN = 4;
    public static final int IRQCHIP_SIZEOF = 8;
    public static final StructLayout IRQCHIP_LAYOUT =
            StructLayout.of("linux/kvm.h", "kvm_irq_routing_irqchip", IRQCHIP_SIZEOF)
                    .field("irqchip", IRQCHIP_IRQCHIP, 4)
                    .field("pin", IRQCHIP_PIN, 4)
                    .build();

    public static final int ENTRY_GSI = 0;
    public static final int ENTRY_TYPE = 4;
    public static final int ENTRY_FLAGS = 8;
    public static final int ENTRY_PAD = 12;
    public static final int ENTRY_U = 16;
    public static final int ENTRY_IRQCHIP_IRQCHIP = ENTRY_U + IRQCHIP_IRQCHIP;
    public static final int ENTRY_IRQCHIP_PIN = ENTRY_U + IRQCHIP_PIN;
    public static final int ENTRY_MSI_ADDRESS_LO = 16;
    public static final int ENTRY_MSI_ADDRESS_HI = 20;
    public static final int ENTRY_MSI_DATA = 24;
    public static final int ENTRY_MSI_DEVID = 28;
    public static final int ENTRY_SIZEOF = 48;
    public static final StructLayout ENTRY_LAYOUT =
            StructLayout.of("linux/kvm.h", "kvm_irq_routing_entry", ENTRY_SIZEOF)
                    .field("gsi", ENTRY_GSI, 4)
                    .field("type", ENTRY_TYPE, 4)
                    .field("flags", ENTRY_FLAGS, 4)
                    .field("pad", ENTRY_PAD, 4)
                    .field("u", ENTRY_U, 32)
                    .field("u.irqchip.irqchip", ENTRY_IRQCHIP_IRQCHIP, 4)
                    .field("u.irqchip.pin", ENTRY_IRQCHIP_PIN, 4)
                    .field("u.msi.address_lo", ENTRY_MSI_ADDRESS_LO, 4)
                    .field("u.msi.address_hi", ENTRY_MSI_ADDRESS_HI, 4)
                    .field("u.msi.data", ENTRY_MSI_DATA, 4)
                    .field("u.msi.devid", ENTRY_MSI_DEVID, 4)
                    .build();

    private final int maxEntries;

    public KvmIrqRouting(int maxEntries) {
        super(SIZEOF + ENTRY_SIZEOF * Math.max(maxEntries, 0));
        this.maxEntries = maxEntries;
    }

    public int maxEntries() {
        return maxEntries;
    }

    public int nr() {
        return u32(NR);
    }

    /** Empties the table. */
    public KvmIrqRouting reset() {
        clear();
        return this;
    }

    /** Appends an MSI route: raising {@code gsi} sends the message (address, data). */
    public KvmIrqRouting addMsi(int gsi, long address, int data) {
        int at = append(gsi, KVM_IRQ_ROUTING_MSI);
        putU32(at + ENTRY_MSI_ADDRESS_LO, (int) address);
        putU32(at + ENTRY_MSI_ADDRESS_HI, (int) (address >>> 32));
        putU32(at + ENTRY_MSI_DATA, data);
        return this;
    }

    /** Appends a route from {@code gsi} to a pin of an in-kernel irqchip (PIC or IOAPIC). */
    public KvmIrqRouting addIrqchip(int gsi, int irqchip, int pin) {
        int at = append(gsi, KVM_IRQ_ROUTING_IRQCHIP);
        putU32(at + ENTRY_IRQCHIP_IRQCHIP, irqchip);
        putU32(at + ENTRY_IRQCHIP_PIN, pin);
        return this;
    }

    private int append(int gsi, int type) {
        int n = nr();
        if (n >= maxEntries) {
            throw new IllegalStateException("the GSI routing table is full (" + maxEntries + " entries)");
        }
        int at = ENTRIES + n * ENTRY_SIZEOF;
        for (int i = 0; i < ENTRY_SIZEOF; i += 4) {
            putU32(at + i, 0);
        }
        putU32(at + ENTRY_GSI, gsi);
        putU32(at + ENTRY_TYPE, type);
        putU32(NR, n + 1);
        return at;
    }

    public int entryGsi(int i) {
        return u32(ENTRIES + i * ENTRY_SIZEOF + ENTRY_GSI);
    }

    /** Entry {@code i}'s irqchip and pin (a KVM_IRQ_ROUTING_IRQCHIP entry). */
    public int[] entryIrqchip(int i) {
        int at = ENTRIES + i * ENTRY_SIZEOF;
        return new int[] {u32(at + ENTRY_IRQCHIP_IRQCHIP), u32(at + ENTRY_IRQCHIP_PIN)};
    }

    public int entryType(int i) {
        return u32(ENTRIES + i * ENTRY_SIZEOF + ENTRY_TYPE);
    }
}
