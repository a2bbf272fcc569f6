package io.jvfio.vmm.linux.kvm;

import io.jvfio.vmm.linux.jna.NativeStruct;
import io.jvfio.vmm.linux.jna.StructLayout;

/** {@code struct kvm_regs}: the x86-64 general-purpose registers, rip and rflags (KVM_GET/SET_REGS). */
public final class KvmRegs extends NativeStruct {

    /** The registers in the order of the struct, each 8 bytes. */
    public enum Register {
        RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP, R8, R9, R10, R11, R12, R13, R14, R15, RIP, RFLAGS;

        /** Offset in {@code struct kvm_regs}. */
        public int offset() {
            return ordinal() * 8;
        }
    }

    public static final int SIZEOF = 144;
    public static final StructLayout LAYOUT;

    static {
        StructLayout.Builder b = StructLayout.of("asm/kvm.h", "kvm_regs", SIZEOF);
        for (Register r : Register.values()) {
            b.field(r.name().toLowerCase(java.util.Locale.ROOT), r.offset(), 8);
        }
        LAYOUT = b.build();
    }

    public KvmRegs() {
        super(SIZEOF);
    }

    public long get(Register r) {
        return u64(r.offset());
    }

    public KvmRegs set(Register r, long value) {
        putU64(r.offset(), value);
        return this;
    }

    public long rip() {
        return get(Register.RIP);
    }

    public long rflags() {
        return get(Register.RFLAGS);
    }
}
