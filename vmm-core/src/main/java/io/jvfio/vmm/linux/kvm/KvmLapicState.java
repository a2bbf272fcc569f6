package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/**
 * {@code struct kvm_lapic_state}: the in-kernel local APIC's register page (KVM_GET/SET_LAPIC), laid
 * out as the xAPIC MMIO page: 32-bit registers at 16-byte strides.
 */
public final class KvmLapicState extends NativeStruct {

    public static final int REGS = 0;
    public static final int SIZEOF = 1024;
    public static final StructLayout LAYOUT = StructLayout.of("asm/kvm.h", "kvm_lapic_state", SIZEOF)
            .field("regs", REGS, 1024)
            .build();

    /** Spurious-interrupt vector register; bit 8 enables the APIC. */
    public static final int APIC_SPIV = 0xf0;
    /** Local vector table, LINT0 and LINT1. */
    public static final int APIC_LVT_LINT0 = 0x350;
    public static final int APIC_LVT_LINT1 = 0x360;

    public KvmLapicState() {
        super(SIZEOF);
    }

    public int register(int offset) {
        return u32(REGS + offset);
    }

    public KvmLapicState register(int offset, int value) {
        putU32(REGS + offset, value);
        return this;
    }
}
