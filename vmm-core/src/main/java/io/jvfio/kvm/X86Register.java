package io.jvfio.kvm;

import io.jvfio.vmm.linux.kvm.KvmRegs;

/**
 * The x86-64 general-purpose registers of a vCPU, with rip and rflags: what {@code KVM_GET_REGS} and
 * {@code KVM_SET_REGS} carry ({@code struct kvm_regs}), read and written through
 * {@link KvmVcpu#register} and {@link KvmVcpu#setRegister}.
 */
public enum X86Register {
    RAX(KvmRegs.Register.RAX),
    RBX(KvmRegs.Register.RBX),
    RCX(KvmRegs.Register.RCX),
    RDX(KvmRegs.Register.RDX),
    RSI(KvmRegs.Register.RSI),
    RDI(KvmRegs.Register.RDI),
    RSP(KvmRegs.Register.RSP),
    RBP(KvmRegs.Register.RBP),
    R8(KvmRegs.Register.R8),
    R9(KvmRegs.Register.R9),
    R10(KvmRegs.Register.R10),
    R11(KvmRegs.Register.R11),
    R12(KvmRegs.Register.R12),
    R13(KvmRegs.Register.R13),
    R14(KvmRegs.Register.R14),
    R15(KvmRegs.Register.R15),
    RIP(KvmRegs.Register.RIP),
    RFLAGS(KvmRegs.Register.RFLAGS);

    /** Its field in the ABI mirror, which is not jvfio's API. */
    final KvmRegs.Register field;

    X86Register(KvmRegs.Register field) {
        this.field = field;
    }
}
