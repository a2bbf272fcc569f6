package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_irqchip} (KVM_GET/SET_IRQCHIP): the state of one of the in-kernel interrupt
 * controllers KVM_CREATE_IRQCHIP made, by {@code chip_id}: {@code KVM_IRQCHIP_PIC_MASTER},
 * {@code KVM_IRQCHIP_PIC_SLAVE} ({@code struct kvm_pic_state}) or {@code KVM_IRQCHIP_IOAPIC}
 * ({@code struct kvm_ioapic_state}: its ID, IOREGSEL, IRR and the 24 redirection entries), in a
 * 512-byte union.
 */
public final class KvmIrqchip extends NativeStruct {

    public static final int CHIP_ID = 0;
    public static final int PAD = 4;
    public static final int CHIP = 8;
    public static final int SIZEOF = 520;
    /** {@code sizeof(struct kvm_pic_state)}. */
    public static final int PIC_STATE_SIZEOF = 16;
    /** {@code sizeof(struct kvm_ioapic_state)}: 24 bytes of registers, then 24 redirection entries of 8. */
    public static final int IOAPIC_STATE_SIZEOF = 216;
    /** Where the IOAPIC's redirection table starts in {@code chip.ioapic}. */
    public static final int IOAPIC_REDIRTBL = 24;
    public static final StructLayout LAYOUT = StructLayout.of("linux/kvm.h", "kvm_irqchip", SIZEOF)
            .field("chip_id", CHIP_ID, 4)
            .field("pad", PAD, 4)
            .field("chip", CHIP, 512)
            .field("chip.dummy", CHIP, 512)
            .field("chip.pic", CHIP, PIC_STATE_SIZEOF)
            .field("chip.pic.imr", CHIP + 2, 1)
            .field("chip.pic.elcr_mask", CHIP + 15, 1)
            .field("chip.ioapic", CHIP, IOAPIC_STATE_SIZEOF)
            .field("chip.ioapic.irr", CHIP + 16, 4)
            .field("chip.ioapic.redirtbl", CHIP + IOAPIC_REDIRTBL, 192)
            .build();

    public KvmIrqchip() {
        super(SIZEOF);
    }

    /** Asks for (or sets) chip {@code chipId}'s state: the rest cleared. */
    public KvmIrqchip chip(int chipId) {
        clear();
        putU32(CHIP_ID, chipId);
        return this;
    }

    public int chipId() {
        return u32(CHIP_ID);
    }

    /** Redirection entry {@code pin} of the IOAPIC state this holds. */
    public long ioapicRedirection(int pin) {
        return u64(CHIP + IOAPIC_REDIRTBL + 8 * pin);
    }
}
